"""The heads file: an optional spam head that round-trips and raises off_topic as a noisy OR, and nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serving.heads import CONTEXT_LABEL, Heads
from threadguard.errors import ArtifactError

DIM = 8


def _heads(rng: np.random.Generator) -> Heads:
    return Heads(rng.normal(size=(2, DIM)).astype(np.float32), rng.normal(size=2).astype(np.float32),
                 rng.normal(size=(1, 3 * DIM + 4)).astype(np.float32), rng.normal(size=1).astype(np.float32))


def test_spam_head_round_trips_and_a_dir_without_one_still_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    plain = _heads(rng)
    (tmp_path / "plain.safetensors").write_bytes(plain.to_bytes())
    assert not Heads.load(tmp_path / "plain.safetensors").has_spam
    spam = plain.with_spam(rng.normal(size=DIM), 0.25)
    (tmp_path / "spam.safetensors").write_bytes(spam.to_bytes())
    loaded = Heads.load(tmp_path / "spam.safetensors")
    assert loaded.has_spam and np.array_equal(loaded.spam_weight, spam.spam_weight) and float(loaded.spam_bias[0]) == 0.25
    assert np.array_equal(loaded.context_weight, plain.context_weight)
    assert not loaded.with_spam(None, None).has_spam


def test_a_spam_head_of_the_wrong_width_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save

    plain = _heads(np.random.default_rng(1))
    tensors = {"comment.weight": plain.comment_weight, "comment.bias": plain.comment_bias, "context.weight": plain.context_weight,
               "context.bias": plain.context_bias, "spam.weight": np.zeros((1, DIM + 1), np.float32), "spam.bias": np.zeros(1, np.float32)}
    (tmp_path / "bad.safetensors").write_bytes(save(tensors))
    with pytest.raises(ArtifactError, match="spam head"):
        Heads.load(tmp_path / "bad.safetensors")


def test_spam_probability_raises_only_off_topic_as_a_noisy_or() -> None:
    rng = np.random.default_rng(2)
    direction = rng.normal(size=DIM)
    heads = _heads(rng).with_spam(4.0 * direction / np.linalg.norm(direction), -2.0)
    comments = np.vstack([direction, -direction, rng.normal(size=(3, DIM))]).astype(np.float32)
    probs = rng.uniform(0.05, 0.6, size=(5, 3)).astype(np.float32)
    p_spam = heads.spam_probability(comments)
    assert p_spam[0] > 0.99 and p_spam[1] < 0.01  # a pitch-like comment and its opposite
    with_article = np.ones(5, dtype=bool)
    out = heads.with_spam_in_off_topic(probs, p_spam, with_article)
    np.testing.assert_allclose(out[:, CONTEXT_LABEL], 1 - (1 - probs[:, CONTEXT_LABEL]) * (1 - p_spam), rtol=1e-6)
    assert np.array_equal(np.delete(out, CONTEXT_LABEL, axis=1), np.delete(probs, CONTEXT_LABEL, axis=1))
    assert np.all(out[:, CONTEXT_LABEL] >= probs[:, CONTEXT_LABEL])
    assert out is not probs and np.array_equal(_heads(rng).with_spam_in_off_topic(probs, p_spam, with_article), probs)  # no spam head: unchanged
    bare = heads.with_spam_in_off_topic(probs, p_spam, np.array([False, True, False, True, True]))  # no article: the spam head alone
    np.testing.assert_allclose(bare[[0, 2], CONTEXT_LABEL], p_spam[[0, 2]], rtol=1e-6)
    np.testing.assert_allclose(bare[[1, 3, 4], CONTEXT_LABEL], out[[1, 3, 4], CONTEXT_LABEL], rtol=1e-6)
