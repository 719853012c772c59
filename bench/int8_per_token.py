"""int8 with one activation scale per token (training/token_int8.py) against ONNX Runtime's one scale per batch tensor.

Re-quantises the model dir's fp32 `model.onnx` several ways (per tensor, plain and smoothed at 0.8 as the export did
until per-token int8; per token with weights rounded to nearest or by GPTQ (training/gptq.py), then with smoothing at
several strengths, then with each MatMul input's largest channels kept in fp32, the "outlier" rows) and counts decisions (allow / review / reject) equal to fp32 ONNX's on three samples: rows 1,001-1,556 of
inhouse.jsonl and the 1,116 comments of the extension threads (inhouse-extended.jsonl's rows that inhouse.jsonl lacks),
where a variant is chosen, and the first 1,000 of inhouse.jsonl (the parity test's sample), where the choice is
reported. "alone = in a batch of 32" scores each parity comment alone and counts decisions equal to its decision
in a batch. Time is one pass over the parity sample as the scorer batches it (length-sorted batches of the dir's
batch size), beside fp32 ONNX and, when the dir holds `hf/`, PyTorch fp32 on the same comments in the same run, so
issue 7's "int8 at least 2x PyTorch fp32" can be read off one table.
Needs a model dir with `model.onnx` (a fresh `threadguard train` writes one).

Run: .venv/bin/python -m bench.int8_per_token MODEL_DIR
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from bench.int8_agreement import agreement, variant_dir
from bench.int8_smoothing import PARITY_SAMPLE, batch_consistency, calibration_texts
from bench.sections import machine, one_line_errors, write_section
from labels.sets import read_jsonl
from serving.model import open_scorer
from serving.transformer import HF_DIR, ONNX_FILE, ONNX_INT8_FILE
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT

ALPHAS = (0.5, 0.65, 0.8)  # smoothing strengths tried with per-token activations, chosen on the rows outside the parity sample
OUTLIERS = (4, 8, 16)  # channels per MatMul input kept in fp32 (training/token_int8.py), beside the export's smoothing and without it


class Variant(NamedTuple):
    name: str
    activations: str
    smoothing: float | None
    gptq: bool
    outliers: int = 0


def variants(export_alpha: float | None) -> list[Variant]:
    """Every variant the table holds, in row order; outlier rows are tried with the dir's own smoothing and without."""
    rows = [Variant("per tensor (ONNX Runtime dynamic)", "per_tensor", None, False), Variant("per tensor, smoothed 0.8", "per_tensor", 0.8, False),
            Variant("per token", "per_token", None, False), Variant("per token, GPTQ", "per_token", None, True)]
    rows += [Variant(f"per token, GPTQ, smoothed {a}", "per_token", a, True) for a in ALPHAS]
    rows += [Variant(f"per token, GPTQ, {k} outlier channels fp32", "per_token", None, True, k) for k in OUTLIERS]
    if export_alpha is not None:
        rows += [Variant(f"per token, GPTQ, smoothed {export_alpha}, {k} outlier channels fp32", "per_token", export_alpha, True, k) for k in OUTLIERS]
    return rows


def share_and_flips(share: float, n: int) -> str:
    """"99.6% (4)": the share of decisions equal to fp32 and how many differ, since at a thousand rows one decimal of a
    percentage cannot tell 4 flips from 5."""
    return f"{share:.1%} ({round((1 - share) * n)})"


def timed(scorer, rows) -> tuple[list, float]:  # type: ignore[no-untyped-def]
    """Scores and seconds of one pass, after a warm-up pass."""
    scorer.score(rows[:64])
    start = time.perf_counter()
    scores = scorer.score(rows)
    return scores, time.perf_counter() - start


def main(model_dir: Path) -> None:
    from training.export import calibration_batches, quantize_int8, quantize_smoothed_int8

    if not (model_dir / ONNX_FILE).is_file():
        raise ArtifactError(f"{model_dir} has no {ONNX_FILE}: rebuild the model with `threadguard train` first")
    record = json.loads((model_dir / "config.json").read_text())
    params = record["backend"]
    rows = read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl")
    parity, choice = rows[:PARITY_SAMPLE], rows[PARITY_SAMPLE:]
    known = {r.id for r in rows}
    extension = [r for r in read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse-extended.jsonl") if r.id not in known]
    texts = calibration_texts(model_dir)
    reference = open_scorer(model_dir, device="cpu", runtime="onnx")
    fp32_choice, fp32_extension = reference.score(choice), reference.score(extension)
    fp32_parity, fp32_seconds = timed(reference, parity)
    lines = [
        f"Model `{model_dir.name}`; smoothing and GPTQ calibrated on the {len(texts)} texts the export calibrates on; measured "
        + f"{dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.int8_per_token {model_dir}`. Time is one pass over the parity sample after a warm-up "
        + f"(length-sorted batches of {params['batch_size']}, as served).",
        "",
        f"| variant | decisions equal to fp32 (differing), rows 1001-{len(rows)} ({len(choice)}) | the same, extension threads ({len(extension)}) "
        + f"| the same, first {len(parity)} (parity sample) | alone = in a batch of 32 (parity sample) | time (s) | file (MB) |",
        "|---|---|---|---|---|---|---|",
        f"| fp32 ONNX (the reference) | 100.0% | 100.0% | 100.0% | – | {fp32_seconds:.2f} | {(model_dir / ONNX_FILE).stat().st_size / 1e6:.1f} |",
    ]
    if (model_dir / HF_DIR).is_dir():
        _, torch_seconds = timed(open_scorer(model_dir, device="cpu", runtime="torch"), parity)
        lines.append(f"| PyTorch fp32 | – | – | – | – | {torch_seconds:.2f} | – |")
    print("\n".join(lines[-2:]), flush=True)
    batches = list(calibration_batches(model_dir / "tokenizer.json", texts, max_length=int(params["max_length"]), batch_size=int(params["batch_size"])))
    with tempfile.TemporaryDirectory(prefix="tg-tok8-bench-") as tmp:
        for name, activations, smoothing, gptq, outliers in variants(params.get("int8", {}).get("smoothing_alpha")):
            work = variant_dir(model_dir, tmp)
            if smoothing is None:
                quantize_int8(work / ONNX_FILE, work / ONNX_INT8_FILE, per_channel=True, activations=activations,  # type: ignore[arg-type]
                              batches=batches if gptq else None, outlier_channels=outliers)
            else:  # per token, the smoothed export always rounds by GPTQ on the same batches
                quantize_smoothed_int8(work / ONNX_FILE, work / ONNX_INT8_FILE, batches, alpha=float(smoothing), per_channel=True,
                                       activations=activations, outlier_channels=outliers)  # type: ignore[arg-type]
            scorer = open_scorer(work, device="cpu", runtime="onnx-int8")
            on_choice, on_extension = agreement(fp32_choice, scorer.score(choice)), agreement(fp32_extension, scorer.score(extension))
            scored, seconds = timed(scorer, parity)
            on_parity = agreement(fp32_parity, scored)
            alone = batch_consistency(scorer, parity)
            size = (work / ONNX_INT8_FILE).stat().st_size / 1e6
            cells = [share_and_flips(on_choice, len(choice)), share_and_flips(on_extension, len(extension)), share_and_flips(on_parity, len(parity))]
            lines.append(f"| {name} | {' | '.join(cells)} | {alone:.1%} | {seconds:.2f} | {size:.1f} |")
            print(lines[-1], flush=True)
    write_section("int8-per-token", "\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main(Path(sys.argv[1]))
