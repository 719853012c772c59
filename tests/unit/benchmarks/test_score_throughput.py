"""bench.score_throughput: the served scorer beside one run per batch, and issue 7's int8-to-PyTorch ratio."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.score_throughput import ratio_lines, variants
from serving.transformer import available_cores


def test_the_ratio_is_int8_as_served_over_pytorch_for_each_dir_holding_both() -> None:
    results = [("m (torch)", 100.0, 1, 2), ("m (onnx)", 120.0, 1, 2), ("m (onnx-int8)", 180.0, 1, 2),
               ("m (onnx-int8, one run per batch)", 130.0, 1, 2), ("n (onnx-int8)", 90.0, 1, 2)]
    assert ratio_lines(results) == ["", "m: int8 ONNX 1.80x the comments/s of PyTorch fp32 (target 2x)."]
    assert ratio_lines(results[1:]) == []


@pytest.mark.skipif(available_cores() < 2, reason="row slices need two cores")
def test_onnx_is_timed_with_and_without_its_row_slices(tiny_transformer_dir: Path) -> None:
    found = variants(tiny_transformer_dir, "onnx-int8")
    assert [label.split(" ", 1)[1] for label, _ in found] == ["(onnx-int8)", "(onnx-int8, one run per batch)"]
    assert found[0][1].backend.row_runs is not None and found[1][1].backend.row_runs is None
    assert [label.split(" ", 1)[1] for label, _ in variants(tiny_transformer_dir, "torch")] == ["(torch)"]
