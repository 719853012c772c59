"""In-process scoring throughput of a model dir on real comments (fixed sample, warm-up, median of repeats).

Run: .venv/bin/python -m bench.score_throughput [MODEL_DIR]
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

from bench.sections import machine, write_section
from labels.corpora import load_corpus
from serving.model import open_scorer
from threadguard.settings import Settings

SAMPLE = 2000
REPEATS = 5


def main(model_dir: Path) -> None:
    rows = load_corpus("kaggle_insults", Settings().datasets_dir)
    sample = random.Random(0).sample(rows, SAMPLE)
    scorer = open_scorer(model_dir, device="cpu")
    scorer.predict_proba(sample[:64])  # warm-up
    batch_rates, single_ms = [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for i in range(0, SAMPLE, 32):
            scorer.score(sample[i : i + 32])
        batch_rates.append(SAMPLE / (time.perf_counter() - started))
    for row in sample[:300]:
        started = time.perf_counter()
        scorer.score([row])
        single_ms.append((time.perf_counter() - started) * 1000)
    single_ms.sort()
    lines = [
        f"Model `{model_dir.resolve().name}`, measured {dt.date.today()} on {machine()}.",
        "Command: `.venv/bin/python -m bench.score_throughput models/current`",
        f"{SAMPLE} Kaggle-insults comments (seeded sample), batches of 32 in arrival order, median of {REPEATS} runs; single-comment latency over 300 calls.",
        "",
        "| backend | comments/s (batch 32) | one comment p50 | one comment p99 |",
        "|---|---|---|---|",
        f"| linear TF-IDF (scipy sparse) | {statistics.median(batch_rates):.0f} | {single_ms[len(single_ms) // 2]:.2f} ms | {single_ms[int(len(single_ms) * 0.99)]:.2f} ms |",
    ]
    write_section("score-throughput", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/current"))
