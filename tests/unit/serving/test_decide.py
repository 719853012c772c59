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


def test_off_topic_decides_only_when_the_article_comes_with_the_comment(tiny_scorer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without its article a comment's off_topic score means nothing, so it must not send the comment to review."""
    from labels.schema import LabelledComment
    from serving.model import Scorer
    from serving.scoring import score_rows
    from serving.site_thresholds import Thresholds, apply_thresholds

    only_off_topic = {"hate": LabelThresholds(review=1.0, reject=1.0), "insult": LabelThresholds(review=1.0, reject=1.0),
                      "off_topic": LabelThresholds(review=0.0, reject=1.0)}  # off_topic alone would send anything to review
    monkeypatch.setattr(Scorer, "thresholds", property(lambda self: only_off_topic))

    def comment(**context: str) -> LabelledComment:
        return LabelledComment(id="c", source="t", split="test", thread_id="t", body="good point, thanks for sharing", **context)

    bare, replied, with_article = comment(), comment(parent_body="Tariffs will hurt farmers"), comment(article_text="US-China trade talks.")
    results = score_rows(tiny_scorer, [bare, replied, with_article], ["a", "b", "c"])
    assert [r.decision for r in results] == [Decision.allow, Decision.allow, Decision.review]
    assert [r.judged for r in results] == [["hate", "insult"], ["hate", "insult"], ["hate", "insult", "off_topic"]]
    assert all(set(r.scores) == {"hate", "insult", "off_topic"} for r in results)  # the score is still returned
    # a site's thresholds re-decide over the same labels
    site = Thresholds(values=only_off_topic, site="forum", overridden=("off_topic",))
    assert [apply_thresholds(r, site).decision for r in results] == [Decision.allow, Decision.allow, Decision.review]
    assert apply_thresholds(results[0].model_copy(update={"judged": None}), site).decision == Decision.review  # absent: every label
