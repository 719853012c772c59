"""Turn validated comments into result rows (shared by the HTTP route, the score command and the Ray engine)."""

from __future__ import annotations

from collections.abc import Sequence

from labels.threads import comment_id
from serving.language import LanguageIdentifier
from serving.linear import HasContext
from serving.model import Scorer
from serving.schemas import LanguageOut, ModelRef, ScoreOut


def score_rows(scorer: Scorer, items: Sequence[HasContext], ids: Sequence[str | None], *,
               language: LanguageIdentifier | None = None) -> list[ScoreOut]:
    """Score items in input order; an item without an id gets a stable hash of its body and context.

    With a language identifier, each result names the comment's language and is marked unreliable when it is
    confidently not English.
    """
    ref = ModelRef(name=scorer.name, version=scorer.version)
    results = []
    for item, given, scored in zip(items, ids, scorer.score(items), strict=True):
        ident = given or comment_id(item.article_title or "", None, None, item.body)
        guess = language.guess(item.body) if language is not None else None
        results.append(
            ScoreOut(id=ident, scores={k.value: round(v, 6) for k, v in scored.scores.items()}, decision=scored.decision, model=ref,
                     language=LanguageOut(code=guess.code, confidence=guess.confidence) if guess else None,
                     reliable=guess.english if guess else True, judged=[label.value for label in scored.judged])
        )
    return results
