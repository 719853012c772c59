"""The fusion bench times a dir's int8 graph against its fused copy, as served, and says what the fusion changed."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_the_bench_profiles_and_times_both_graphs_and_finds_the_same_decisions(tiny_transformer_dir: Path) -> None:
    from bench.int8_fusion import main

    table = main(tiny_transformer_dir, rounds=2, sample=200)
    assert "8 smoothing masks, 12 biases" in table  # 2 layers: 4 quantised inputs and 6 biased linears each
    total = next(line for line in table.splitlines() if line.startswith("| all ops |"))
    before, after = (float(c.split()[0]) for c in total.strip("|").split("|")[1:])
    assert before > 0 and after > 0
    assert "| Add |" in table  # the bias Adds the fusion takes out are among the ops as exported
    rounds = [line for line in table.splitlines() if line.startswith(("| as exported |", "| fused |"))]
    assert len(rounds) == 2 and all(len(r.split("|")[2].split(",")) == 2 for r in rounds)
    assert "decisions differ on 0 of 200" in table


def test_a_dir_whose_int8_file_is_fused_already_is_refused(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    import shutil

    from bench.int8_fusion import main
    from training.int8_fusion import fuse_int8_file

    fused = tmp_path / "fused"
    shutil.copytree(tiny_transformer_dir, fused)
    fuse_int8_file(fused / "model.int8.onnx", fused / "model.int8.onnx")
    with pytest.raises(ValueError, match="no per-token int8 epilogue to fuse"):
        main(fused, rounds=1, sample=50)
