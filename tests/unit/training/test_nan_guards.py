"""The export drops the attention's NaN guards: the same embeddings to the bit, fewer nodes, and only when every row
has a token to attend to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from serving.transformer import ONNX_FILE, ONNX_INT8_FILE, cpu_session, pad_batch
from training.export import drop_nan_guards, export_onnx


def _ops(path: Path) -> list[str]:
    return [node.op_type for node in onnx.load(str(path)).graph.node]


def _embed(path: Path, batch: dict[str, np.ndarray]) -> np.ndarray:
    return cpu_session(path).run(None, batch)[0]


def test_dropping_the_guards_keeps_every_embedding_to_the_bit(tiny_encoder_path: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False).eval()
    export_onnx(encoder, tmp_path / "guarded.onnx")
    export_onnx(encoder, tmp_path / "plain.onnx", every_row_attends=True)
    guarded = _ops(tmp_path / "guarded.onnx")
    assert "IsNaN" in guarded  # the exporter writes the guards, so their absence below is the pass's doing
    assert "IsNaN" not in _ops(tmp_path / "plain.onnx") and len(_ops(tmp_path / "plain.onnx")) < len(guarded)
    rng = np.random.default_rng(0)
    batch = pad_batch([rng.integers(1000, 5000, size=n).tolist() for n in (2, 9, 17, 17, 30)])  # padded rows, as served
    assert np.array_equal(_embed(tmp_path / "guarded.onnx", batch), _embed(tmp_path / "plain.onnx", batch))
    assert drop_nan_guards(tmp_path / "plain.onnx") == 0  # nothing left to drop
    graph = onnx.load(str(tmp_path / "plain.onnx")).graph
    read = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
    assert not [n.name for n in graph.node if not set(n.output) & read]  # no node left computing what nothing reads


def test_a_trained_dirs_onnx_files_carry_no_guards(tiny_transformer_dir: Path) -> None:
    """The tiny model's tokenizer wraps every text in [CLS] ... [SEP], so training's export drops the guards from
    model.onnx, and model.int8.onnx, quantised from it, has none either."""
    for name in (ONNX_FILE, ONNX_INT8_FILE):
        assert "IsNaN" not in _ops(tiny_transformer_dir / name), name


def test_the_committed_defaults_int8_file_carries_no_guards() -> None:
    """It was exported before the export dropped them and had them dropped after (docs/benchmarks.md, "NaN guards")."""
    from threadguard.settings import PROJECT_ROOT

    path = PROJECT_ROOT / "models" / "current" / ONNX_INT8_FILE
    if not path.is_file():
        import pytest

        pytest.skip("no committed default")
    ops = _ops(path)
    assert "IsNaN" not in ops and "MatMulIntegerToFloat" in ops
