"""Per-token int8 keeps each row's result independent of its batch, stays close to fp32, and stores weights in int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serving.transformer import cpu_session
from training.export import quantize_int8
from training.token_int8 import quantize_per_token

VOCAB, WIDTH, HIDDEN = 50, 64, 96


def encoder_like_graph(path: Path, rng: np.random.Generator, opset: int = 17) -> None:
    """ids [b, t] -> embedding lookup -> (x @ wq, x @ wk share x) -> gelu-ish -> @ w2: the shapes a BERT layer has."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = rng.normal(size=(VOCAB, WIDTH)).astype(np.float32)
    wq, wk = (rng.normal(size=(WIDTH, HIDDEN)).astype(np.float32) for _ in range(2))
    w2 = rng.normal(size=(HIDDEN, WIDTH)).astype(np.float32)
    reduce = [helper.make_node("ReduceMean", ["x"], ["mean"], axes=[2], keepdims=0, name="mean")] if opset <= 17 else \
        [helper.make_node("ReduceMean", ["x", "axes"], ["mean"], keepdims=0, name="mean")]
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["x"], axis=0, name="embeddings/Gather"),
            helper.make_node("MatMul", ["x", "wq"], ["q"], name="query/MatMul"),
            helper.make_node("MatMul", ["x", "wk"], ["k"], name="key/MatMul"),
            helper.make_node("Add", ["q", "k"], ["h"], name="add"),
            helper.make_node("Relu", ["h"], ["r"], name="relu"),
            helper.make_node("MatMul", ["r", "w2"], ["y"], name="output/MatMul"),
            *reduce,
        ],
        "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["b", "t"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", WIDTH]), helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["b", "t"])],
        [numpy_helper.from_array(w, name) for w, name in ((table, "table"), (wq, "wq"), (wk, "wk"), (w2, "w2"))]
        + [numpy_helper.from_array(np.array([2], dtype=np.int64), "axes")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def run(path: Path, ids: np.ndarray) -> np.ndarray:
    return cpu_session(path).run(["y"], {"ids": ids})[0]


@pytest.fixture()
def graphs(tmp_path: Path) -> tuple[Path, Path, Path]:
    encoder_like_graph(tmp_path / "fp32.onnx", np.random.default_rng(0))
    assert quantize_per_token(tmp_path / "fp32.onnx", tmp_path / "token.onnx") == 3
    quantize_int8(tmp_path / "fp32.onnx", tmp_path / "tensor.onnx", per_channel=True)
    return tmp_path / "fp32.onnx", tmp_path / "token.onnx", tmp_path / "tensor.onnx"


def test_a_row_scores_the_same_alone_as_in_a_batch(graphs: tuple[Path, Path, Path]) -> None:
    _, token, tensor = graphs
    ids = np.random.default_rng(1).integers(0, VOCAB, size=(8, 12))
    batch = run(token, ids)
    alone = np.concatenate([run(token, ids[i : i + 1]) for i in range(len(ids))])
    assert np.abs(batch - alone).max() <= 1e-5 * np.abs(batch).max()
    # ONNX Runtime's per-tensor scheme takes its scale from the whole batch, so there a row's result moves with it
    per_tensor = run(tensor, ids)
    per_tensor_alone = np.concatenate([run(tensor, ids[i : i + 1]) for i in range(len(ids))])
    assert np.abs(per_tensor - per_tensor_alone).max() > 1e-3 * np.abs(per_tensor).max()


def projection_graph(path: Path, weight: np.ndarray) -> None:
    """y = x @ w over activations x [b, t, K]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="proj/MatMul")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", weight.shape[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", weight.shape[1]])], [numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def run_x(path: Path, x: np.ndarray) -> np.ndarray:
    return cpu_session(path).run(None, {"x": x})[0]


def test_one_loud_token_coarsens_only_itself(tmp_path: Path) -> None:
    """The error on the quiet tokens of a batch stays small per token, where one scale for the batch loses them."""
    rng = np.random.default_rng(2)
    projection_graph(tmp_path / "p.onnx", rng.normal(size=(WIDTH, HIDDEN)).astype(np.float32))
    quantize_per_token(tmp_path / "p.onnx", tmp_path / "token.onnx")
    quantize_int8(tmp_path / "p.onnx", tmp_path / "tensor.onnx", per_channel=True)
    x = rng.normal(size=(4, 10, WIDTH)).astype(np.float32)
    x[0, 0] *= 50  # one token 50 times louder than the rest of the batch
    quiet = np.ones((4, 10), dtype=bool)
    quiet[0, 0] = False
    reference = run_x(tmp_path / "p.onnx", x)[quiet]
    token_error = np.linalg.norm(run_x(tmp_path / "token.onnx", x)[quiet] - reference) / np.linalg.norm(reference)
    tensor_error = np.linalg.norm(run_x(tmp_path / "tensor.onnx", x)[quiet] - reference) / np.linalg.norm(reference)
    assert token_error < 0.02 and token_error < tensor_error / 5, (token_error, tensor_error)


def test_gptq_rounding_tracks_the_calibration_inputs_closer_than_nearest_rounding(tmp_path: Path) -> None:
    """Inputs that fill few directions (as a layer's activations do): GPTQ moves each row's rounding error onto rows still
    to round, along directions the inputs never take."""
    rng = np.random.default_rng(5)
    weight = rng.normal(size=(WIDTH, HIDDEN)).astype(np.float32)
    projection_graph(tmp_path / "p.onnx", weight)
    directions = rng.normal(size=(8, WIDTH))

    def inputs(n: int) -> np.ndarray:
        return (rng.normal(size=(n, 8, 8)) @ directions + 0.1 * rng.normal(size=(n, 8, WIDTH))).astype(np.float32)

    quantize_per_token(tmp_path / "p.onnx", tmp_path / "nearest.onnx")
    quantize_per_token(tmp_path / "p.onnx", tmp_path / "gptq.onnx", [{"x": inputs(16)} for _ in range(4)])
    x = inputs(16)  # unseen inputs from the same distribution
    reference = x @ weight
    nearest = np.linalg.norm(run_x(tmp_path / "nearest.onnx", x) - reference)
    gptq = np.linalg.norm(run_x(tmp_path / "gptq.onnx", x) - reference)
    assert gptq < 0.8 * nearest, (nearest, gptq)  # the activations' own per-token rounding is in both


def test_embedding_rows_keep_their_quiet_features_beside_loud_ones(tmp_path: Path) -> None:
    """A feature far larger than the rest in every row (as BERT's tables carry) must not coarsen the others."""
    rng = np.random.default_rng(6)
    encoder_like_graph(tmp_path / "fp32.onnx", rng)
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(tmp_path / "fp32.onnx"))
    tensor = next(t for t in model.graph.initializer if t.name == "table")
    table = numpy_helper.to_array(tensor).copy()
    table[:, 7] *= 40
    tensor.CopyFrom(numpy_helper.from_array(table, "table"))
    onnx.save(model, tmp_path / "loud.onnx")
    quantize_per_token(tmp_path / "loud.onnx", tmp_path / "token.onnx")
    ids = np.arange(VOCAB, dtype=np.int64)[None, :]
    token_model = onnx.load(str(tmp_path / "token.onnx"))
    token_model.graph.output.append(onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None))
    looked_up = cpu_session(token_model.SerializeToString()).run(["x"], {"ids": ids})[0][0]
    quiet = np.delete(np.arange(WIDTH), 7)
    error = np.abs(looked_up[:, quiet] - table[:, quiet]).max()
    assert error < 0.01 * np.abs(table[:, quiet]).max(), error  # a row scale alone would leave steps of 40/127 of them


def test_weights_are_int8_and_a_shared_input_is_quantised_once(graphs: tuple[Path, Path, Path]) -> None:
    import onnx

    fp32, token, _ = graphs
    model = onnx.load(str(token))
    ops = [n.op_type for n in model.graph.node]
    assert "MatMul" not in ops and ops.count("MatMulIntegerToFloat") == 3
    assert ops.count("QuantizeLinear") == 2  # x (read by query and key) and r
    floats = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2 and min(t.dims) > 1]
    assert floats == []  # every weight matrix and the embedding table are stored as int8
    assert token.stat().st_size < 0.4 * fp32.stat().st_size  # weights a quarter of fp32, plus scales and the graph
    assert [o.name for o in model.graph.output] == ["y", "mean"] and [i.name for i in model.graph.input] == ["ids"]


