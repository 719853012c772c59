"""The NaN-guard bench times a guarded file against its copy without guards and says whether they embed alike."""

from __future__ import annotations

import shutil
from pathlib import Path


def test_the_bench_drops_a_guarded_exports_guards_and_finds_the_embeddings_identical(tiny_encoder_path: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    from bench.nan_guards import main
    from training.export import export_onnx

    model_dir = tmp_path / "dir"
    model_dir.mkdir()
    export_onnx(AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False).eval(), model_dir / "model.onnx")  # guards kept
    shutil.copy(tiny_encoder_path / "tokenizer.json", model_dir / "tokenizer.json")
    table = main(model_dir, rounds=1)
    row = next(line for line in table.splitlines() if line.startswith("| model.onnx |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert int(cells[1]) == 2  # one guard a layer, two layers
    assert float(cells[2]) > 0 and float(cells[3]) > 0 and cells[5] == "yes"
    assert "model.int8.onnx" not in table  # a file the dir does not hold is skipped
