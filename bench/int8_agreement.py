"""int8 decision agreement with fp32 when some MatMuls stay fp32: what partial quantisation buys toward issue 7's 99 %.

Each variant re-quantises the model dir's fp32 `model.onnx` with `training.export.quantize_int8`, leaving one group
of the encoder's MatMuls in fp32, then scores the parity test's sample (the first 1,000 in-house comments) and
counts the comments whose decision (allow / review / reject) equals fp32 ONNX's. A last variant keeps activations
in float and stores every projection's weights as 8-bit blocks (ONNX Runtime's MatMulNBits, which quantises
activations per block of 32 instead of per tensor): the accuracy end of the trade. Needs a model dir with
`model.onnx` (a fresh `threadguard train` writes one; the committed default holds only its int8 file).

Run: .venv/bin/python -m bench.int8_agreement MODEL_DIR
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.sections import machine, one_line_errors, write_section
from labels.sets import read_jsonl
from serving.model import open_scorer
from serving.transformer import HF_DIR, ONNX_FILE, ONNX_INT8_FILE
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT
from training.export import quantize_int8

SAMPLE = 1000


def exclusion_groups(matmuls: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    """(variant, MatMul nodes left in fp32), by the node names of the TorchScript export of a BERT encoder."""
    yield "all int8 (the export)", []
    yield "FFN output projections fp32", [m for m in matmuls if "/output/dense/" in m and "/attention/" not in m]
    yield "FFN input projections fp32", [m for m in matmuls if "/intermediate/" in m]
    yield "attention output projections fp32", [m for m in matmuls if "/attention/output/" in m]
    yield "query/key/value fp32", [m for m in matmuls if any(f"/self/{k}/" in m for k in ("query", "key", "value"))]
    yield "layers 0-1 fp32", [m for m in matmuls if "/layer.0/" in m or "/layer.1/" in m]
    yield "layers 4-5 fp32", [m for m in matmuls if "/layer.4/" in m or "/layer.5/" in m]


def variant_dir(model_dir: Path, tmp: str) -> Path:
    """A fresh copy of the model dir under `tmp` without `hf/` and the int8 file, for a variant to write its own into."""
    work = Path(tmp) / "model"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(model_dir, work, ignore=shutil.ignore_patterns(HF_DIR, ONNX_INT8_FILE))
    return work


def agreement(reference: Sequence, scored: Sequence) -> float:
    """Share of comments whose decision (allow / review / reject) equals the reference's."""
    return sum(x.decision == y.decision for x, y in zip(reference, scored, strict=True)) / len(reference)


WEIGHT_ONLY = "weight-only 8-bit blocks of 32 (MatMulNBits)"


def quantize_weight_only(source: Path, dest: Path, *, block_size: int = 32) -> None:
    """8-bit symmetric weights in blocks along the input axis; accuracy level 4 lets the kernel compute in int8 with
    activations quantised per block, so an outlier feature costs only its own block's precision."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    config = DefaultWeightOnlyQuantConfig(block_size=block_size, is_symmetric=True, accuracy_level=4, bits=8)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=block_size, is_symmetric=True, accuracy_level=4, algo_config=config)
    quantizer.process()
    quantizer.model.save_model_to_file(str(dest), use_external_data_format=False)


def main(model_dir: Path) -> None:
    import onnx

    if not (model_dir / ONNX_FILE).is_file():
        raise ArtifactError(f"{model_dir} has no {ONNX_FILE}: rebuild the model with `threadguard train` first")
    rows = read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl")[:SAMPLE]
    graph = onnx.load(str(model_dir / ONNX_FILE)).graph
    weights = {t.name for t in graph.initializer}
    # the projections with a weight matrix: the attention-score MatMuls (activation x activation) are never quantised
    matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input)]
    reference = open_scorer(model_dir, device="cpu", runtime="onnx")
    start = time.perf_counter()
    fp32 = reference.score(rows)
    fp32_seconds = time.perf_counter() - start
    lines = [
        f"Model `{model_dir.name}`, the first {len(rows)} in-house comments (the parity test's sample); measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.int8_agreement {model_dir}`. Time is one pass over the sample after loading (batch as served).",
        "",
        "| variant | MatMuls fp32 | decisions equal to fp32 | time (s) | file (MB) |",
        "|---|---|---|---|---|",
        f"| fp32 ONNX (the reference) | {len(matmuls)} of {len(matmuls)} | 100.0% | {fp32_seconds:.1f} | {(model_dir / ONNX_FILE).stat().st_size / 1e6:.1f} |",
    ]
    with tempfile.TemporaryDirectory(prefix="tg-int8-") as tmp:
        variants = [*exclusion_groups(matmuls), (WEIGHT_ONLY, [])]
        for name, exclude in variants:
            work = variant_dir(model_dir, tmp)
            if name == WEIGHT_ONLY:
                quantize_weight_only(work / ONNX_FILE, work / ONNX_INT8_FILE)
            else:
                quantize_int8(work / ONNX_FILE, work / ONNX_INT8_FILE, per_channel=True, exclude=exclude)
            scorer = open_scorer(work, device="cpu", runtime="onnx-int8")
            start = time.perf_counter()
            int8 = scorer.score(rows)
            seconds = time.perf_counter() - start
            agree = agreement(fp32, int8)
            size = (work / ONNX_INT8_FILE).stat().st_size / 1e6
            kept = "none (weights 8-bit)" if name == WEIGHT_ONLY else f"{len(exclude)} of {len(matmuls)}"
            lines.append(f"| {name} | {kept} | {agree:.1%} | {seconds:.1f} | {size:.1f} |")
            print(lines[-1], flush=True)
    write_section("int8-agreement", "\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main(Path(sys.argv[1]))