def test_an_all_zero_row_stays_zero(tmp_path: Path) -> None:
    """Padding rows can be all zero: their scale must not divide by zero."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(3).normal(size=(8, 4)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="proj")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
                              [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "p.onnx")
    quantize_per_token(tmp_path / "p.onnx", tmp_path / "p8.onnx")
    x = np.zeros((3, 8), dtype=np.float32)
    x[1] = np.linspace(-1, 2, 8)
    y = cpu_session(tmp_path / "p8.onnx").run(None, {"x": x})[0]
    assert np.all(np.isfinite(y)) and np.all(y[[0, 2]] == 0)
    assert np.abs(y[1] - x[1] @ w).max() < 0.02 * np.abs(x[1] @ w).max()


def test_graphs_it_cannot_rewrite_are_refused(tmp_path: Path) -> None:
    encoder_like_graph(tmp_path / "opset18.onnx", np.random.default_rng(4), opset=18)
    with pytest.raises(ValueError, match="opset 18"):
        quantize_per_token(tmp_path / "opset18.onnx", tmp_path / "x.onnx")
    encoder_like_graph(tmp_path / "fp32.onnx", np.random.default_rng(4))
    with pytest.raises(ValueError, match="no exclusions"):
        quantize_int8(tmp_path / "fp32.onnx", tmp_path / "x.onnx", per_channel=True, exclude=["query/MatMul"], activations="per_token")


def test_outlier_channels_stay_fp32_and_stop_coarsening_the_rest(tmp_path: Path) -> None:
    """Two features far larger than the rest in every token (as BERT's hidden states carry): kept out of the int8 input,
    they no longer set every token's rounding step, and the rest of the product is rounded as finely as without them."""
    rng = np.random.default_rng(7)
    weight = rng.normal(size=(WIDTH, HIDDEN)).astype(np.float32)
    projection_graph(tmp_path / "p.onnx", weight)
    loud = [3, 40]

    def inputs(n: int) -> np.ndarray:
        x = rng.normal(size=(n, 6, WIDTH)).astype(np.float32)
        x[..., loud] *= 60
        return x

    calibration = [{"x": inputs(8)} for _ in range(3)]
    quantize_per_token(tmp_path / "p.onnx", tmp_path / "plain.onnx", calibration)
    quantize_per_token(tmp_path / "p.onnx", tmp_path / "split.onnx", calibration, outliers=2)
    x = inputs(8)
    reference = x @ weight
    plain = np.linalg.norm(run_x(tmp_path / "plain.onnx", x) - reference) / np.linalg.norm(reference)
    split = np.linalg.norm(run_x(tmp_path / "split.onnx", x) - reference) / np.linalg.norm(reference)
    assert split < plain / 5, (plain, split)

    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(tmp_path / "split.onnx"))
    index = next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith("outlier_index"))
    assert index.tolist() == loud  # the loud channels, found on the calibration inputs
    fp32_weights = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2 and min(t.dims) > 1]
    # only the two outlier rows of W stay fp32, beneath the zero points' correction row
    assert [tuple(t.dims) for t in fp32_weights] == [(1 + 2, HIDDEN)]
    assert np.array_equal(numpy_helper.to_array(fp32_weights[0])[1:], weight[loud])


