"""bench.parent_swap: on-topic replies scored under their own, no and another thread's parent."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.parent_swap import measure, swapped_replies
from labels.schema import LabelledComment


def _rows() -> list[LabelledComment]:
    rows = []
    for t in range(3):
        for c in range(4):
            rows.append(LabelledComment(id=f"{t}-{c}", source="s", split="test", thread_id=f"t{t}", body=f"thread {t} comment {c}",
                                        article_title=f"article {t}", parent_body=f"thread {t} comment 0" if c else None,
                                        hate=0, insult=0, off_topic=int(c == 3)))
    return rows


def test_only_on_topic_replies_are_swapped_and_foreign_parents_come_from_other_threads() -> None:
    own, none, foreign = swapped_replies(_rows())
    assert [r.id for r in own] == [f"{t}-{c}" for t in range(3) for c in (1, 2)]  # c 0 has no parent, c 3 is off topic
    assert all(r.parent_body is None for r in none)
    for reply, moved in zip(own, foreign, strict=True):
        assert (moved.id, moved.body, moved.article_title) == (reply.id, reply.body, reply.article_title)
        assert moved.parent_body and not moved.parent_body.startswith(f"thread {reply.thread_id[1:]} ")


def _reads_parent(rows: Sequence[LabelledComment]) -> np.ndarray:
    """off_topic 0.9 when the parent is from another thread than the comment, 0.1 otherwise."""
    out = np.zeros((len(rows), 3))
    for i, r in enumerate(rows):
        out[i, 2] = 0.1 if r.parent_body is None or r.parent_body.split()[1] == r.thread_id[1:] else 0.9
    return out


def test_a_scorer_that_reads_the_parent_separates_and_one_that_ignores_it_does_not() -> None:
    reading = measure(_reads_parent, _rows())
    assert reading is not None and reading.replies == 6 and reading.rose == 1.0 and reading.auc == 1.0
    assert np.allclose((reading.own, reading.none, reading.foreign), (0.1, 0.1, 0.9))
    blind = measure(lambda rows: np.full((len(rows), 3), 0.2), _rows())
    assert blind is not None and blind.rose == 0.0 and blind.auc == 0.5
    assert measure(_reads_parent, [r for r in _rows() if r.thread_id == "t0"]) is None  # no other thread to borrow from


def test_the_paired_difference_in_the_share_that_rose() -> None:
    reading, blind = measure(_reads_parent, _rows()), measure(lambda rows: np.full((len(rows), 3), 0.2), _rows())
    assert reading is not None and blind is not None
    assert reading.rose_difference(blind) == (1.0, 1.0, 1.0) and reading.rose_difference(reading) == (0.0, 0.0, 0.0)
