"""How a comment and its context become one encoder input: (comment, "title | parent | article lead").

Training and serving both call pair_text(), so the model always sees context in the same shape.
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


def _clip(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text[:limit]


def pair_text(item: HasContext, budget: ContextBudget = ContextBudget()) -> tuple[str, str]:
    """The comment as the first segment; title, parent and article lead as the second ("" when absent)."""
    parts = []
    if item.article_title:
        parts.append(f"title: {_clip(item.article_title, budget.title_chars)}")
    if item.parent_body:
        parts.append(f"parent: {_clip(item.parent_body, budget.parent_chars)}")
    if item.article_text:
        parts.append(f"article: {_clip(item.article_text, budget.lead_chars)}")
    return " ".join(item.body.split()), " | ".join(parts)
