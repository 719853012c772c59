"""Fewer passes over memory around per-token int8's MatMuls (training/token_int8.py), which ONNX Runtime does not fuse.

Profiled on batches of 32 Kaggle comments (one thread), the int8 products themselves took 16 % of the encoder's time;
the elementwise ops around them took more, each one a full pass over a [tokens, width] tensor. Two of those passes
carry no arithmetic of their own and are folded away here, on the finished int8 graph:

1. **Smoothing and the outlier mask in one Mul.** Activation smoothing (training/smoothing.py) multiplies a MatMul's
   input by a constant per channel (1/s), then per-token int8 multiplies it again by a 0/1 mask that takes the outlier
   channels out of the int8 path. One Mul by (1/s) * mask gives the same tensor to the bit (a product with 1 or 0 is
   exact). The outlier channels are then gathered before smoothing, so their fp32 weight rows take the 1/s instead.
2. **The linear's bias inside the correction Gemm.** Each int8 MatMul ends in one Gemm that adds the zero points' and
   outlier channels' correction to the row-scaled product; the bias Add after it was one more pass. The Gemm's left
   factor gains a column of ones and its right factor the bias as a row, so the Gemm adds the bias in the same pass.

The int8 weights and their scales stay as they were, and activations are rounded the same way; only the order of some
fp32 additions and products changes, which can move a rare activation of a later layer across a rounding step
(docs/benchmarks.md, "Fused int8 epilogues"). Fusing a fused graph finds nothing more to fuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.token_int8 import SUFFIX

CORRECTION = SUFFIX + "_Correction"  # the Gemm ending each int8 MatMul (token_int8._matmul_nodes)
RESTORE = SUFFIX + "_Restore"  # the Reshape back to the MatMul's output shape after it
REST = SUFFIX + "_in_Rest"  # the Mul zeroing an input's outlier channels (token_int8._quantise_rows)
OUTLIERS = SUFFIX + "_in_Outliers"  # the Gather taking those channels out in fp32


@dataclass(frozen=True)
class FusedEpilogues:
    """How many of each fusion a graph took."""

    smoothing_masks: int
    biases: int

    def record(self) -> dict[str, int]:
        return {"smoothing_masks": self.smoothing_masks, "biases": self.biases}


class _Graph:
    """A graph's initializers by name, and which node makes each tensor."""

    def __init__(self, graph) -> None:  # type: ignore[no-untyped-def]
        from onnx import numpy_helper

        self.graph = graph
        self.numpy_helper = numpy_helper
        self.initializers = {t.name: t for t in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output}

    def array(self, name: str) -> np.ndarray:
        return self.numpy_helper.to_array(self.initializers[name])

    def constant(self, name: str) -> np.ndarray | None:
        return self.array(name) if name in self.initializers else None

    def set(self, name: str, value: np.ndarray) -> None:
        tensor = self.numpy_helper.from_array(np.ascontiguousarray(value), name)
        if name in self.initializers:
            self.initializers[name].CopyFrom(tensor)
        else:
            self.graph.initializer.append(tensor)
            self.initializers[name] = self.graph.initializer[-1]

    def consumers(self, tensor: str) -> list:
        return [node for node in self.graph.node if tensor in node.input]


def _per_channel_scale(g: _Graph, node, width: int) -> tuple[str, np.ndarray] | None:  # type: ignore[no-untyped-def]
    """(unscaled input, scale) when `node` multiplies a tensor by a constant vector of `width` (smoothing's 1/s)."""
    if node is None or node.op_type != "Mul":
        return None
    for const, other in ((1, 0), (0, 1)):
        value = g.constant(node.input[const])
        if value is not None and value.shape == (width,):
            return node.input[other], value
    return None


def _fuse_smoothing_masks(g: _Graph, gemms_by_left: dict[str, list]) -> tuple[int, dict[int, object]]:
    """(how many, the nodes to drop by id): nodes are told apart by identity, since a graph's names may be empty; the
    dict holds them, so protobuf hands back the same Python object for each while the fusion runs."""
    outputs = {o.name for o in g.graph.output}
    fused, dropped = 0, {}
    for rest in [n for n in g.graph.node if n.op_type == "Mul" and n.name.endswith(REST)]:
        smoothed, mask_name = rest.input
        mask = g.constant(mask_name)
        if mask is None or mask.ndim != 1:
            continue
        found = _per_channel_scale(g, g.producer.get(smoothed), len(mask))
        prefix = rest.name.removesuffix("Rest")
        gathers = [n for n in g.consumers(smoothed) if n.name == prefix + "Outliers"]
        if found is None or len(gathers) != 1:
            continue
        raw, inv_scale = found
        index = g.array(gathers[0].input[1]).astype(np.int64)
        g.set(mask_name, (inv_scale * mask).astype(np.float32))
        rest.input[0] = raw
        gathers[0].input[0] = raw
        # the outlier channels now arrive unsmoothed: their weight rows (rows 1..k of each correction Gemm's right
        # factor, after the zero points' row) take the 1/s the activations no longer carry
        for gemm in gemms_by_left.get(prefix + "correction", []):
            right = g.array(gemm.input[1]).copy()
            right[1 : 1 + len(index)] *= inv_scale[index][:, None]
            g.set(gemm.input[1], right.astype(np.float32))
        if not g.consumers(smoothed) and smoothed not in outputs:  # read by nothing else: the smoothing Mul itself goes
            dropped[id(g.producer[smoothed])] = g.producer[smoothed]
        fused += 1
    return fused, dropped


