"""The int8 agreement bench's variants pick the MatMul groups their names say, from the export's node names."""

from __future__ import annotations

from bench.int8_agreement import exclusion_groups
from serving.transformer import cpu_session

PROJECTIONS = ("attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense", "intermediate/dense", "output/dense")
NODES = [f"/encoder/encoder/layer.{i}/{p}/MatMul" for i in range(6) for p in PROJECTIONS]


def test_each_variant_leaves_its_group_and_only_it_in_fp32() -> None:
    groups = dict(exclusion_groups(NODES))
    assert groups["all int8 (the export)"] == []
    assert groups["FFN output projections fp32"] == [f"/encoder/encoder/layer.{i}/output/dense/MatMul" for i in range(6)]
    assert groups["FFN input projections fp32"] == [f"/encoder/encoder/layer.{i}/intermediate/dense/MatMul" for i in range(6)]
    assert groups["attention output projections fp32"] == [f"/encoder/encoder/layer.{i}/attention/output/dense/MatMul" for i in range(6)]
    assert len(groups["query/key/value fp32"]) == 18 and all("/self/" in n for n in groups["query/key/value fp32"])
    assert {n.split("/")[3] for n in groups["layers 0-1 fp32"]} == {"layer.0", "layer.1"} and len(groups["layers 0-1 fp32"]) == 12
    assert {n.split("/")[3] for n in groups["layers 4-5 fp32"]} == {"layer.4", "layer.5"} and len(groups["layers 4-5 fp32"]) == 12


def test_weight_only_variant_stores_8_bit_blocks_and_stays_close_to_fp32(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from bench.int8_agreement import quantize_weight_only

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(64, 32)).astype(np.float32)
    weight[:, 3] *= 20  # an outlier column, as trained projections have
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="proj/MatMul")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 32])],
        [numpy_helper.from_array(weight, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "fp32.onnx")
    quantize_weight_only(tmp_path / "fp32.onnx", tmp_path / "w8.onnx")
    assert [n.op_type for n in onnx.load(str(tmp_path / "w8.onnx")).graph.node] == ["MatMulNBits"]
    x = rng.normal(size=(8, 64)).astype(np.float32)
    y = cpu_session(tmp_path / "w8.onnx").run(None, {"x": x})[0]
    assert np.abs(y - x @ weight).max() < 0.02 * np.abs(x @ weight).max()


def test_batch_consistency_counts_decisions_that_change_with_batch_mates() -> None:
    from types import SimpleNamespace

    from bench.int8_smoothing import batch_consistency

    class BatchSensitive:
        """Flags row 3 only when it is scored alone, as an int8 scale taken from the batch can."""

        def score(self, rows):  # type: ignore[no-untyped-def]
            return [SimpleNamespace(decision="review" if row == 3 and len(rows) == 1 else "allow") for row in rows]

    assert batch_consistency(BatchSensitive(), list(range(10)), batch=4) == 0.9  # type: ignore[arg-type]
