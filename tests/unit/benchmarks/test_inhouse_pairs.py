"""bench.inhouse_pairs: wrong-article pairs, scored pooled (ROC-AUC) and paired (copy higher)."""

from __future__ import annotations

import numpy as np

from bench.inhouse_pairs import measure, pair_indices
from labels.pairs import with_wrong_context_pairs
from labels.schema import LabelledComment


def _pairs() -> list[LabelledComment]:
    rows = [LabelledComment(id=f"{t}-{c}", source="s", split="test", thread_id=f"t{t}", body=f"thread {t} comment {c}",
                            article_title=f"article {t}", off_topic=0) for t in range(3) for c in range(4)]
    return with_wrong_context_pairs(rows, seed=13)


def test_every_comment_is_paired_with_its_own_wrong_article_copy() -> None:
    rows = _pairs()
    pairs = pair_indices(rows)
    assert len(pairs) == 12
    for own, copy in pairs:
        assert (rows[own].off_topic, rows[copy].off_topic) == (0, 1)
        assert rows[own].body == rows[copy].body and rows[own].article_title != rows[copy].article_title


def test_a_comment_level_offset_hurts_the_pooled_auc_but_not_the_paired_share() -> None:
    rows = _pairs()
    # Every copy scores 0.05 above its comment, but comments differ in their base score by far more than that.
    base = {r.body: 0.1 * i for i, r in enumerate(rows) if r.off_topic == 0}
    scores = np.array([base[r.body] + (0.05 if r.off_topic else 0.0) for r in rows])
    result = measure(scores, rows)
    assert result.pairs == 12 and result.copy_higher == 1.0 and (result.low, result.high) == (1.0, 1.0)
    assert result.auc < 0.6
    flat = measure(np.full(len(rows), 0.3), rows)
    assert flat.copy_higher == 0.0 and flat.auc == 0.5
