"""Per-token dynamic int8: each row of a MatMul's input gets its own scale, so a comment's score no longer depends on
what it is batched with, and an outlier in one token no longer coarsens every other token of the batch.

ONNX Runtime's dynamic quantisation (`quantize_dynamic`, DynamicQuantizeMatMul) takes one scale and zero point for a
MatMul's whole input tensor: every token of every comment in the batch, padding included. A comment's int8 embedding
then moves with its batch-mates (docs/benchmarks.md, "int8 activation smoothing": 1.7-4.1 % of decisions differ
alone and in a batch of 32), and the rounding step is set by the batch's largest activation. ONNX Runtime's
MatMulInteger accepts only one zero point for its first input, so this module writes the per-row scheme out in
standard ops around ONNX Runtime's MatMulIntegerToFloat (a contrib op of every CPU build), for every MatMul whose
second input is a 2-D weight:

    scale_r = (max(x_r, 0) - min(x_r, 0)) / 255,  zp_r = round(-min(x_r, 0) / scale_r)       (one row r = one token)
    q_r     = clip(round(x_r / scale_r) + zp_r, 0, 255)                                       (uint8)
    y_r     = scale_r * (w_scale * (q_r @ W_q) - zp_r * w_scale * colsum(W_q))              (W_q int8 per output column)

The only rounding is the activations' (per token) and the weights' (per output column, as the export's per-channel
int8). Activations are uint8 with a zero point rather than symmetric int8: ONNX Runtime 1.32's int8 x int8 kernel
ran the encoder 5 times slower than uint8 x int8, and GELU outputs, almost all positive, would waste half of int8's
range. MatMuls that share an input (query, key and value) share one quantisation of it. Embedding tables (Gather over
a 2-D weight) are stored int8 with a scale per row and per column, so the file stays as small as the export's.

Outlier channels (LLM.int8(), Dettmers et al. 2022): BERT's hidden states carry a few features far larger than the
rest in the same positions for every token, and a token's largest value sets its rounding step. With `outliers` = k,
the k input channels of each MatMul input with the largest magnitude on the calibration texts are taken out of the
quantised tensor (multiplied by 0) and go through a small fp32 MatMul of their own, added to the int8 result:

    y_r = int8_path(x_r with channels O zeroed) + x_r[O] @ W[O, :]                               (W[O, :] fp32)

The channels are fixed at export (they are a property of the weights, not of a comment), so the split is the same
for every comment and every batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUFFIX = "_tok8"


@dataclass(frozen=True)
class RowQuantised:
    """Names of one MatMul input quantised per row: q [rows, K] uint8, scale [rows, 1] float, the input's shape without
    its last axis (to restore the output's shape), and `correction` [rows, 1 + k] float: each row's -zero_point * scale
    beside its k fp32 outlier channels, the left factor of the correction every consumer adds in one Gemm."""

    q: str
    scale: str
    lead: str
    correction: str
    outliers: int = 0


def _const(graph, name: str, value: np.ndarray):  # type: ignore[no-untyped-def]
    from onnx import numpy_helper

    graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def round_int8(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output column, each weight rounded to its nearest step: (W_q [K, M] int8, scale [M] float32)."""
    scale = np.maximum(np.abs(weight).max(axis=0), 1e-12) / 127.0
    return np.clip(np.round(weight / scale), -127, 127).astype(np.int8), scale.astype(np.float32)


def _quantise_rows(graph, x: str, prefix: str, width: int, outliers: np.ndarray | None = None  # type: ignore[no-untyped-def]
                   ) -> tuple[list, RowQuantised]:
    """Nodes that quantise tensor `x` (last axis `width`) row by row, as a 2-D [rows, width] uint8 tensor; with
    `outliers` (channel indices), those channels are zeroed first and kept in fp32 as RowQuantised.outliers."""
    from onnx import helper

    n = prefix
    nodes = []
    outlier_name = None
    if outliers is not None and len(outliers):
        mask = np.ones(width, dtype=np.float32)
        mask[outliers] = 0.0
        kept = _const(graph, n + "kept_mask", mask)
        index = _const(graph, n + "outlier_index", outliers.astype(np.int64))
        outlier_shape = _const(graph, n + "outlier_shape2d", np.array([-1, len(outliers)], dtype=np.int64))
        nodes = [
            helper.make_node("Gather", [x, index], [n + "outliers_nd"], axis=-1, name=n + "Outliers"),
            helper.make_node("Reshape", [n + "outliers_nd", outlier_shape], [n + "outliers"], name=n + "OutliersFlatten"),
            helper.make_node("Mul", [x, kept], [n + "rest"], name=n + "Rest"),
        ]
        outlier_name, x = n + "outliers", n + "rest"
    count = 0 if outlier_name is None else len(outliers)  # type: ignore[arg-type]
    flat = _const(graph, n + "shape2d", np.array([-1, width], dtype=np.int64))
    column = _const(graph, n + "column", np.array([-1, 1], dtype=np.int64))
    zero = _const(graph, n + "zero", np.array(0.0, dtype=np.float32))
    levels = _const(graph, n + "levels", np.array(255.0, dtype=np.float32))
    tiny = _const(graph, n + "tiny", np.array(1e-12, dtype=np.float32))
    nodes += [
        helper.make_node("Shape", [x], [n + "lead"], end=-1, name=n + "Lead"),  # every axis but the last, to restore
        helper.make_node("Reshape", [x, flat], [n + "x2"], name=n + "Flatten"),
        helper.make_node("ReduceMax", [n + "x2"], [n + "max_raw"], axes=[1], keepdims=0, name=n + "ReduceMax"),
        helper.make_node("ReduceMin", [n + "x2"], [n + "min_raw"], axes=[1], keepdims=0, name=n + "ReduceMin"),
        helper.make_node("Max", [n + "max_raw", zero], [n + "max"], name=n + "Max0"),  # the range holds 0, so 0 is exact
        helper.make_node("Min", [n + "min_raw", zero], [n + "min"], name=n + "Min0"),
        helper.make_node("Sub", [n + "max", n + "min"], [n + "range"], name=n + "Range"),
        helper.make_node("Div", [n + "range", levels], [n + "scale_raw"], name=n + "ScaleRaw"),
        helper.make_node("Max", [n + "scale_raw", tiny], [n + "scale"], name=n + "Scale"),  # an all-zero row (padding)
        helper.make_node("Div", [n + "min", n + "scale"], [n + "min_steps"], name=n + "MinSteps"),
        helper.make_node("Neg", [n + "min_steps"], [n + "zp_f"], name=n + "ZpNeg"),
        helper.make_node("Round", [n + "zp_f"], [n + "zp_round"], name=n + "ZpRound"),
        helper.make_node("Cast", [n + "zp_round"], [n + "zp"], to=2, name=n + "Zp"),  # UINT8
        helper.make_node("QuantizeLinear", [n + "x2", n + "scale", n + "zp"], [n + "q"], axis=0, name=n + "Q"),
        helper.make_node("Reshape", [n + "scale", column], [n + "scale_column"], name=n + "ScaleColumn"),
        # -zp_r * scale_r, the factor of the zero points' rank-one correction (the rounded zero point QuantizeLinear used)
        helper.make_node("Mul", [n + "zp_round", n + "scale"], [n + "zp_scaled"], name=n + "ZpScaled"),
        helper.make_node("Neg", [n + "zp_scaled"], [n + "zp_scaled_neg"], name=n + "ZpScaledNeg"),
        helper.make_node("Reshape", [n + "zp_scaled_neg", column], [n + "zp_correction" if count else n + "correction"], name=n + "ZpCorrection"),
    ]
    if count:
        nodes.append(helper.make_node("Concat", [n + "zp_correction", outlier_name], [n + "correction"], axis=1, name=n + "Correction"))
    return nodes, RowQuantised(n + "q", n + "scale_column", n + "lead", n + "correction", count)


def _matmul_nodes(graph, node, x: RowQuantised, w_q: np.ndarray, w_scale: np.ndarray,  # type: ignore[no-untyped-def]
                  w_outliers: np.ndarray | None = None) -> list:
    """Nodes computing `node`'s output from the row-quantised input and the int8 weight W_q [K, M] with column scales,
    plus the outlier channels' fp32 product with their weight rows `w_outliers` [k, M] where the input has them."""
    from onnx import helper

    n = node.name.replace("/", "_").strip("_") + SUFFIX + "_"
    if x.outliers and (w_outliers is None or len(w_outliers) != x.outliers):
        raise ValueError(f"{n}: the input has {x.outliers} outlier channels; give their {x.outliers} fp32 weight rows")
    colsum = w_q.astype(np.int32).sum(axis=0)
    w_name = _const(graph, n + "W", w_q)
    w_scale_name = _const(graph, n + "w_scale", w_scale)
    # MatMulInteger takes one zero point for all of its first input, so q @ W_q * w_scale runs in one kernel with none
    # and the rows' zero points are taken off after: -zp_r * scale_r * colsum(W_q) * w_scale, a rank-one correction.
    # It and the outlier channels' fp32 product are one Gemm, [-zp_r * scale_r, x_r[O]] @ [colsum * w_scale; W[O, :]],
    # added to the row-scaled product as Gemm's C: one pass over the output for both.
    right = (colsum * w_scale)[None, :]
    if x.outliers:
        right = np.concatenate([right, w_outliers.astype(np.float32)])  # type: ignore[union-attr]
    correction = _const(graph, n + "correction_right", right.astype(np.float32))
    one = _const(graph, n + "one", np.array(1.0, dtype=np.float32))
    width = _const(graph, n + "width", np.array([w_q.shape[1]], dtype=np.int64))
    return [
        helper.make_node("MatMulIntegerToFloat", [x.q, w_name, one, w_scale_name], [n + "acc"], domain="com.microsoft", name=n + "MatMul"),
        helper.make_node("Mul", [n + "acc", x.scale], [n + "scaled"], name=n + "RowScale"),
        helper.make_node("Gemm", [x.correction, correction, n + "scaled"], [n + "y2"], name=n + "Correction"),
        helper.make_node("Concat", [x.lead, width], [n + "shape"], axis=0, name=n + "Shape"),
        helper.make_node("Reshape", [n + "y2", n + "shape"], [node.output[0]], name=n + "Restore"),
    ]


def _gather_nodes(graph, node, table: np.ndarray) -> list:  # type: ignore[no-untyped-def]
    """Nodes looking rows up in an int8 copy of an embedding table. Each feature (column) is first divided by its
    largest magnitude over the table, then each row gets its own int8 scale: a few features are far larger than the
    rest in every row, and with one scale per row alone they coarsened the others enough to change 0.6 % of decisions."""
    from onnx import helper

    n = node.name.replace("/", "_").strip("_") + SUFFIX + "_"
    columns = np.maximum(np.abs(table).max(axis=0), 1e-12)
    even = table / columns
    rows = np.maximum(np.abs(even).max(axis=1), 1e-12) / 127.0
    quantised = np.clip(np.round(even / rows[:, None]), -127, 127).astype(np.int8)
    table_name = _const(graph, n + "table", quantised)
    row_name = _const(graph, n + "row_scale", rows.astype(np.float32)[:, None])
    column_name = _const(graph, n + "column_scale", columns.astype(np.float32))
    ids = node.input[1]
    return [
        helper.make_node("Gather", [table_name, ids], [n + "rows_q"], axis=0, name=n + "Gather"),
        helper.make_node("Gather", [row_name, ids], [n + "rows_scale"], axis=0, name=n + "GatherScale"),
        helper.make_node("Cast", [n + "rows_q"], [n + "rows_f"], to=1, name=n + "Float"),
        helper.make_node("Mul", [n + "rows_f", n + "rows_scale"], [n + "rows_even"], name=n + "RowScale"),
        helper.make_node("Mul", [n + "rows_even", column_name], [node.output[0]], name=n + "ColumnScale"),
    ]


def outlier_channels(maxima: Mapping[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
    """{MatMul input: the indices (sorted) of its k channels with the largest magnitude}, from each input's per-channel
    max |x| on the calibration batches (training.gptq.input_statistics)."""
    return {name: np.sort(np.argsort(peak)[::-1][: min(k, len(peak))]) for name, peak in maxima.items()}


def _gather_axis(node) -> int:  # type: ignore[no-untyped-def]
    return next((a.i for a in node.attribute if a.name == "axis"), 0)


def quantize_per_token(source: Path, dest: Path, batches: Iterable[Mapping[str, np.ndarray]] | None = None, *, outliers: int = 0) -> int:
    """Write `source` (an fp32 ONNX graph) to `dest` with every weighted MatMul quantised per token and every embedding
    table per row and column; returns how many MatMuls were rewritten. With calibration `batches` (the graph's inputs),
    weights are rounded by GPTQ on those inputs (training/gptq.py), else each to its nearest step. With `outliers` = k,
    each MatMul input's k largest channels on the batches stay fp32 (the module docstring). The graph's inputs and
    outputs keep their names and types."""
    import onnx
    from onnx import numpy_helper

    from training.gptq import InputStatistics, gptq_int8, input_statistics

    model = onnx.load(str(source))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if not 13 <= opset <= 17:  # ReduceMax/ReduceMin take axes as an attribute up to opset 17; MatMulInteger needs 10+
        raise ValueError(f"per-token int8 writes opset 13-17 reductions; {source} is opset {opset}")
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}

    def weight_of(name: str) -> np.ndarray | None:
        return numpy_helper.to_array(initializers[name]) if is_weight(name) else None

    def is_weight(name: str) -> bool:
        tensor = initializers.get(name)
        return tensor is not None and len(tensor.dims) == 2 and tensor.data_type == onnx.TensorProto.FLOAT

    if outliers < 0:
        raise ValueError(f"outliers must be 0 or more, got {outliers}")
    if outliers and batches is None:
        raise ValueError("outlier channels are chosen on calibration batches; none were given")
    batches = list(batches) if batches is not None else None
    weighted = [n for n in graph.node if n.op_type == "MatMul" and is_weight(n.input[1])]
    inputs = sorted({n.input[0] for n in weighted})
    # one run of the calibration graph gives GPTQ's Grams and the outlier channels' maxima
    statistics = input_statistics(source, inputs, batches) if batches is not None else InputStatistics({}, {})
    grams = statistics.grams
    chosen = outlier_channels(statistics.maxima, outliers) if outliers else {}
    quantised_inputs: dict[str, RowQuantised] = {}
    new_nodes: list = []
    replaced: set[str] = set()  # initializers no longer read
    rewritten = 0
    for node in graph.node:
        if node.op_type == "MatMul" and (weight := weight_of(node.input[1])) is not None:
            x = node.input[0]
            split = chosen.get(x)
            if x not in quantised_inputs:
                prefix = x.replace("/", "_").strip("_").replace(":", "_") + SUFFIX + "_in_"
                nodes, quantised_inputs[x] = _quantise_rows(graph, x, prefix, weight.shape[0], split)
                new_nodes += nodes
            w_outliers = None
            gram = grams.get(x)
            if split is not None:
                # the int8 path sees those channels as 0: their weight rows are taken out of it (so they no longer set
                # the columns' int8 scales) and GPTQ sees them as never active
                w_outliers = weight[split].copy()
                weight = weight.copy()
                weight[split] = 0.0
                if gram is not None:
                    gram = gram.copy()
                    gram[split, :] = 0.0
                    gram[:, split] = 0.0
            w_q, w_scale = gptq_int8(weight, gram) if gram is not None else round_int8(weight)
            new_nodes += _matmul_nodes(graph, node, quantised_inputs[x], w_q, w_scale, w_outliers)
            replaced.add(node.input[1])
            rewritten += 1
        elif node.op_type == "Gather" and _gather_axis(node) == 0 and (table := weight_of(node.input[0])) is not None:
            new_nodes += _gather_nodes(graph, node, table)
            replaced.add(node.input[0])
        else:
            new_nodes.append(node)
    still_read = {name for node in new_nodes for name in node.input}
    keep = [t for t in graph.initializer if t.name not in replaced or t.name in still_read]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    del graph.node[:]
    graph.node.extend(new_nodes)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))  # MatMulIntegerToFloat
    onnx.checker.check_model(model)
    onnx.save(model, str(dest))
    return rewritten
