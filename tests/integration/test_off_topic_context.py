"""off_topic is judged against the comment's context, not the comment alone."""

from __future__ import annotations

import pytest

from labels.schema import Comment
from labels.threads import parse_file
from serving.model import open_scorer
from tests.conftest import SEEDS
from tests.fixtures.tiny_sets import ARTICLES
from threadguard.settings import PROJECT_ROOT


def _with_context(comment: Comment, title: str | None, text: str | None, parent: str | None) -> Comment:
    return comment.model_copy(update={"article_title": title, "article_text": text, "parent_body": parent})


def test_same_comment_scores_more_off_topic_under_another_threads_context(tiny_scorer) -> None:
    own_title, own_text = ARTICLES["football"]
    other_title, other_text = ARTICLES["trade"]
    comment = Comment(id="c", thread_id="t", body="two goals in extra time won the final")
    own = _with_context(comment, own_title, own_text, "the home crowd was amazing at the final")
    other = _with_context(comment, other_title, other_text, "tariffs will hurt farmers more than anyone")
    own_score, other_score = (tiny_scorer.predict_proba([c])[0, 2] for c in (own, other))
    assert other_score > own_score + 0.1


@pytest.mark.skipif(not (PROJECT_ROOT / "models" / "current").exists() or not SEEDS.is_dir(), reason="needs the default model and seeds")
def test_default_model_moves_seed_comments_off_topic_under_a_foreign_article() -> None:
    """Seed comments under their own trade article vs under an unrelated thread: most must score higher."""
    scorer = open_scorer(PROJECT_ROOT / "models" / "current", device="cpu")
    comments = parse_file(sorted(SEEDS.glob("*.txt"))[0])
    foreign = [_with_context(c, "Local football club wins the championship final", ARTICLES["football"][1], "what a final, two goals in extra time") for c in comments]
    own = scorer.predict_proba(comments)[:, 2]
    moved = scorer.predict_proba(foreign)[:, 2]
    assert (moved > own).mean() >= 0.8
