"""The int8 agreement bench's variants pick the MatMul groups their names say, from the export's node names."""

from __future__ import annotations

from bench.int8_agreement import exclusion_groups

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
