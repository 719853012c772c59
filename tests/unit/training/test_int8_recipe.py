"""The int8 recipe: what the quantiser reads is what config.json records and what decides a re-quantisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadguard.errors import ArtifactError
from training.config import TransformerConfig, config_from_dict
from training.export import Int8Recipe
from training.pipeline import _int8_change, int8_record

BASE = {"name": "t", "kind": "transformer", "data": {"sources": [{"path": "x.jsonl"}]},
        "transformer": {"int8_activations": "per_token", "int8_smoothing_alpha": 0.65, "int8_outlier_channels": 4}}


@pytest.mark.parametrize(("key", "value", "field", "expected"), [
    ("quantize_per_channel", False, "per_channel", False),
    ("int8_activations", "per_tensor", "activations", "per_tensor"),
    ("int8_smoothing_alpha", 0.8, "smoothing_alpha", 0.8),
    ("int8_outlier_channels", 8, "outlier_channels", 8),
    ("int8_fused_epilogues", True, "fused_epilogues", True),
])
def test_each_int8_setting_reaches_the_recipe_and_the_record(key: str, value: object, field: str, expected: object) -> None:
    overrides = {"int8_outlier_channels": 0} if key == "int8_activations" else {}  # outliers need per-token
    tcfg = TransformerConfig(**{**BASE["transformer"], **overrides, key: value})
    recipe = Int8Recipe.of(tcfg)
    assert getattr(recipe, field) == expected
    assert int8_record(recipe, ["a", "b"]) == {**recipe.record(), "calibration_texts": 2}
    assert recipe != Int8Recipe.of(TransformerConfig(**BASE["transformer"]))


def test_the_record_keeps_the_keys_model_cards_read() -> None:
    record = Int8Recipe.of(TransformerConfig(**BASE["transformer"])).record()
    assert record == {"per_channel": True, "activations": "per_token", "smoothing_alpha": 0.65, "outlier_channels": 4, "fused_epilogues": False}


@pytest.mark.parametrize(("overrides", "change"), [
    (["transformer.int8_outlier_channels=8"], "requantise"),
    (["transformer.int8_calibration_rows=64"], "requantise"),  # other calibration texts
    (["transformer.int8_smoothing_alpha=0.5"], "requantise"),
    (["transformer.int8_fused_epilogues=true"], "fuse"),  # done on the int8 file itself
    (["transformer.int8_fused_epilogues=true", "transformer.int8_outlier_channels=8"], "requantise"),
    (["transformer.learning_rate=0.001"], "none"),  # a training setting: the int8 file stays
    (["thresholds.max_review_rate=0.1"], "none"),
])
def test_recalibration_changes_the_int8_file_only_when_its_inputs_change(tmp_path: Path, overrides: list[str], change: str) -> None:
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    recorded = config_from_dict(BASE)
    assert _int8_change(config_from_dict(BASE, overrides), recorded, tmp_path) == change


def test_new_int8_inputs_on_a_dir_without_fp32_graph_are_refused_but_fusion_is_not(tmp_path: Path) -> None:
    recorded = config_from_dict(BASE)
    with pytest.raises(ArtifactError, match="model.onnx"):
        _int8_change(config_from_dict(BASE, ["transformer.int8_outlier_channels=8"]), recorded, tmp_path)
    assert _int8_change(config_from_dict(BASE, ["transformer.int8_fused_epilogues=true"]), recorded, tmp_path) == "fuse"
    # a fused graph cannot be unfused: that takes the fp32 graph
    fused = config_from_dict(BASE, ["transformer.int8_fused_epilogues=true"])
    with pytest.raises(ArtifactError, match="model.onnx"):
        _int8_change(config_from_dict(BASE, ["transformer.int8_fused_epilogues=false"]), fused, tmp_path)


def test_fusion_needs_per_token_int8() -> None:
    with pytest.raises(ValueError, match="int8_fused_epilogues needs"):
        TransformerConfig(int8_activations="per_tensor", int8_fused_epilogues=True)
