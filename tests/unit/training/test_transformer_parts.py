from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from labels.schema import Comment, LabelledComment
from serving.context import ContextBudget, ContextParts, context_parts
from serving.heads import Heads, context_features, unit
from serving.transformer import choose_runtime
from threadguard.errors import ArtifactError
from training.calibration import ece_if_calibrated, expected_calibration_error, fit_temperature, fit_temperature_and_bias
from training.finetune import bucketed_batches, masked_bce, positive_weights


def test_masked_loss_ignores_missing_labels() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    labels = torch.tensor([[1.0, float("nan"), float("nan")], [0.0, float("nan"), 1.0]])
    weights = torch.ones(2)
    loss = masked_bce(logits, labels, weights, torch.ones(3))
    changed = logits.clone()
    changed[0, 1] = 50.0  # a missing label's logit must not move the loss
    changed[1, 1] = -50.0
    assert torch.isclose(loss, masked_bce(changed, labels, weights, torch.ones(3)))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor([2.0, 0.0, -2.0]), torch.tensor([1.0, 0.0, 1.0]))
    assert torch.isclose(loss, expected)


def test_rare_labels_get_capped_positive_weight() -> None:
    labels = np.array([[1, 0, np.nan]] + [[0, 1, np.nan]] * 99, dtype=float)
    weights = positive_weights(labels, cap=5.0)
    assert weights[0] == 5.0 and weights[1] == 1.0 and weights[2] == 1.0


def test_context_parts_are_built_as_documented() -> None:
    comment = Comment(id="c", thread_id="t", body="  Tariffs   hurt farmers ", article_title="Trade talks", article_text="Long article " * 100, parent_body="Buy gold")
    parts = context_parts(comment, ContextBudget(title_chars=200, parent_chars=400, lead_chars=24))
    assert parts == ContextParts("Tariffs hurt farmers", "Trade talks. Long article Long articl", "Buy gold")
    assert context_parts(Comment(id="c", thread_id="t", body="alone")) == ContextParts("alone", "", "")


def _random_heads(dim: int, rng: np.random.Generator) -> Heads:
    return Heads(rng.normal(size=(2, dim)).astype(np.float32), rng.normal(size=2).astype(np.float32),
                 rng.normal(size=(1, 3 * dim + 4)).astype(np.float32), rng.normal(size=1).astype(np.float32))


def test_numpy_heads_match_the_torch_training_module() -> None:
    """serving.heads and training's BiEncoder compute the same logits from the same embeddings."""
    from types import SimpleNamespace

    from training.finetune import Batch, build_biencoder

    dim, n = 8, 5
    rng = np.random.default_rng(0)
    embeddings = {name: rng.normal(size=(n, dim)).astype(np.float32) for name in ("comment", "article", "parent")}
    has_a = np.array([True, True, False, True, False])
    has_p = np.array([False, True, False, True, True])

    class FakeEncoder(torch.nn.Module):
        config = SimpleNamespace(hidden_size=dim)

    model = build_biencoder(FakeEncoder(), context_grad=False).eval()
    lookup = {"comment": torch.from_numpy(embeddings["comment"]), "article": torch.from_numpy(embeddings["article"][has_a]),
              "parent": torch.from_numpy(embeddings["parent"][has_p])}
    model.embed = lambda inputs: lookup[inputs["part"]]  # stand-in for encoder + mean pooling
    batch = Batch({"part": "comment"}, {"part": "article"}, {"part": "parent"}, torch.from_numpy(has_a), torch.from_numpy(has_p))
    with torch.inference_mode():
        expected = model(batch).numpy()
    state = model.head_state()
    heads = Heads(state["comment.weight"].numpy(), state["comment.bias"].numpy(), state["context.weight"].numpy(), state["context.bias"].numpy())
    article = np.where(has_a[:, None], embeddings["article"], 0)
    parent = np.where(has_p[:, None], embeddings["parent"], 0)
    assert np.allclose(heads.logits(embeddings["comment"], article, parent, has_a, has_p), expected, atol=1e-5)


