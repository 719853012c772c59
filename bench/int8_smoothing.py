"""int8 decision agreement with fp32 after activation smoothing (training/smoothing.py), at several strengths.

Rebuilds the model dir's training data from the config it records, takes the calibration texts the export would
(`training.pipeline.smoothing_texts`), re-quantises the dir's fp32 `model.onnx` smoothed at each alpha and counts
decisions (allow / review / reject) equal to fp32 ONNX's on two samples of in-house comments: rows 1,001-1,556 of
inhouse.jsonl, where alpha is chosen, and the first 1,000, the parity test's sample, where the choice is reported.
A last variant keeps the smoothing at 0.8 but quantises with static activation scales (ONNX Runtime's `quantize_static`,
MinMax over the same calibration batches, QDQ, MatMuls only): scales that no longer depend on the batch, at a cost in
agreement, time and size that the table shows (not adopted).
A last column scores each parity comment alone (its article's embedding comes from the scorer's cache, as in a running
service) and counts decisions equal to its decision in a batch of 32: dynamic
int8 takes its activation scales from the whole batch, so a comment's score depends on its batch mates (the
service micro-batches concurrent requests), and fp32 is 100 % here by construction.
Needs a model dir with `model.onnx` (a fresh `threadguard train` writes one).

Run: .venv/bin/python -m bench.int8_smoothing MODEL_DIR [ALPHA ...]
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from bench.int8_agreement import agreement, variant_dir
from bench.sections import machine, one_line_errors, write_section
from labels.sets import read_jsonl
from serving.model import Scorer, open_scorer
from serving.transformer import ONNX_FILE, ONNX_INT8_FILE
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT, Settings

PARITY_SAMPLE = 1000
ALPHAS = (0.5, 0.6, 0.7, 0.8, 0.9)


def calibration_texts(model_dir: Path) -> list[str]:
    """The texts `threadguard train` would calibrate this model dir's smoothing on."""
    from training.config import TrainConfig
    from training.data import assemble
    from training.pipeline import as_the_model_reads, smoothing_texts

    config = TrainConfig.model_validate(json.loads((model_dir / "config.json").read_text())["train_config"])
    bundle = assemble(config, Settings().datasets_dir, progress=False)
    bundle = as_the_model_reads(config, bundle)
    return smoothing_texts(bundle.train, config.transformer, seed=config.seed)


def batch_consistency(scorer: Scorer, rows: Sequence, batch: int = 32) -> float:
    """Share of rows whose decision scored alone equals their decision scored in consecutive batches of `batch`."""
    batched = [s.decision for start in range(0, len(rows), batch) for s in scorer.score(rows[start : start + batch])]
    alone = [scorer.score([row])[0].decision for row in rows]
    return sum(a == b for a, b in zip(batched, alone, strict=True)) / len(rows)


STATIC = "smoothed, alpha 0.8, static activation scales (MinMax)"


def quantize_static_smoothed(source: Path, dest: Path, batches: Iterable[Mapping[str, np.ndarray]], *, alpha: float = 0.8) -> None:
    """Smoothed as the export smooths, then int8 with activation scales fixed from the calibration batches."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    from training.smoothing import smooth_onnx

    batches = list(batches)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.remaining = iter(batches)

        def get_next(self) -> Mapping[str, np.ndarray] | None:
            return next(self.remaining, None)

    smoothed = dest.with_name("smoothed.onnx")
    smooth_onnx(source, smoothed, batches, alpha=alpha)
    quantize_static(str(smoothed), str(dest), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"], per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    smoothed.unlink()


def main(model_dir: Path, alphas: Sequence[float] = ALPHAS) -> None:
    from training.export import calibration_batches, quantize_int8, quantize_smoothed_int8

    if not (model_dir / ONNX_FILE).is_file():
        raise ArtifactError(f"{model_dir} has no {ONNX_FILE}: rebuild the model with `threadguard train` first")
    rows = read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl")
    parity, choice = rows[:PARITY_SAMPLE], rows[PARITY_SAMPLE:]
    texts = calibration_texts(model_dir)
    params = json.loads((model_dir / "config.json").read_text())["backend"]
    reference = open_scorer(model_dir, device="cpu", runtime="onnx")
    fp32_choice, fp32_parity = reference.score(choice), reference.score(parity)
    lines = [
        f"Model `{model_dir.name}`; calibration: {len(texts)} comment, article and parent texts of the training rows the export samples; measured "
        + f"{dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.int8_smoothing {model_dir}`. Time is one pass over the parity sample after loading (batch as served).",
        "",
        f"| variant | decisions equal to fp32, rows 1001-{len(rows)} (choice, {len(choice)}) | the same, first {len(parity)} (parity sample) "
        + "| alone = in a batch of 32 (parity sample) | time (s) | file (MB) |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="tg-smooth-bench-") as tmp:
        for alpha in [None, *alphas, STATIC]:
            work = variant_dir(model_dir, tmp)
            batches = calibration_batches(model_dir / "tokenizer.json", texts, max_length=int(params["max_length"]), batch_size=int(params["batch_size"]))
            if alpha is None:
                name = "plain dynamic int8"
                quantize_int8(work / ONNX_FILE, work / ONNX_INT8_FILE, per_channel=True)
            elif alpha == STATIC:
                name = STATIC
                quantize_static_smoothed(work / ONNX_FILE, work / ONNX_INT8_FILE, batches)
            else:
                name = f"smoothed, alpha {alpha}"
                quantize_smoothed_int8(work / ONNX_FILE, work / ONNX_INT8_FILE, batches, alpha=float(alpha), per_channel=True)
            scorer = open_scorer(work, device="cpu", runtime="onnx-int8")
            on_choice = agreement(fp32_choice, scorer.score(choice))
            start = time.perf_counter()
            on_parity = agreement(fp32_parity, scorer.score(parity))
            seconds = time.perf_counter() - start
            size = (work / ONNX_INT8_FILE).stat().st_size / 1e6
            alone = batch_consistency(scorer, parity)
            lines.append(f"| {name} | {on_choice:.1%} | {on_parity:.1%} | {alone:.1%} | {seconds:.1f} | {size:.1f} |")
            print(lines[-1], flush=True)
    write_section("int8-smoothing", "\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main(Path(sys.argv[1]), [float(a) for a in sys.argv[2:]] or ALPHAS)
