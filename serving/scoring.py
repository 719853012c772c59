"""Turn validated comments into result rows (shared by the HTTP route and the score command)."""

from __future__ import annotations

from collections.abc import Sequence

from labels.threads import comment_id
from serving.linear import HasContext
from serving.model import Scorer
from serving.schemas import ModelRef, ScoreOut


def score_rows(scorer: Scorer, items: Sequence[HasContext], ids: Sequence[str | None]) -> list[ScoreOut]:
    """Score items in input order; an item without an id gets a stable hash of its body and context."""
    ref = ModelRef(name=scorer.name, version=scorer.version)
    results = []
    for item, given, scored in zip(items, ids, scorer.score(items), strict=True):
        ident = given or comment_id(item.article_title or "", None, None, item.body)
        results.append(
            ScoreOut(id=ident, scores={k.value: round(v, 6) for k, v in scored.scores.items()}, decision=scored.decision, model=ref)
        )
    return results
