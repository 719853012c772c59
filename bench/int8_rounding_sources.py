"""Which rounding costs int8 its decisions: each part of per-token int8 applied alone, everything else left fp32.

Each variant rewrites the model dir's fp32 `model.onnx` with one kind of rounding simulated in float ("fake
quantisation": values rounded to the int8 grid and scaled back) and scores the parity test's sample (the first 1,000
in-house comments) through the fp32 runtime, counting decisions (allow / review / reject) equal to the unmodified
graph's. The roundings are exactly those of training/token_int8.py: embedding tables with a scale per row, or per
row and column; projection weights per output column, to the nearest step or by GPTQ on the export's calibration
texts (training/gptq.py); MatMul inputs per token. It is how the export's choices were made: per-column scales for
the tables and GPTQ for the weights each more than halved what their plain form cost (docs/benchmarks.md).
Needs a model dir with `model.onnx` (a fresh `threadguard train` writes one).

Run: .venv/bin/python -m bench.int8_rounding_sources MODEL_DIR
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.int8_agreement import agreement, variant_dir
from bench.int8_smoothing import PARITY_SAMPLE, calibration_texts
from bench.sections import machine, one_line_errors, write_section
from labels.sets import read_jsonl
from serving.model import open_scorer
from serving.transformer import ONNX_FILE
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT


def _weights(graph) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {t.name: t for t in graph.initializer if len(t.dims) == 2}


def fake_tables(model, *, columns: bool) -> None:  # type: ignore[no-untyped-def]
    """Embedding tables rounded to int8 with a scale per row (and first per column, as the export does)."""
    from onnx import numpy_helper

    weights = _weights(model.graph)
    for node in model.graph.node:
        if node.op_type == "Gather" and node.input[0] in weights:
            table = numpy_helper.to_array(weights[node.input[0]])
            column = np.maximum(np.abs(table).max(axis=0), 1e-12) if columns else np.ones(table.shape[1])
            even = table / column
            row = np.maximum(np.abs(even).max(axis=1), 1e-12)[:, None] / 127.0
            weights[node.input[0]].CopyFrom(numpy_helper.from_array((np.round(even / row) * row * column).astype(np.float32), node.input[0]))


def fake_weights(model, grams: dict[str, np.ndarray] | None) -> None:  # type: ignore[no-untyped-def]
    """Projection weights rounded to int8 per output column: to the nearest step, or by GPTQ on `grams`."""
    from onnx import numpy_helper

    from training.gptq import gptq_int8
    from training.token_int8 import round_int8

    weights = _weights(model.graph)
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            weight = numpy_helper.to_array(weights[node.input[1]])
            steps, scale = gptq_int8(weight, grams[node.input[0]]) if grams else round_int8(weight)
            weights[node.input[1]].CopyFrom(numpy_helper.from_array((steps.astype(np.float32) * scale).astype(np.float32), node.input[1]))


def fake_activations(model) -> None:  # type: ignore[no-untyped-def]
    """Every projection's input rounded to uint8 per token and scaled back."""
    from onnx import helper

    from training.token_int8 import _quantise_rows

    graph = model.graph
    weights = _weights(graph)
    nodes, rounded = [], {}
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            x = node.input[0]
            if x not in rounded:
                prefix = x.replace("/", "_").strip("_") + "_fake_"
                quantise, names = _quantise_rows(graph, x, prefix, int(weights[node.input[1]].dims[0]))
                nodes += quantise + [
                    helper.make_node("DequantizeLinear", [names.q, prefix + "scale", prefix + "zp"], [prefix + "back"], axis=0, name=prefix + "Back"),
                    helper.make_node("Shape", [x], [prefix + "shape"], name=prefix + "Shape"),
                    helper.make_node("Reshape", [prefix + "back", prefix + "shape"], [prefix + "x"], name=prefix + "Restore"),
                ]
                rounded[x] = prefix + "x"
            node.input[0] = rounded[x]
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)


def main(model_dir: Path) -> None:
    import onnx

    from training.export import calibration_batches
    from training.gptq import input_grams

    if not (model_dir / ONNX_FILE).is_file():
        raise ArtifactError(f"{model_dir} has no {ONNX_FILE}: rebuild the model with `threadguard train` first")
    params = json.loads((model_dir / "config.json").read_text())["backend"]
    rows = read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl")[:PARITY_SAMPLE]
    reference = open_scorer(model_dir, device="cpu", runtime="onnx").score(rows)
    texts = calibration_texts(model_dir)
    batches = list(calibration_batches(model_dir / "tokenizer.json", texts, max_length=int(params["max_length"]), batch_size=int(params["batch_size"])))
    graph = onnx.load(str(model_dir / ONNX_FILE)).graph
    names = sorted({n.input[0] for n in graph.node if n.op_type == "MatMul" and n.input[1] in _weights(graph)})
    grams = input_grams(model_dir / ONNX_FILE, names, batches)
    variants: list[tuple[str, Callable]] = [
        ("embedding tables int8, a scale per row", lambda m: fake_tables(m, columns=False)),
        ("embedding tables int8, a scale per row and per column (the export)", lambda m: fake_tables(m, columns=True)),
        ("projection weights int8 per column, nearest step", lambda m: fake_weights(m, None)),
        ("projection weights int8 per column, GPTQ (the export)", lambda m: fake_weights(m, grams)),
        ("projection inputs uint8 per token (the export)", fake_activations),
    ]
    lines = [
        f"Model `{model_dir.name}`, the first {len(rows)} in-house comments (the parity test's sample), no activation smoothing; GPTQ calibrated on "
        + f"{len(texts)} texts as the export calibrates; measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.int8_rounding_sources {model_dir}`.",
        "",
        "| rounding applied alone (everything else fp32) | decisions equal to fp32 |",
        "|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="tg-int8-sources-") as tmp:
        for name, rewrite in variants:
            work = variant_dir(model_dir, tmp)
            model = onnx.load(str(model_dir / ONNX_FILE))
            rewrite(model)
            onnx.save(model, str(work / ONNX_FILE))
            lines.append(f"| {name} | {agreement(reference, open_scorer(work, device='cpu', runtime='onnx').score(rows)):.1%} |")
            print(lines[-1], flush=True)
    write_section("int8-rounding-sources", "\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main(Path(sys.argv[1]))
