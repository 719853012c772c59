"""Which words drove each label's score: occlusion through the served model, whatever its kind.

Each word is deleted in turn and the comment rescored; a word's weight for a label is how much its
deletion lowers that label's logit (log-odds, so a word still counts when the score is saturated near 1). It costs one batch of len(words) comments, which is fine for the one
comment a moderator is looking at, and it explains the model that actually served, linear or transformer.

A comment of more than MAX_WORDS words is first read a sentence at a time: each sentence (cut into runs of at most
MAX_WORDS words) is deleted in turn, and the words of the runs whose deletion lowers a score most are then weighed, up
to MAX_WORDS of them. So an attack after a long preamble, which the transformer reads in a later window, is
highlighted wherever it sits, and a long comment costs two batches, not one per word.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import numpy as np

from labels.schema import LABELS
from serving.model import Scorer
from serving.schemas import CommentIn
from serving.windows import sentence_starts

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


def _logits_without(scorer: Scorer, comment: CommentIn, spans: list[tuple[int, int]]) -> np.ndarray:
    """Per-label logits of the comment as written (row 0) and with each span deleted in turn (rows 1..)."""
    body = comment.body
    variants = [comment] + [comment.model_copy(update={"body": (body[:a] + body[b:]).strip() or "."}) for a, b in spans]
    probs = np.clip(scorer.predict_proba(variants).astype(np.float64), 1e-6, 1 - 1e-6)
    return np.log(probs / (1 - probs))


def _runs(body: str, words: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """The words grouped by sentence, each sentence cut into runs of at most MAX_WORDS words."""
    starts = sentence_starts(body)
    sentences: list[list[tuple[int, int]]] = []
    for span in words:
        index = bisect.bisect_right(starts, span[0])
        while len(sentences) <= index:
            sentences.append([])
        sentences[index].append(span)
    return [sentence[i : i + MAX_WORDS] for sentence in sentences for i in range(0, len(sentence), MAX_WORDS)]


def _words_to_weigh(scorer: Scorer, comment: CommentIn, words: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every word of a short comment; of a long one, the words of the runs whose deletion lowers a label most."""
    if len(words) <= MAX_WORDS:
        return words
    runs = [run for run in _runs(comment.body, words) if run]
    scores = _logits_without(scorer, comment, [(run[0][0], run[-1][1]) for run in runs])
    drop = (scores[0] - scores[1:]).max(axis=1)  # how much each run's deletion lowers its most-lowered label
    chosen: list[tuple[int, int]] = []
    for k in np.argsort(-drop, kind="stable"):
        if len(chosen) + len(runs[k]) > MAX_WORDS:
            continue
        chosen += runs[k]
    return sorted(chosen)


def word_weights(scorer: Scorer, comment: CommentIn) -> list[Piece]:
    """The comment split into pieces, words carrying the score drop their deletion causes per label (the words
    _words_to_weigh leaves out of a long comment carry none)."""
    spans = _words_to_weigh(scorer, comment, [m.span() for m in WORD.finditer(comment.body)])
    if not spans:
        return [Piece(comment.body, {})]
    scores = _logits_without(scorer, comment, spans)
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


def read_as(scorer: Scorer, comment: CommentIn) -> str | None:
    """The comment as the model read it, where its normalisation changed more than spacing ("I h4et them, you idoit"
    is read as "I hate them, you idiot"), so a moderator sees why it scored as it did; None where nothing changed."""
    seen = scorer.as_trained([comment])[0].body
    return seen if seen.split() != comment.body.split() else None


def top_word(pieces: list[Piece], label: str) -> str | None:
    """The word whose deletion lowers `label` most (None if no word raises it)."""
    best = max((p for p in pieces if p.weights), key=lambda p: p.weights[label], default=None)
    return best.text if best is not None and best.weights[label] > 0 else None
