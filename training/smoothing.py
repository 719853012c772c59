"""Activation smoothing before dynamic int8: move per-channel activation outliers into the weights.

Dynamic quantisation rounds each MatMul's whole input tensor on one scale, so a few outlier features (BERT's
LayerNorm outputs carry some 10-50x larger than the rest) coarsen every other feature. SmoothQuant (Xiao et al.,
2023) divides input channel j by s_j and multiplies row j of the weight by s_j: exact in fp32, with
s_j = max|X_j|^alpha / max|W_j|^(1-alpha) measured on calibration inputs. BERT is post-LayerNorm, so the
division cannot be folded into the LayerNorm (its output is also the residual); it becomes one explicit Mul per
distinct MatMul input, an elementwise op that costs little beside the MatMuls it feeds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

SMOOTH_SUFFIX = "_smoothed"


def _weighted_matmuls(graph) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    """{activation input name: [positions in graph.node]} of every MatMul whose second input is a 2-D weight initializer
    that no other node reads (rescaling a shared weight would change its other uses)."""
    reads = Counter(name for node in graph.node for name in node.input)
    weights = {t.name for t in graph.initializer if len(t.dims) == 2 and reads[t.name] == 1}
    groups: dict[str, list[int]] = defaultdict(list)
    for position, node in enumerate(graph.node):
        if node.op_type == "MatMul" and node.input[1] in weights:
            groups[node.input[0]].append(position)
    return dict(groups)


def intermediate_tensors(model_path: Path, names: Sequence[str], batches: Iterable[Mapping[str, np.ndarray]]
                         ) -> Iterator[tuple[Mapping[str, np.ndarray], list[np.ndarray]]]:
    """(batch, the named tensors' values) for each calibration batch, the graph run with those tensors as extra outputs."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    known = {o.name for o in model.graph.output}
    for name in names:
        if name not in known:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every named tensor alive
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    for batch in batches:
        yield batch, session.run(list(names), {k: v for k, v in batch.items() if k in inputs})


def activation_maxima(model_path: Path, names: Iterable[str], batches: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-channel max |x| of the named tensors over the calibration batches (padding included: the quantiser sees it too)."""
    names = list(names)
    maxima: dict[str, np.ndarray] = {}
    for _, outputs in intermediate_tensors(model_path, names, batches):
        for name, value in zip(names, outputs, strict=True):
            peak = np.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
            maxima[name] = np.maximum(maxima[name], peak) if name in maxima else peak
    if not maxima:
        raise ValueError("activation smoothing needs at least one calibration batch")
    return maxima


def smooth_onnx(source: Path, dest: Path, batches: Iterable[Mapping[str, np.ndarray]], *, alpha: float = 0.5) -> int:
    """Write `source` with every weighted MatMul input smoothed to `dest`; returns how many inputs were smoothed.

    The fp32 function is unchanged (up to float rounding); only what int8 quantisation loses changes.
    """
    import onnx
    from onnx import numpy_helper

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    model = onnx.load(str(source))
    graph = model.graph
    groups = _weighted_matmuls(graph)
    if not groups:  # nothing to smooth: the graph as it is
        onnx.save(model, str(dest))
        return 0
    maxima = activation_maxima(source, groups, batches)
    weights = {t.name: t for t in graph.initializer}
    inserts: list[tuple[int, onnx.NodeProto]] = []
    for name, positions in groups.items():
        nodes = [graph.node[i] for i in positions]
        matrices = [numpy_helper.to_array(weights[n.input[1]]) for n in nodes]
        w_peak = np.max([np.abs(m).max(axis=1) for m in matrices], axis=0)
        scale = np.power(np.maximum(maxima[name], 1e-5), alpha) / np.power(np.maximum(w_peak, 1e-5), 1.0 - alpha)
        scale = np.clip(scale, 1e-2, 1e2).astype(np.float32)
        smoothed = name + SMOOTH_SUFFIX
        inverse = numpy_helper.from_array((1.0 / scale).astype(np.float32), smoothed + "_inv_scale")
        graph.initializer.append(inverse)
        for node, matrix in zip(nodes, matrices, strict=True):
            weights[node.input[1]].CopyFrom(numpy_helper.from_array((matrix * scale[:, None]).astype(np.float32), node.input[1]))
            node.input[0] = smoothed
        # the Mul goes just before the first MatMul that reads it, which keeps graph.node topologically sorted
        inserts.append((min(positions), onnx.helper.make_node("Mul", [name, inverse.name], [smoothed], name=smoothed)))
    for index, node in sorted(inserts, key=lambda pair: pair[0], reverse=True):
        graph.node.insert(index, node)
    onnx.save(model, str(dest))
    return len(groups)