def test_off_topic_features_carry_cosine_to_article_and_parent() -> None:
    rng = np.random.default_rng(1)
    comment = rng.normal(size=(1, 16))
    same, missing = unit(comment), np.zeros((1, 16))
    features = context_features(unit(comment), same, missing, np.array([1.0]), np.array([0.0]))
    dim = 16
    assert features.shape == (1, 3 * dim + 4)
    assert np.isclose(features[0, 3 * dim], 4.0)  # cos(comment, article) = 1, scaled by COSINE_SCALE
    assert features[0, 3 * dim + 1] == 0 and list(features[0, -2:]) == [1.0, 0.0]


def test_bucketed_batches_cover_every_row_once_with_similar_lengths() -> None:
    lengths = [random.Random(i).randint(5, 120) for i in range(1000)]
    batches = bucketed_batches(lengths, 32, random.Random(0))
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(1000))
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    arrival = sum(max(lengths[i] for i in range(s, min(s + 32, 1000))) * min(32, 1000 - s) for s in range(0, 1000, 32))
    assert padded < 0.7 * arrival  # bucketing pads far less than arrival order


def test_temperature_calibration_improves_ece_on_overconfident_scores() -> None:
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 1.5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    overconfident = true_logit * 4
    t = fit_temperature(overconfident, y)
    before = expected_calibration_error(1 / (1 + np.exp(-overconfident)), y)
    after = expected_calibration_error(1 / (1 + np.exp(-overconfident / t)), y)
    assert 3 < t < 5 and after < before / 2 and after < 0.03


@pytest.mark.parametrize(
    ("device", "requested", "available", "expected"),
    [
        ("cpu", None, {"onnx-int8", "onnx", "torch"}, "onnx-int8"),
        ("cuda", None, {"onnx-int8", "onnx", "torch"}, "torch"),
        ("cuda", None, {"onnx-int8"}, "onnx-int8"),
        ("cuda", None, {"onnx-int8", "onnx"}, "onnx"),
        ("cpu", "torch", {"onnx-int8", "torch"}, "torch"),
        ("cpu", None, {"torch"}, "torch"),
        # torch-bf16 comes with hf/ but is never picked unasked, on either device
        ("cpu", None, {"onnx-int8", "torch", "torch-bf16"}, "onnx-int8"),
        ("cuda", None, {"onnx-int8", "torch", "torch-bf16"}, "torch"),
        ("cpu", None, {"torch", "torch-bf16"}, "torch"),
        ("cpu", "torch-bf16", {"onnx-int8", "torch", "torch-bf16"}, "torch-bf16"),
    ],
)
def test_runtime_choice(device: str, requested: str | None, available: set[str], expected: str) -> None:
    assert choose_runtime(device, requested, available) == expected


def test_missing_runtime_is_a_clear_error() -> None:
    with pytest.raises(ArtifactError, match="only has"):
        choose_runtime("cpu", "torch", {"onnx-int8"})
    with pytest.raises(ArtifactError, match="no usable weights"):
        choose_runtime("cpu", None, set())