def _fuse_biases(g: _Graph, gemms_by_left: dict[str, list]) -> tuple[int, dict[int, object], dict[str, list]]:
    """(how many, the bias Adds to drop by id, {left factor: the nodes that append its ones column})"""
    from onnx import helper

    outputs = {o.name for o in g.graph.output}
    fused, dropped = 0, {}
    with_ones: dict[str, str] = {}
    ones_nodes: dict[str, list] = {}
    for left, gemms in gemms_by_left.items():
        for gemm in gemms:
            restores = [n for n in g.consumers(gemm.output[0]) if n.name.endswith(RESTORE)]
            if len(restores) != 1 or restores[0].output[0] in outputs:
                continue
            adds = g.consumers(restores[0].output[0])
            if len(adds) != 1 or adds[0].op_type != "Add":
                continue
            add = adds[0]
            other = next((i for i in add.input if i != restores[0].output[0]), None)
            bias = g.constant(other) if other else None
            right = g.array(gemm.input[1])
            if bias is None or bias.shape != (right.shape[1],):
                continue
            if left not in with_ones:
                name = left + "_ones"
                one = g.numpy_helper.from_array(np.array([1.0], dtype=np.float32))
                g.set(name + "_width", np.array([1], dtype=np.int64))
                ones_nodes[left] = [
                    helper.make_node("Shape", [left], [name + "_rows"], end=1, name=name + "Rows"),
                    helper.make_node("Concat", [name + "_rows", name + "_width"], [name + "_shape"], axis=0, name=name + "Shape"),
                    helper.make_node("ConstantOfShape", [name + "_shape"], [name + "_column"], value=one, name=name + "Column"),
                    helper.make_node("Concat", [left, name + "_column"], [name], axis=1, name=name + "Concat"),
                ]
                with_ones[left] = name
            g.set(gemm.input[1], np.vstack([right, bias[None, :]]).astype(np.float32))
            gemm.input[0] = with_ones[left]
            restores[0].output[0] = add.output[0]
            dropped[id(add)] = add
            fused += 1
    # a Gemm reading a left factor that gained the ones column but had no bias of its own adds a row of zeros
    for left, name in with_ones.items():
        for gemm in gemms_by_left[left]:
            if gemm.input[0] != name:
                right = g.array(gemm.input[1])
                g.set(gemm.input[1], np.vstack([right, np.zeros((1, right.shape[1]), dtype=np.float32)]))
                gemm.input[0] = name
    return fused, dropped, ones_nodes


def fuse_epilogues(model) -> FusedEpilogues:  # type: ignore[no-untyped-def]
    """Fold smoothing into the outlier mask and each bias into its correction Gemm, in place (the module docstring)."""
    g = _Graph(model.graph)
    gemms_by_left: dict[str, list] = {}
    for node in model.graph.node:
        if node.op_type == "Gemm" and node.name.endswith(CORRECTION):
            gemms_by_left.setdefault(node.input[0], []).append(node)
    masks, dropped = _fuse_smoothing_masks(g, gemms_by_left)
    biases, dropped_adds, ones_nodes = _fuse_biases(g, gemms_by_left)
    dropped.update(dropped_adds)
    if not dropped and not ones_nodes:
        return FusedEpilogues(masks, biases)
    # each ones column goes right after the node that makes its left factor, so graph.node stays topologically sorted
    # (rewired inputs only point earlier: the unsmoothed tensor, and the Add's output now made by the Restore before it)
    after = {id(g.producer[left]): nodes for left, nodes in ones_nodes.items()}
    ordered = []
    for node in model.graph.node:
        if id(node) not in dropped:
            ordered += [node, *after.get(id(node), [])]
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    read = {name for node in ordered for name in node.input}
    kept = [t for t in model.graph.initializer if t.name in read]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return FusedEpilogues(masks, biases)


def fuse_int8_file(source: Path, dest: Path) -> FusedEpilogues:
    """Write `source` (a per-token int8 graph) to `dest` with its epilogues fused; refused when it has none to fuse,
    so a recipe that asks for fusion never ships a graph that was not."""
    import onnx

    from threadguard.errors import ArtifactError

    try:
        model = onnx.load(str(source))
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends: say which file, not how protobuf failed
        raise ArtifactError(f"{source}: cannot read it as an ONNX graph ({type(exc).__name__})") from exc
    fused = fuse_epilogues(model)
    if not fused.biases and not fused.smoothing_masks:
        raise ValueError(f"{source.name}: no per-token int8 epilogue to fuse (fused already, or not per-token int8)")
    onnx.checker.check_model(model)
    onnx.save(model, str(dest))
    return fused
