"""fine_tune on the tiny encoder: it learns (training loss falls), resumes from a checkpoint, and stops early."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from labels.sets import read_jsonl
from serving.transformer import load_tokenizer
from tests.conftest import tiny_transformer_config
from training.finetune import budget_of, collate, encode_rows, fine_tune, masked_bce


def _train_loss(model, config, rows) -> float:  # type: ignore[no-untyped-def]
    tokenizer = load_tokenizer(Path(config.base_model) / "tokenizer.json", config.max_length)
    encoded = encode_rows(tokenizer, rows, [1.0] * len(rows), budget_of(config))
    batch, labels, weights = collate(encoded, list(range(len(rows))), "cpu")
    model.eval()
    with torch.inference_mode():
        return float(masked_bce(model(batch), labels, weights, torch.ones(3)))


def test_fine_tuning_lowers_training_loss(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    from transformers import AutoModel

    from training.finetune import build_biencoder

    # eval_every = max_steps: the returned model is the one after all 60 steps, not an early best
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, eval_every=60).transformer
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    torch.manual_seed(3)
    before_model = build_biencoder(AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False), context_grad=False)
    before = _train_loss(before_model, config, rows)
    result = fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", progress=False)
    after = _train_loss(result.model, config, rows)
    assert after < before - 0.01  # a 2-layer, 32-wide random encoder learns slowly, but it must learn
    assert result.history and all("valid_mean_auc" in h for h in result.history)


def test_resume_continues_from_the_checkpoint(tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path) -> None:
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    first = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=20, eval_every=10).transformer
    done = fine_tune(first, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert done.steps == 20 and (tmp_path / "state.pt").is_file() and (tmp_path / "model.safetensors").is_file()
    longer = first.model_copy(update={"max_steps": 30})
    resumed = fine_tune(longer, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert resumed.steps == 30
    assert [h["step"] for h in resumed.history] == [30.0]  # only the new steps were trained and evaluated


def test_early_stopping_stops_before_max_steps(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=400, eval_every=5, patience=1, learning_rate=1e-9).transformer
    result = fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", progress=False)
    assert result.steps < 400
    assert np.isfinite(result.best_score)


@pytest.mark.parametrize("device", ["cuda"])
def test_cuda_without_a_gpu_is_a_clear_error(device: str) -> None:
    from serving.model import resolve_device
    from threadguard.errors import ArtifactError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ArtifactError, match="no CUDA device"):
        resolve_device(device)
