"""bench.inhouse_pairs: pairs found by position, and the pairs measured again by the comment's length."""

from __future__ import annotations

import numpy as np
import pytest

from bench.inhouse_pairs import by_length, measure, pair_indices
from labels.schema import LabelledComment


def _pairs(bodies: list[str]) -> list[LabelledComment]:
    """Each body under its own article (0), then its wrong-article copy (1), as with_wrong_context_pairs lays them out."""
    return [LabelledComment(id=f"{i}{y}", source="s", split="test", thread_id="t", body=body, off_topic=y)
            for i, body in enumerate(bodies) for y in (0, 1)]


def test_short_comments_are_measured_apart_from_long_ones() -> None:
    short, long = "me neither", " ".join(["tariffs"] * 60)
    rows = _pairs([short, short, long, long, " ".join(["word"] * 12)])
    assert pair_indices(rows) == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    # the long comments' copies score above them; the short ones' copies below
    scores = np.array([0.5, 0.4, 0.6, 0.3, 0.1, 0.9, 0.2, 0.8, 0.5, 0.5])
    buckets = dict(by_length(scores, rows))
    assert list(buckets) == ["0-7 words", "8-19 words", "50 words or more"]  # no comment of 20-49 words
    assert [result.pairs for result in buckets.values()] == [2, 1, 2]
    assert buckets["0-7 words"].copy_higher == 0.0 and buckets["0-7 words"].auc == 0.0
    assert buckets["50 words or more"].copy_higher == 1.0 and buckets["50 words or more"].auc == 1.0
    assert buckets["8-19 words"].copy_higher == 0.0 and buckets["8-19 words"].auc == pytest.approx(0.5)  # a tie
    whole = measure(scores, rows)
    assert whole.pairs == 5 and whole.copy_higher == pytest.approx(0.4)
