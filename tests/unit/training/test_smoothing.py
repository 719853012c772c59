"""Activation smoothing keeps the fp32 function and cuts what dynamic int8 loses to an outlier input channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labels.schema import LabelledComment
from serving.transformer import cpu_session
from training.config import TransformerConfig
from training.export import quantize_int8
from training.pipeline import smoothing_texts
from training.smoothing import SMOOTH_SUFFIX, smooth_onnx


def two_projection_graph(path: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """y = relu(x @ w1) @ w2 and z = x @ w3: two MatMuls share the input x, one reads an activation."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1, w2, w3 = (rng.normal(size=shape).astype(np.float32) for shape in ((64, 48), (48, 16), (64, 16)))
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h"], name="in1/MatMul"),
            helper.make_node("Relu", ["h"], ["r"], name="relu"),
            helper.make_node("MatMul", ["r", "w2"], ["y"], name="out/MatMul"),
            helper.make_node("MatMul", ["x", "w3"], ["z"], name="in3/MatMul"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16]), helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 16])],
        [numpy_helper.from_array(w, name) for w, name in ((w1, "w1"), (w2, "w2"), (w3, "w3"))],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = rng.normal(size=(256, 64)).astype(np.float32)
    x[:, 5] *= 60  # one outlier feature, as BERT's LayerNorm outputs carry
    return x[:128], x[128:]


def run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    return cpu_session(path).run(None, {"x": x})


def test_smoothing_keeps_the_fp32_function_with_one_mul_per_distinct_input(tmp_path: Path) -> None:
    import onnx

    calibration, x = two_projection_graph(tmp_path / "fp32.onnx", np.random.default_rng(0))
    assert smooth_onnx(tmp_path / "fp32.onnx", tmp_path / "smooth.onnx", [{"x": calibration}], alpha=0.8) == 2
    muls = [n for n in onnx.load(str(tmp_path / "smooth.onnx")).graph.node if n.op_type == "Mul"]
    assert sorted(n.output[0] for n in muls) == ["r" + SMOOTH_SUFFIX, "x" + SMOOTH_SUFFIX]
    for before, after in zip(run(tmp_path / "fp32.onnx", x), run(tmp_path / "smooth.onnx", x), strict=True):
        assert np.abs(after - before).max() <= 1e-4 * np.abs(before).max()


def test_smoothing_cuts_the_int8_error_an_outlier_channel_causes(tmp_path: Path) -> None:
    calibration, x = two_projection_graph(tmp_path / "fp32.onnx", np.random.default_rng(1))
    smooth_onnx(tmp_path / "fp32.onnx", tmp_path / "smooth.onnx", [{"x": calibration}], alpha=0.8)
    quantize_int8(tmp_path / "fp32.onnx", tmp_path / "plain8.onnx", per_channel=True)
    quantize_int8(tmp_path / "smooth.onnx", tmp_path / "smooth8.onnx", per_channel=True)
    reference = run(tmp_path / "fp32.onnx", x)[1]
    plain = np.linalg.norm(run(tmp_path / "plain8.onnx", x)[1] - reference)
    smoothed = np.linalg.norm(run(tmp_path / "smooth8.onnx", x)[1] - reference)
    assert smoothed < 0.5 * plain, (plain, smoothed)


def test_bad_alpha_and_missing_calibration_are_refused(tmp_path: Path) -> None:
    calibration, _ = two_projection_graph(tmp_path / "fp32.onnx", np.random.default_rng(2))
    with pytest.raises(ValueError, match="alpha"):
        smooth_onnx(tmp_path / "fp32.onnx", tmp_path / "s.onnx", [{"x": calibration}], alpha=1.5)
    with pytest.raises(ValueError, match="calibration batch"):
        smooth_onnx(tmp_path / "fp32.onnx", tmp_path / "s.onnx", [], alpha=0.5)


def test_smoothing_texts_are_the_clipped_comment_article_and_parent_of_sampled_rows() -> None:
    rows = [
        LabelledComment(id=str(i), source="tiny", split="train", thread_id="t", body=f"comment {i}", article_title="Trade talks", article_text="x" * 500, parent_body=f"parent {i}" if i % 2 else None)
        for i in range(10)
    ]
    tcfg = TransformerConfig(int8_calibration_rows=4, lead_chars=20)
    texts = smoothing_texts(rows, tcfg, seed=0)
    assert sum(t.startswith("comment ") for t in texts) == 4
    articles = [t for t in texts if t.startswith("Trade talks")]
    assert len(articles) == 1 and len(articles[0]) < 60  # one distinct article, its lead clipped as the scorer clips it
    assert texts == smoothing_texts(rows, tcfg, seed=0)


def test_a_weight_another_node_also_reads_is_left_alone(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(3).normal(size=(8, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="proj"), helper.make_node("Add", ["y", "w"], ["z"], name="tied")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 8])], [helper.make_tensor_value_info("z", TensorProto.FLOAT, [8, 8])],
        [numpy_helper.from_array(w, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "tied.onnx")
    x = np.random.default_rng(4).normal(size=(8, 8)).astype(np.float32)
    assert smooth_onnx(tmp_path / "tied.onnx", tmp_path / "s.onnx", [{"x": x}], alpha=0.8) == 0
    assert np.array_equal(run(tmp_path / "s.onnx", x)[0], run(tmp_path / "tied.onnx", x)[0])
