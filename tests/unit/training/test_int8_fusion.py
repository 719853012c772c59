"""Fused epilogues: the same per-token int8 arithmetic with smoothing folded into the outlier mask and each bias into
its correction Gemm, so fewer ops each pass over the activations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serving.transformer import cpu_session
from training.int8_fusion import fuse_epilogues, fuse_int8_file
from training.smoothing import smooth_onnx
from training.token_int8 import quantize_per_token


def biased_graph(path: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """y = relu(x @ w1 + b1) @ w2 + b2 and z = x @ w3 (no bias): two inputs to quantise, one shared, as in BERT."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1, w2, w3 = (rng.normal(size=shape).astype(np.float32) for shape in ((64, 48), (48, 16), (64, 16)))
    b1, b2 = rng.normal(size=48).astype(np.float32), rng.normal(size=16).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h0"], name="in1/MatMul"),
            helper.make_node("Add", ["b1", "h0"], ["h"], name="in1/Add"),
            helper.make_node("Relu", ["h"], ["r"], name="relu"),
            helper.make_node("MatMul", ["r", "w2"], ["y0"], name="out/MatMul"),
            helper.make_node("Add", ["y0", "b2"], ["y"], name="out/Add"),
            helper.make_node("MatMul", ["x", "w3"], ["z"], name="in3/MatMul"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", 16]), helper.make_tensor_value_info("z", TensorProto.FLOAT, ["b", "t", 16])],
        [numpy_helper.from_array(w, name) for w, name in ((w1, "w1"), (w2, "w2"), (w3, "w3"), (b1, "b1"), (b2, "b2"))],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = rng.normal(size=(24, 6, 64)).astype(np.float32)
    x[..., [5, 17]] *= 40  # outlier features, as BERT's LayerNorm outputs carry
    return x[:12], x[12:]


@pytest.fixture()
def int8_graph(tmp_path: Path) -> tuple[Path, np.ndarray]:
    calibration, x = biased_graph(tmp_path / "fp32.onnx", np.random.default_rng(0))
    batches = [{"x": calibration}]
    smooth_onnx(tmp_path / "fp32.onnx", tmp_path / "smooth.onnx", batches, alpha=0.65)
    quantize_per_token(tmp_path / "smooth.onnx", tmp_path / "int8.onnx", batches, outliers=2)
    return tmp_path / "int8.onnx", x


def run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    return cpu_session(path).run(None, {"x": x})


def ops(path: Path) -> list[str]:
    import onnx

    return [n.op_type for n in onnx.load(str(path)).graph.node]


def test_fusion_drops_the_bias_adds_and_smoothing_muls_and_computes_the_same(int8_graph: tuple[Path, np.ndarray]) -> None:
    path, x = int8_graph
    fused_path = path.with_name("fused.onnx")
    fused = fuse_int8_file(path, fused_path)
    assert (fused.smoothing_masks, fused.biases) == (2, 2)  # inputs x and r; b1 and b2 (z has no bias)
    before, after = ops(path), ops(fused_path)
    assert before.count("Add") == 2 and after.count("Add") == 0
    assert after.count("Mul") == before.count("Mul") - 2  # each smoothing Mul went into its outlier mask
    assert after.count("MatMulIntegerToFloat") == before.count("MatMulIntegerToFloat") == 3
    (y0, z0), (y1, z1) = run(path, x), run(fused_path, x)
    # z reads x, whose int8 input is the same to the bit; only the fp32 correction's order of operations moved
    assert np.abs(z1 - z0).max() <= 1e-5 * np.abs(z0).max()
    # y reads r, requantised after an fp32 sum in another order: at most a rare rounding step apart
    assert np.abs(y1 - y0).max() <= 2e-3 * np.abs(y0).max()


def test_fusion_keeps_the_int8_weights_and_is_done_once(int8_graph: tuple[Path, np.ndarray]) -> None:
    import onnx

    path, _ = int8_graph
    fused_path = path.with_name("fused.onnx")
    fuse_int8_file(path, fused_path)
    weights = {t.name: t.raw_data for t in onnx.load(str(path)).graph.initializer if t.data_type == onnx.TensorProto.INT8}
    assert weights and weights == {t.name: t.raw_data for t in onnx.load(str(fused_path)).graph.initializer if t.data_type == onnx.TensorProto.INT8}
    again = onnx.load(str(fused_path))
    assert fuse_epilogues(again).record() == {"smoothing_masks": 0, "biases": 0}
    with pytest.raises(ValueError, match="no per-token int8 epilogue to fuse"):
        fuse_int8_file(fused_path, path.with_name("twice.onnx"))


@pytest.mark.parametrize(("smoothed", "outliers", "masks"), [(True, 0, 0), (False, 2, 0), (False, 0, 0)])
def test_recipes_without_smoothing_or_outliers_fuse_their_biases_alone(tmp_path: Path, smoothed: bool, outliers: int, masks: int) -> None:
    """With no outlier mask there is no Mul to merge smoothing into, and without smoothing none to merge: the biases
    still go into their Gemms, and the graph computes what it did."""
    calibration, x = biased_graph(tmp_path / "fp32.onnx", np.random.default_rng(1))
    batches = [{"x": calibration}]
    source = tmp_path / "fp32.onnx"
    if smoothed:
        smooth_onnx(source, tmp_path / "smooth.onnx", batches, alpha=0.65)
        source = tmp_path / "smooth.onnx"
    quantize_per_token(source, tmp_path / "int8.onnx", batches, outliers=outliers)
    fused = fuse_int8_file(tmp_path / "int8.onnx", tmp_path / "fused.onnx")
    assert (fused.smoothing_masks, fused.biases) == (masks, 2)
    assert ops(tmp_path / "fused.onnx").count("Add") == 0
    assert ops(tmp_path / "fused.onnx").count("Mul") == ops(tmp_path / "int8.onnx").count("Mul")
    (y0, z0), (y1, z1) = run(tmp_path / "int8.onnx", x), run(tmp_path / "fused.onnx", x)
    assert np.abs(z1 - z0).max() <= 1e-5 * np.abs(z0).max()
    assert np.abs(y1 - y0).max() <= 2e-3 * np.abs(y0).max()


def test_a_file_that_is_not_an_onnx_graph_is_named_in_the_error(tmp_path: Path) -> None:
    from threadguard.errors import ArtifactError

    (tmp_path / "model.int8.onnx").write_bytes(b"\xff\xfe not onnx")
    with pytest.raises(ArtifactError, match="model.int8.onnx: cannot read it as an ONNX graph"):
        fuse_int8_file(tmp_path / "model.int8.onnx", tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()
