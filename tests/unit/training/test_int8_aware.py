"""The int8 simulation computes what ONNX Runtime's dynamic int8 export computes, and leaves the model as it found it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from serving.transformer import cpu_session
from training.export import export_onnx, quantize_int8
from training.int8_aware import simulated_int8


def _ort(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return cpu_session(path).run(None, feeds)[0]


def _tiny_encoder(tiny_encoder_path: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False).eval()
    with torch.no_grad():  # an outlier channel, as a fine-tuned MiniLM carries, so rounding matters
        encoder.encoder.layer[0].output.dense.bias[3] += 8.0
    return encoder


def _inputs(seed: int) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    ids = torch.from_numpy(rng.integers(1000, 30000, size=(6, 20)))
    mask = torch.ones_like(ids)
    mask[3:, 12:] = 0  # padded rows, as a length-bucketed batch has
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def test_simulated_int8_matches_onnx_runtime_int8_of_the_exported_encoder(tiny_encoder_path: Path, tmp_path: Path) -> None:
    from training.finetune import mean_pool

    encoder = _tiny_encoder(tiny_encoder_path)
    export_onnx(encoder, tmp_path / "model.onnx")
    quantize_int8(tmp_path / "model.onnx", tmp_path / "model.int8.onnx", per_channel=True)
    inputs = _inputs(0)
    runtime = _ort(tmp_path / "model.int8.onnx", {k: v.numpy() for k, v in inputs.items()})
    with torch.no_grad():
        fp32 = mean_pool(encoder(**inputs).last_hidden_state, inputs["attention_mask"]).numpy()
        with simulated_int8(encoder) as patched:
            simulated = mean_pool(encoder(**inputs).last_hidden_state, inputs["attention_mask"]).numpy()
    assert patched == 2 * 6 + 3  # six projections a layer, three embedding tables
    rounding = np.abs(runtime - fp32).max()
    assert rounding > 1e-3  # int8 really differs from fp32 here, so the match below says something
    assert np.abs(simulated - runtime).max() < rounding / 100  # measured: 5e-7 against 6e-3


def test_leaving_the_block_restores_the_fp32_layers(tiny_encoder_path: Path) -> None:
    encoder = _tiny_encoder(tiny_encoder_path)
    inputs = _inputs(1)
    keys = list(encoder.state_dict())
    with torch.no_grad():
        before = encoder(**inputs).last_hidden_state
        with simulated_int8(encoder):
            inside = encoder(**inputs).last_hidden_state
        after = encoder(**inputs).last_hidden_state
    assert not torch.equal(before, inside)
    assert torch.equal(before, after)
    assert list(encoder.state_dict()) == keys


def test_gradients_pass_straight_through_the_rounding(tiny_encoder_path: Path) -> None:
    encoder = _tiny_encoder(tiny_encoder_path)
    with simulated_int8(encoder):
        encoder(**_inputs(2)).last_hidden_state.pow(2).mean().backward()
    grads = [p.grad for p in encoder.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
