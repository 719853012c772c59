"""Each simulated rounding of bench.int8_rounding_sources moves the graph's output a little, and only the part it names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.training.test_token_int8 import VOCAB, encoder_like_graph, run


@pytest.mark.parametrize("variant", ["tables_row", "tables_row_column", "weights_nearest", "weights_gptq", "activations"])
def test_each_rounding_changes_the_output_slightly(variant: str, tmp_path: Path) -> None:
    import onnx

    from bench.int8_rounding_sources import fake_activations, fake_tables, fake_weights
    from training.gptq import input_grams

    encoder_like_graph(tmp_path / "fp32.onnx", np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, VOCAB, size=(4, 12))
    model = onnx.load(str(tmp_path / "fp32.onnx"))
    before = {t.name: onnx.numpy_helper.to_array(t).copy() for t in model.graph.initializer}
    if variant.startswith("tables"):
        fake_tables(model, columns=variant == "tables_row_column")
    elif variant == "weights_nearest":
        fake_weights(model, None)
    elif variant == "weights_gptq":
        fake_weights(model, input_grams(tmp_path / "fp32.onnx", ["x", "r"], [{"ids": ids}]))
    else:
        fake_activations(model)
    onnx.save(model, tmp_path / "fake.onnx")
    reference, fake = run(tmp_path / "fp32.onnx", ids), run(tmp_path / "fake.onnx", ids)
    gap = np.abs(fake - reference).max() / np.abs(reference).max()
    assert 0 < gap < 0.05, gap
    changed = {t.name for t in model.graph.initializer if t.name in before and not np.array_equal(onnx.numpy_helper.to_array(t), before[t.name])}
    expected = {"tables_row": {"table"}, "tables_row_column": {"table"}, "weights_nearest": {"wq", "wk", "w2"}, "weights_gptq": {"wq", "wk", "w2"},
                "activations": set()}[variant]
    assert changed == expected