def test_temperature_and_bias_undo_a_shifted_overconfident_model() -> None:
    rng = np.random.default_rng(1)
    true_logit = rng.normal(-1.0, 1.5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    shifted = true_logit * 3 + 2.0  # as positive-class weights in training push logits up
    t, b = fit_temperature_and_bias(shifted, y)
    before = expected_calibration_error(1 / (1 + np.exp(-shifted)), y)
    after = expected_calibration_error(1 / (1 + np.exp(-(shifted / t + b))), y)
    assert 2.5 < t < 3.5 and after < 0.03 < before


def test_ece_noise_floor_separates_sampling_noise_from_a_shifted_base_rate() -> None:
    rng = np.random.default_rng(5)
    probs = rng.beta(1, 12, 400)  # mostly low scores, as for a rare label
    median, high = ece_if_calibrated(probs, simulations=300)
    assert 0 < median < high < 0.1
    calibrated = (rng.random(400) < probs).astype(float)
    shifted = (rng.random(400) < probs / 2).astype(float)  # the label half as common as the scores say
    assert expected_calibration_error(probs, calibrated) <= high < expected_calibration_error(probs, shifted)
    assert ece_if_calibrated(np.repeat(probs, 10), simulations=300)[1] < high  # more rows, less noise


def test_source_bias_shifts_training_logits_per_source_and_folds_into_the_heads() -> None:
    """transformer.source_bias: in training each row's logits gain its source's bias; scoring (eval) never adds it; the
    fold leaves eval logits equal to what training gave the served source's rows, and no source_bias parameter."""
    from types import SimpleNamespace

    from training.finetune import Batch, build_biencoder, fold_source_bias

    dim, n = 8, 4
    rng = np.random.default_rng(2)
    comment = torch.from_numpy(rng.normal(size=(n, dim)).astype(np.float32))

    class FakeEncoder(torch.nn.Module):
        config = SimpleNamespace(hidden_size=dim)

    model = build_biencoder(FakeEncoder(), context_grad=False, sources=2)
    model.embed = lambda inputs: comment
    with torch.no_grad():
        model.source_bias.copy_(torch.tensor([[0.5, -1.0, 2.0], [-3.0, 0.25, 1.5]]))
    none = torch.zeros(n, dtype=torch.bool)
    batch = Batch({"part": "comment"}, None, None, none, none, torch.tensor([0, 1, 1, 2]))  # 2: a source without a bias
    with torch.no_grad():
        trained = model.train()(batch)
        scored = model.eval()(batch)
    assert torch.allclose((trained - scored)[:3], model.source_bias.detach()[torch.tensor([0, 1, 1])])
    assert torch.equal(trained[3], scored[3])
    fold_source_bias(model, 1)
    assert "source_bias" not in dict(model.named_parameters())
    with torch.no_grad():
        folded = model.eval()(batch)
    assert torch.allclose(folded[[1, 2]], trained[[1, 2]], atol=1e-6)
    assert torch.allclose(folded - scored, torch.tensor([[-3.0, 0.25, 1.5]]).expand(n, 3), atol=1e-6)


def test_labels_outside_source_bias_labels_get_no_bias_in_training_or_in_the_fold() -> None:
    """transformer.source_bias_labels: a label left out is scored in training as in eval, whatever its entry in the
    parameter holds, and the fold moves only the biased labels' head biases."""
    from types import SimpleNamespace

    from training.finetune import Batch, build_biencoder, fold_source_bias

    dim, n = 8, 3
    comment = torch.from_numpy(np.random.default_rng(4).normal(size=(n, dim)).astype(np.float32))

    class FakeEncoder(torch.nn.Module):
        config = SimpleNamespace(hidden_size=dim)

    model = build_biencoder(FakeEncoder(), context_grad=False, sources=2, bias_labels=[1])  # insult alone
    model.embed = lambda inputs: comment
    with torch.no_grad():
        model.source_bias.copy_(torch.tensor([[0.5, -1.0, 2.0], [-3.0, 0.25, 1.5]]))
    none = torch.zeros(n, dtype=torch.bool)
    batch = Batch({"part": "comment"}, None, None, none, none, torch.tensor([0, 1, 1]))
    with torch.no_grad():
        gap = model.train()(batch) - model.eval()(batch)
    assert torch.allclose(gap, torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.25, 0.0], [0.0, 0.25, 0.0]]))
    heads = {k: v.clone() for k, v in model.head_state().items()}
    fold_source_bias(model, 0)
    assert not hasattr(model, "source_bias") and not hasattr(model, "source_bias_mask")
    assert torch.allclose(model.comment.bias - heads["comment.bias"], torch.tensor([0.0, -1.0]))
    assert torch.equal(model.context.bias, heads["context.bias"])


def test_a_source_key_is_the_source_up_to_its_colon() -> None:
    from training.finetune import source_indices

    rows = [LabelledComment(id=str(i), source=source, split="train", thread_id="t", body="x")
            for i, source in enumerate(["inhouse:fox_news", "kaggle_insults", "inhouse:seed", "synthetic_spam"])]
    names, index = source_indices(rows)
    assert names == ["inhouse", "kaggle_insults", "synthetic_spam"]
    assert index.tolist() == [0, 1, 0, 2]
    # "corpora": the generated rows get the bias-free index, one past the learned biases
    names, index = source_indices(rows, frozenset({"synthetic_spam"}))
    assert names == ["inhouse", "kaggle_insults"]
    assert index.tolist() == [0, 1, 0, 2]
