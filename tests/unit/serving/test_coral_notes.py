"""What the Coral route tells a moderator about a comment scored without its article."""

from __future__ import annotations

from serving.coral import no_article_note
from serving.model import Decision
from serving.schemas import ModelRef, ScoreOut


def _result(judged: list[str]) -> ScoreOut:
    return ScoreOut(id="c", scores={"hate": 0.0, "insult": 0.0, "off_topic": 0.9}, decision=Decision.review, model=ModelRef(name="m", version="1"),
                    judged=judged)


def test_the_note_says_whether_off_topic_was_left_out_or_judged_as_a_pitch() -> None:
    assert no_article_note("https://news.example/1", _result(["hate", "insult"])) == \
        "no article held for story https://news.example/1; off_topic left out of the decision"
    assert no_article_note("s-1", _result(["hate", "insult", "off_topic"])) == "no article held for story s-1; off_topic judged as a pitch only (spam head)"