def test_outlier_split_keeps_a_row_the_same_alone_as_in_a_batch(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    encoder_like_graph(tmp_path / "fp32.onnx", rng)
    ids = rng.integers(0, VOCAB, size=(8, 12))
    quantize_per_token(tmp_path / "fp32.onnx", tmp_path / "split.onnx", [{"ids": ids[:4]}], outliers=4)
    batch = run(tmp_path / "split.onnx", ids)
    alone = np.concatenate([run(tmp_path / "split.onnx", ids[i : i + 1]) for i in range(len(ids))])
    assert np.abs(batch - alone).max() <= 1e-5 * np.abs(batch).max()
    fp32 = run(tmp_path / "fp32.onnx", ids)
    assert np.abs(batch - fp32).max() < 0.05 * np.abs(fp32).max()


def test_grams_and_outlier_maxima_come_from_one_run_of_the_calibration_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GPTQ's Grams and the outlier channels' maxima are gathered in one pass: each calibration batch runs once."""
    import training.smoothing

    rng = np.random.default_rng(9)
    encoder_like_graph(tmp_path / "fp32.onnx", rng)
    calibration = [{"ids": rng.integers(0, VOCAB, size=(4, 12))} for _ in range(3)]
    runs: list[int] = []
    real = training.smoothing.intermediate_tensors

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        for batch, outputs in real(*args, **kwargs):
            runs.append(1)
            yield batch, outputs

    monkeypatch.setattr(training.smoothing, "intermediate_tensors", counted)
    quantize_per_token(tmp_path / "fp32.onnx", tmp_path / "split.onnx", calibration, outliers=4)
    assert len(runs) == len(calibration)


def test_outlier_channels_need_calibration_inputs(tmp_path: Path) -> None:
    projection_graph(tmp_path / "p.onnx", np.ones((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="calibration batches"):
        quantize_per_token(tmp_path / "p.onnx", tmp_path / "x.onnx", outliers=2)
    with pytest.raises(ValueError, match="0 or more"):
        quantize_per_token(tmp_path / "p.onnx", tmp_path / "x.onnx", [{"x": np.ones((1, 2, 4), dtype=np.float32)}], outliers=-1)


def test_the_smoothed_export_passes_outlier_channels_to_the_per_token_graph(tmp_path: Path) -> None:
    import onnx

    from training.export import quantize_smoothed_int8

    rng = np.random.default_rng(9)
    encoder_like_graph(tmp_path / "fp32.onnx", rng)
    ids = rng.integers(0, VOCAB, size=(4, 12))
    quantize_smoothed_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", [{"ids": ids}], alpha=0.65, per_channel=True,
                           activations="per_token", outlier_channels=3)
    graph = onnx.load(str(tmp_path / "int8.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("MatMulIntegerToFloat") == 3 and ops.count("Gemm") == 3  # each int8 product, corrected beside its outliers' fp32 one
    corrections = [t for t in graph.initializer if t.name.endswith("correction_right")]
    assert sorted(t.dims[0] for t in corrections) == [1 + 3] * 3  # the zero points' row and 3 outlier rows of each weight
    with pytest.raises(ValueError, match="per-token int8 option"):
        quantize_int8(tmp_path / "fp32.onnx", tmp_path / "x.onnx", per_channel=True, outlier_channels=3)
