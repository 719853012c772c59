"""bench.topic_cosine: the raw comment-article cosine as an off_topic score, and the drift against the shipped encoder."""

from __future__ import annotations

import numpy as np

from bench.topic_cosine import cosine_auc, cosines, topic_drift
from labels.schema import LabelledComment


def _rows(labels: list[int]) -> list[LabelledComment]:
    return [LabelledComment(id=str(i), source="s", split="test", thread_id="t", body=f"comment {i}", off_topic=y)
            for i, y in enumerate(labels)]


def test_cosine_is_scale_free_and_rowwise() -> None:
    comments = np.array([[1.0, 0.0], [0.0, 3.0]])
    articles = np.array([[5.0, 0.0], [1.0, 0.0]])
    assert np.allclose(cosines(comments, articles), [1.0, 0.0])


def test_comments_nearer_their_own_article_rank_perfectly() -> None:
    rng = np.random.default_rng(0)
    articles = rng.normal(size=(6, 8))
    # own-article rows sit on their article; wrong-article copies are orthogonal noise
    comments = np.concatenate([articles[:3] + 0.01 * rng.normal(size=(3, 8)), rng.normal(size=(3, 8))])
    comments[3:] -= (comments[3:] * articles[3:]).sum(1, keepdims=True) / (articles[3:] ** 2).sum(1, keepdims=True) * articles[3:]
    auc, own, wrong = cosine_auc((comments, articles), _rows([0, 0, 0, 1, 1, 1]))
    assert auc == 1.0 and own > 0.99 and abs(wrong) < 1e-9


def test_drift_is_zero_for_the_shipped_encoder_and_grows_when_comments_point_elsewhere() -> None:
    rng = np.random.default_rng(1)
    comments, articles = rng.normal(size=(40, 16)).astype(np.float32), rng.normal(size=(40, 16)).astype(np.float32)
    assert topic_drift((comments, articles), (comments, articles)) < 1e-6
    # the same comments, each now closest to the next row's article
    moved = np.roll(articles, -1, axis=0) * 3 + comments
    assert topic_drift((moved, articles), (comments, articles)) > 0.5
