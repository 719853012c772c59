"""How a comment and its context become encoder inputs: the comment, its article (title + lead), its parent.

The encoder embeds each part on its own (a bi-encoder): hate and insult are read from the comment's
embedding, off_topic from how the comment's embedding relates to the article's and the parent's. A
cross-encoder over (comment, "title | parent | lead") pairs was tried first and learnt to ignore the
context (wrong-article pairs scored at chance: docs/benchmarks.md), while the frozen encoder's cosine
already separated them; embedding the parts apart also lets the service embed an article once per batch.
Training and serving both call context_parts(), so the model always sees context in the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.linear import HasContext


@dataclass(frozen=True)
class ContextBudget:
    """Characters of each context part kept (the tokenizer truncates again to max_length tokens)."""

    title_chars: int = 200
    parent_chars: int = 400
    lead_chars: int = 300


@dataclass(frozen=True)
class ContextParts:
    """The texts one comment is embedded from; "" marks a part the comment does not have."""

    comment: str
    article: str
    parent: str


def _clip(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text[:limit]


def context_parts(item: HasContext, budget: ContextBudget = ContextBudget()) -> ContextParts:
    """The comment, "title. lead" of its article, and its parent comment, whitespace-normalised and clipped."""
    title = _clip(item.article_title, budget.title_chars)
    lead = _clip(item.article_text, budget.lead_chars)
    article = ". ".join(part for part in (title, lead) if part)
    return ContextParts(" ".join(item.body.split()), article, _clip(item.parent_body, budget.parent_chars))
