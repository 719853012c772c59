"""The classification heads over bi-encoder embeddings, in NumPy: the same arithmetic as training's torch module.

hate and insult are a linear layer over the comment's scaled unit embedding z. off_topic is a linear layer
over [z, z*za, z*zp, S*cos(comment, article), S*cos(comment, parent), has_article, has_parent], so it can
weigh what the comment says against what it answers. A missing part has a zero embedding and has_* = 0.
Weights live in heads.safetensors (keys comment.weight/bias, context.weight/bias) beside the encoder.

An optional spam head (keys spam.weight/bias, training/spam_head.py) is a logistic regression over z alone: is this
comment a commercial pitch, whatever it answers. Its probability joins off_topic's calibrated one as a noisy OR,
1 - (1 - p_off)(1 - p_spam), because a pitch is off-topic by the labelling guide while off_topic's calibration is
fitted on in-domain drift replies, among which a pitch's score is crushed (docs/benchmarks.md, "Pitches").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labels.schema import LABELS, Label
from threadguard.errors import ArtifactError

HEADS_FILE = "heads.safetensors"
COSINE_SCALE = 4.0
COMMENT_LABELS = tuple(i for i, label in enumerate(LABELS) if label is not Label.off_topic)
CONTEXT_LABEL = next(i for i, label in enumerate(LABELS) if label is Label.off_topic)


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length sqrt(dim) (zero rows stay zero): elements of order 1 whatever the width."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norms > 0, x / np.maximum(norms, 1e-12), 0.0) * np.sqrt(x.shape[1])


def context_features(z: np.ndarray, za: np.ndarray, zp: np.ndarray, has_a: np.ndarray, has_p: np.ndarray) -> np.ndarray:
    """off_topic's inputs from scaled unit embeddings of comment, article and parent (zeros where absent)."""
    dim = z.shape[1]
    cos_a = (z * za).sum(axis=1, keepdims=True) / dim
    cos_p = (z * zp).sum(axis=1, keepdims=True) / dim
    return np.concatenate([z, z * za, z * zp, COSINE_SCALE * cos_a, COSINE_SCALE * cos_p, has_a[:, None], has_p[:, None]], axis=1)


def head_inputs(comment: np.ndarray, article: np.ndarray, parent: np.ndarray, has_a: np.ndarray, has_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the heads read, from raw mean-pooled embeddings: the comment's scaled unit embedding (hate, insult) and
    off_topic's context features. One place, so a head refit (training/head_refit.py) fits on serving's arithmetic."""
    z = unit(comment)
    return z, context_features(z, unit(article), unit(parent), has_a.astype(np.float32), has_p.astype(np.float32))


@dataclass
class Heads:
    """Weights of both heads as float32 arrays."""

    comment_weight: np.ndarray  # (len(COMMENT_LABELS), dim)
    comment_bias: np.ndarray
    context_weight: np.ndarray  # (1, 3 * dim + 4)
    context_bias: np.ndarray
    spam_weight: np.ndarray | None = None  # (1, dim): the optional spam head over z
    spam_bias: np.ndarray | None = None

    @property
    def has_spam(self) -> bool:
        return self.spam_weight is not None

    @classmethod
    def load(cls, path: Path) -> Heads:
        from safetensors.numpy import load_file

        try:
            tensors = load_file(str(path))
            heads = cls(tensors["comment.weight"], tensors["comment.bias"], tensors["context.weight"], tensors["context.bias"],
                        tensors.get("spam.weight"), tensors.get("spam.bias"))
        except (OSError, KeyError, ValueError) as exc:
            raise ArtifactError(f"{path}: cannot load classification heads ({exc})") from exc
        dim = heads.comment_weight.shape[1]
        if heads.comment_weight.shape[0] != len(COMMENT_LABELS) or heads.context_weight.shape != (1, 3 * dim + 4):
            raise ArtifactError(f"{path}: head shapes {heads.comment_weight.shape}, {heads.context_weight.shape} do not fit {len(LABELS)} labels")
        if (heads.spam_weight is None) != (heads.spam_bias is None) or (heads.spam_weight is not None and heads.spam_weight.shape != (1, dim)):
            raise ArtifactError(f"{path}: spam head needs spam.weight of shape (1, {dim}) and spam.bias")
        return heads

    def with_spam(self, weight: np.ndarray | None, bias: float | None) -> Heads:
        """These heads with the spam head replaced (None: without one); the other heads are shared, not copied."""
        if weight is None or bias is None:
            return Heads(self.comment_weight, self.comment_bias, self.context_weight, self.context_bias)
        return Heads(self.comment_weight, self.comment_bias, self.context_weight, self.context_bias,
                     np.asarray(weight, dtype=np.float32).reshape(1, -1), np.array([bias], dtype=np.float32))

    def to_bytes(self) -> bytes:
        """The heads as heads.safetensors content (the keys `load` reads)."""
        from safetensors.numpy import save

        tensors = {"comment.weight": self.comment_weight, "comment.bias": self.comment_bias,
                   "context.weight": self.context_weight, "context.bias": self.context_bias}
        if self.spam_weight is not None and self.spam_bias is not None:
            tensors |= {"spam.weight": self.spam_weight, "spam.bias": self.spam_bias}
        return save(tensors)

    def logits(self, comment: np.ndarray, article: np.ndarray, parent: np.ndarray, has_a: np.ndarray, has_p: np.ndarray) -> np.ndarray:
        """(n, len(LABELS)) logits from raw mean-pooled embeddings of the three parts."""
        z, features = head_inputs(comment, article, parent, has_a, has_p)
        out = np.zeros((len(z), len(LABELS)), dtype=np.float32)
        out[:, list(COMMENT_LABELS)] = self._comment_head(z)
        out[:, CONTEXT_LABEL] = (features @ self.context_weight.T + self.context_bias)[:, 0]
        return out

    def _comment_head(self, z: np.ndarray) -> np.ndarray:
        return (z @ self.comment_weight.T + self.comment_bias).astype(np.float32)

    def comment_logits(self, comment: np.ndarray) -> np.ndarray:
        """(n, len(COMMENT_LABELS)) hate and insult logits from raw mean-pooled comment embeddings alone."""
        return self._comment_head(unit(comment))

    def spam_probability(self, comment: np.ndarray) -> np.ndarray:
        """(n,) probability that each comment is a pitch, from its raw mean-pooled embedding (zeros without a spam head)."""
        if self.spam_weight is None or self.spam_bias is None:
            return np.zeros(len(comment), dtype=np.float32)
        logit = unit(comment) @ self.spam_weight[0] + self.spam_bias[0]
        return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)

    def with_spam_in_off_topic(self, probs: np.ndarray, p_spam: np.ndarray, has_article: np.ndarray) -> np.ndarray:
        """Calibrated (n, len(LABELS)) probabilities with off_topic raised by the spam head's probability `p_spam` (n,):
        1 - (1 - p_off)(1 - p_spam) where the comment came with its article, p_spam alone where it did not (off_topic's
        own head reads nothing it was trained on without an article, serving.model.judged_labels). Unchanged without a
        spam head."""
        if not self.has_spam:
            return probs
        out = probs.copy()
        out[:, CONTEXT_LABEL] = np.where(has_article, 1.0 - (1.0 - probs[:, CONTEXT_LABEL]) * (1.0 - p_spam), p_spam)
        return out
