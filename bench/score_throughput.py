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

from bench.sections import cpu_ticks, machine, one_line_errors, stolen_share, write_section
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

    # the model-dir reader, so a missing or broken dir is a one-line error (one_line_errors), not a traceback
    if read_model_dir(model_dir, expected_labels=[label.value for label in LABELS]).config.kind != "transformer":
        return [None]
    order = ["torch", "onnx", "onnx-int8"]
    return [r for r in order if r in available_runtimes(model_dir)]


def measure(model_dir: Path, runtime: str | None, sample: list) -> tuple[str, float, float, float]:
    label = f"{model_dir.resolve().name} ({runtime or 'linear'})"
    return (label, *timed(open_scorer(model_dir, device="cpu", runtime=runtime), sample))


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
    results = [measure(d, r, sample) for d in model_dirs for r in _runtimes(d)]
    stolen = stolen_share(ticks, cpu_ticks())
    lines = [
        f"Measured {dt.date.today()} on {machine()}, 2 threads, in one run on the same comments.",
        f"Command: `.venv/bin/python -m bench.score_throughput {' '.join(str(d) for d in model_dirs)}`",
        f"{SAMPLE} Kaggle-insults comments (seeded sample), batches of 32, median of {REPEATS} runs; one-comment latency over {SINGLES} calls.",
        "CPU time the runs asked for that the hypervisor gave to other guests (/proc/stat steal): " + ("n/a" if stolen is None else f"{stolen:.0%}."),
        "",
        "| model (runtime) | comments/s (batch 32) | one comment p50 | one comment p99 |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {rate:.0f} | {p50:.2f} ms | {p99:.2f} ms |" for name, rate, p50, p99 in results]
    write_section("score-throughput", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main([Path(p) for p in sys.argv[1:]] or [Path("models/current")])
