"""Which words drove each label's score: occlusion through the served model, whatever its kind.

Each word is deleted in turn and the comment rescored; a word's weight for a label is how much its
deletion lowers that label's logit (log-odds, so a word still counts when the score is saturated near 1). It costs one batch of len(words) comments, which is fine for the one
comment a moderator is looking at, and it explains the model that actually served, linear or transformer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from labels.schema import LABELS
from serving.model import Scorer
from serving.schemas import CommentIn

WORD = re.compile(r"\S+")
MAX_WORDS = 120


@dataclass(frozen=True)
class Piece:
    """A run of the comment's text: a word with its per-label weights, or the whitespace between words."""

    text: str
    weights: dict[str, float]

    def top(self) -> tuple[str, float] | None:
        """The label this word pushed up most, if any."""
        if not self.weights:
            return None
        label, weight = max(self.weights.items(), key=lambda kv: kv[1])
        return (label, weight) if weight > 0 else None


def word_weights(scorer: Scorer, comment: CommentIn) -> list[Piece]:
    """The comment split into pieces, words carrying the score drop their deletion causes per label."""
    spans = [m.span() for m in WORD.finditer(comment.body)][:MAX_WORDS]
    if not spans:
        return [Piece(comment.body, {})]
    variants = [comment] + [comment.model_copy(update={"body": (comment.body[:a] + comment.body[b:]).strip() or "."}) for a, b in spans]
    probs = np.clip(scorer.predict_proba(variants).astype(np.float64), 1e-6, 1 - 1e-6)
    scores = np.log(probs / (1 - probs))
    base = scores[0]
    pieces: list[Piece] = []
    cursor = 0
    for k, (a, b) in enumerate(spans):
        if a > cursor:
            pieces.append(Piece(comment.body[cursor:a], {}))
        pieces.append(Piece(comment.body[a:b], {label.value: float(base[j] - scores[k + 1][j]) for j, label in enumerate(LABELS)}))
        cursor = b
    if cursor < len(comment.body):
        pieces.append(Piece(comment.body[cursor:], {}))
    return pieces


def top_word(pieces: list[Piece], label: str) -> str | None:
    """The word whose deletion lowers `label` most (None if no word raises it)."""
    best = max((p for p in pieces if p.weights), key=lambda p: p.weights[label], default=None)
    return best.text if best is not None and best.weights[label] > 0 else None
