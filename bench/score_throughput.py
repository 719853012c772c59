"""In-process scoring throughput of model dirs, every runtime each holds, on the same real comments.

Fixed seeded sample, warm-up, median of repeats; batches of 32 in arrival order (the Scorer sorts each batch
by length inside). Run: .venv/bin/python -m bench.score_throughput [MODEL_DIR ...]
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

from bench.sections import cpu_ticks, machine, one_line_errors, stolen_share, stolen_text, write_section
from labels.corpora import load_corpus
from serving.model import Scorer, open_scorer
from threadguard.settings import Settings

SAMPLE = 2000
REPEATS = 3
SINGLES = 300


def _runtimes(model_dir: Path) -> list[str | None]:
    from labels.schema import LABELS
    from serving.transformer import available_runtimes
    from threadguard.artifact import read_model_dir
    from threadguard.hardware import cpu_has_bf16

    # the model-dir reader, so a missing or broken dir is a one-line error (one_line_errors), not a traceback
    if read_model_dir(model_dir, expected_labels=[label.value for label in LABELS]).config.kind != "transformer":
        return [None]
    # torch-bf16 where the CPU multiplies bf16 in hardware: emulated elsewhere, it is slower than float32 and not worth timing
    order = ["torch", *(["torch-bf16"] if cpu_has_bf16() else []), "onnx", "onnx-int8"]
    return [r for r in order if r in available_runtimes(model_dir)]


def variants(model_dir: Path, runtime: str | None) -> list[tuple[str, Scorer]]:
    """The scorer as served, and for ONNX on several cores the same without its row slices (serving/row_parallel.py):
    each batch as one run whose operators ONNX Runtime's threads split, as before 2026-12-05."""
    label = f"{model_dir.resolve().name} ({runtime or 'linear'})"
    scorer = open_scorer(model_dir, device="cpu", runtime=runtime)
    found = [(label, scorer)]
    if getattr(scorer.backend, "row_runs", None) is not None:
        whole = open_scorer(model_dir, device="cpu", runtime=runtime)
        whole.backend.row_runs = None  # type: ignore[attr-defined]
        found.append((f"{model_dir.resolve().name} ({runtime}, one run per batch)", whole))
    return found


def ratio_lines(results: list[tuple[str, float, float, float]]) -> list[str]:
    """Issue 7's target for each model dir that holds both: int8 ONNX as served against PyTorch fp32, batches of 32."""
    rates = {name: rate for name, rate, _, _ in results}
    lines = []
    for name in rates:
        if name.endswith(" (torch)") and (int8 := rates.get(name.removesuffix(" (torch)") + " (onnx-int8)")):
            lines.append(f"{name.removesuffix(' (torch)')}: int8 ONNX {int8 / rates[name]:.2f}x the comments/s of PyTorch fp32 (target 2x).")
    return [""] + lines if lines else []


def batch_rate(scorer: Scorer, sample: list) -> float:
    """Comments/s scoring `sample` 32 to a call in arrival order, median of REPEATS after a warm-up."""
    scorer.score(sample[:64])  # warm-up
    rates = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for i in range(0, len(sample), 32):
            scorer.score(sample[i : i + 32])
        rates.append(len(sample) / (time.perf_counter() - started))
    return statistics.median(rates)


def timed(scorer: Scorer, sample: list) -> tuple[float, float, float]:
    """(comments/s in batches of 32, median of REPEATS; one-comment p50 ms; p99 ms) after a warm-up."""
    rate = batch_rate(scorer, sample)
    singles = []
    for row in sample[:SINGLES]:
        started = time.perf_counter()
        scorer.score([row])
        singles.append((time.perf_counter() - started) * 1000)
    singles.sort()
    return rate, singles[len(singles) // 2], singles[int(len(singles) * 0.99)]


def main(model_dirs: list[Path]) -> None:
    rows = load_corpus("kaggle_insults", Settings().datasets_dir)
    sample = random.Random(0).sample(rows, SAMPLE)
    ticks = cpu_ticks()
    results = [(label, *timed(scorer, sample)) for d in model_dirs for r in _runtimes(d) for label, scorer in variants(d, r)]
    stolen = stolen_share(ticks, cpu_ticks())
    lines = [
        f"Measured {dt.date.today()} on {machine()}, 2 threads, in one run on the same comments.",
        f"Command: `.venv/bin/python -m bench.score_throughput {' '.join(str(d) for d in model_dirs)}`",
        f"{SAMPLE} Kaggle-insults comments (seeded sample), batches of 32, median of {REPEATS} runs; one-comment latency over {SINGLES} calls.",
        f"CPU time the runs asked for that the hypervisor gave to other guests (/proc/stat steal): {stolen_text(stolen)}.",
        "",
        "| model (runtime) | comments/s (batch 32) | one comment p50 | one comment p99 |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {rate:.0f} | {p50:.2f} ms | {p99:.2f} ms |" for name, rate, p50, p99 in results]
    lines += ratio_lines(results)
    write_section("score-throughput", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main([Path(p) for p in sys.argv[1:]] or [Path("models/current")])
