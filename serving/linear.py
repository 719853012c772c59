"""The TF-IDF + logistic-regression model as served: vectorizers, relevance features, weights from npz/JSON.

Training builds a LinearModel with fitted vectorizers and coefficients and saves it with to_files();
serving rebuilds it with from_dir(). Both call the same features(), so what is evaluated is what is served.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from labels.schema import LABELS, Label
from threadguard.errors import ArtifactError

WEIGHTS_FILE = "linear.npz"
VOCAB_FILE = "vocab.json"
N_RELEVANCE = 12


class HasContext(Protocol):
    """Anything with a comment body and its optional thread context."""

    body: str
    article_title: str | None
    article_text: str | None
    parent_body: str | None


def make_vectorizer(params: dict[str, Any], vocabulary: list[str] | None = None) -> TfidfVectorizer:
    """A TfidfVectorizer from saved params; with a vocabulary it is ready once idf_ is set."""
    kwargs = dict(params)
    kwargs["ngram_range"] = tuple(kwargs["ngram_range"])
    if vocabulary is not None:
        kwargs.pop("max_features", None)
        kwargs.pop("min_df", None)
        kwargs["vocabulary"] = vocabulary
    return TfidfVectorizer(dtype=np.float32, **kwargs)


def _rowwise_cosine(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    # TF-IDF rows are L2-normalised, so the row-wise dot product is the cosine.
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


@dataclass
class LinearModel:
    """Word and char TF-IDF of the comment; off_topic adds relevance to article title, text and parent."""

    word: TfidfVectorizer
    char: TfidfVectorizer
    coef: np.ndarray  # (n_labels, n_features_max) zero-padded; hate/insult ignore the relevance block
    intercept: np.ndarray  # (n_labels,)
    params: dict[str, Any]

    def relevance_features(self, items: Sequence[HasContext], bodies_word: sp.csr_matrix, bodies_char: sp.csr_matrix) -> np.ndarray:
        """How much the comment shares with its article title, article text and parent comment."""
        limit = int(self.params.get("article_chars", 5000))
        contexts = {
            "title": [item.article_title or "" for item in items],
            "text": [(item.article_text or "")[:limit] for item in items],
            "parent": [(item.parent_body or "")[:limit] for item in items],
        }
        word_cos, char_cos, present = [], [], []
        for texts in contexts.values():
            word_cos.append(_rowwise_cosine(bodies_word, self.word.transform(texts)))
            char_cos.append(_rowwise_cosine(bodies_char, self.char.transform(texts)))
            present.append(np.array([bool(t.strip()) for t in texts], dtype=np.float32))
        any_context = np.maximum.reduce(present)
        columns = [*word_cos, *char_cos, np.max(word_cos, axis=0), np.max(char_cos, axis=0), *present, any_context]
        return np.column_stack(columns).astype(np.float32) * float(self.params.get("relevance_scale", 1.0))

    def design(self, items: Sequence[HasContext]) -> dict[Label, sp.csr_matrix]:
        """The feature matrix each label's classifier sees."""
        bodies = [item.body for item in items]
        bw, bc = self.word.transform(bodies), self.char.transform(bodies)
        text = sp.hstack([bw, bc], format="csr")
        with_context = sp.hstack([text, sp.csr_matrix(self.relevance_features(items, bw, bc))], format="csr")
        return {Label.hate: text, Label.insult: text, Label.off_topic: with_context}

    def predict_proba(self, items: Sequence[HasContext]) -> np.ndarray:
        """(n, 3) probabilities in LABELS order."""
        if not items:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        design = self.design(items)
        out = np.empty((len(items), len(LABELS)), dtype=np.float64)
        for j, label in enumerate(LABELS):
            x = design[label]
            logits = x @ self.coef[j, : x.shape[1]] + self.intercept[j]
            out[:, j] = 1.0 / (1.0 + np.exp(-logits))
        return out.astype(np.float32)

    def to_files(self) -> dict[str, bytes]:
        """The model's own files for the model dir: weights as npz, vocabularies as JSON (no pickle)."""
        buf = io.BytesIO()
        np.savez_compressed(
            buf, word_idf=self.word.idf_.astype(np.float32), char_idf=self.char.idf_.astype(np.float32),
            coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32),
        )
        vocab = {"word": self.word.get_feature_names_out().tolist(), "char": self.char.get_feature_names_out().tolist()}
        return {WEIGHTS_FILE: buf.getvalue(), VOCAB_FILE: json.dumps(vocab, ensure_ascii=False).encode("utf-8")}

    @classmethod
    def from_dir(cls, path: Path, params: dict[str, Any]) -> LinearModel:
        """Rebuild from a model dir's npz + vocab JSON; shapes are checked before use."""
        try:
            with np.load(path / WEIGHTS_FILE, allow_pickle=False) as arrays:
                weights = {k: arrays[k] for k in ("word_idf", "char_idf", "coef", "intercept")}
            vocab = json.loads((path / VOCAB_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(f"{path}: cannot read linear model weights ({exc})") from exc
        word = make_vectorizer(params["word"], vocab["word"])
        char = make_vectorizer(params["char"], vocab["char"])
        if len(vocab["word"]) != len(weights["word_idf"]) or len(vocab["char"]) != len(weights["char_idf"]):
            raise ArtifactError(f"{path}: vocabulary and idf sizes differ")
        word.idf_, char.idf_ = weights["word_idf"], weights["char_idf"]
        expected = (len(LABELS), len(vocab["word"]) + len(vocab["char"]) + N_RELEVANCE)
        if weights["coef"].shape != expected or weights["intercept"].shape != (len(LABELS),):
            raise ArtifactError(f"{path}: coefficient shape {weights['coef'].shape}, expected {expected}")
        return cls(word=word, char=char, coef=weights["coef"], intercept=weights["intercept"], params=params)
