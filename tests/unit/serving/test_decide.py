from __future__ import annotations

import pytest
from pydantic import ValidationError

from labels.schema import Label
from serving.model import Decision, decide
from threadguard.artifact import LabelThresholds

T = {"hate": LabelThresholds(review=0.3, reject=0.8), "insult": LabelThresholds(review=0.4, reject=0.9), "off_topic": LabelThresholds(review=0.5, reject=1.0)}


@pytest.mark.parametrize(
    ("hate", "insult", "off_topic", "expected"),
    [
        (0.1, 0.1, 0.1, Decision.allow),
        (0.3, 0.1, 0.1, Decision.review),  # reaching the threshold counts
        (0.29, 0.39, 0.49, Decision.allow),
        (0.1, 0.95, 0.1, Decision.reject),
        (0.1, 0.5, 0.99, Decision.review),  # off_topic never auto-rejects at 1.0
        (0.8, 0.1, 0.1, Decision.reject),
    ],
)
def test_decision_follows_thresholds(hate: float, insult: float, off_topic: float, expected: Decision) -> None:
    scores = {Label.hate: hate, Label.insult: insult, Label.off_topic: off_topic}
    assert decide(scores, T) == expected


def test_reject_below_review_is_refused() -> None:
    with pytest.raises(ValidationError, match="below review"):
        LabelThresholds(review=0.6, reject=0.5)
