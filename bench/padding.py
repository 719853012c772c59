"""What cutting a scoring call's batch by length buys: comments/s of one model dir's runtimes with fixed batches (one
run per 32 comments, padded to the longest) against batches cut by serving.transformer.padding_plan at several
per-run overheads, on the same comments in one run.

The comments come in arrival order, 32 to a call, as bench.score_throughput sends them; the scorer sorts each call's
comments (and their windows and contexts) by length. Scores are the same either way (checked here on every runtime).
Run: .venv/bin/python -m bench.padding [MODEL_DIR]
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import numpy as np

from bench.score_throughput import SAMPLE, _runtimes, batch_rate
from bench.sections import machine, one_line_errors, write_section
from labels.corpora import load_corpus
from serving.model import Scorer, open_scorer
from serving.transformer import RUN_OVERHEAD_TOKENS, length_sorted_batches
from threadguard.errors import ArtifactError
from threadguard.settings import Settings

OVERHEADS: tuple[int | None, ...] = (None, 16, 32, RUN_OVERHEAD_TOKENS, 128, 256)
COMMENTS = 640  # the first of score-throughput's sample: 6 settings x 3 runtimes x 3 repeats stay within minutes


def call_ids(scorer: Scorer, sample: list) -> list[list[list[int]]]:
    """The token ids of each call's comments (first windows), `sample` scored 32 to a call, as the scorer reads them."""
    tokenizer = scorer.backend.tokenizer  # type: ignore[attr-defined]
    return [[e.ids for e in tokenizer.encode_batch([r.body for r in scorer.as_trained(sample[i : i + 32])])] for i in range(0, len(sample), 32)]


def padded_tokens(calls: list[list[list[int]]], batch_size: int, overhead: int | None) -> tuple[int, int, int]:
    """(encoder runs, padded tokens, real tokens) of the calls' batches."""
    runs = padded = real = 0
    for ids in calls:
        for _, batch in length_sorted_batches(ids, batch_size, overhead):
            runs += 1
            padded += batch["input_ids"].size
        real += sum(map(len, ids))
    return runs, padded, real


def measure(scorer: Scorer, sample: list, overhead: int | None) -> tuple[float, np.ndarray]:
    scorer.backend.run_overhead = overhead  # type: ignore[attr-defined]
    scorer.backend.forget_articles()  # type: ignore[attr-defined]  # so articles run again under this setting
    return batch_rate(scorer, sample), scorer.predict_proba(sample)


def main(model_dir: Path) -> str:
    runtimes = [r for r in _runtimes(model_dir) if r is not None]
    if not runtimes:
        raise ArtifactError(f"{model_dir}: not a transformer model dir; only an encoder's batches are padded")
    rows = load_corpus("kaggle_insults", Settings().datasets_dir)
    sample = random.Random(0).sample(rows, SAMPLE)[:COMMENTS]
    lines = [
        f"Measured {dt.date.today()} on {machine()}, 2 threads, in one run on the same comments.",
        f"Command: `.venv/bin/python -m bench.padding {model_dir}`",
        f"The first {COMMENTS} of score-throughput's {SAMPLE} Kaggle-insults comments, 32 to a scoring call in arrival order, median of 3 runs. "
        "'fixed' is one encoder run per 32 comments, padded to the longest; a number is the per-run overhead in padded tokens "
        "padding_plan weighs against padding (the service uses the one in bold). Runs and tokens count the comments' first windows.",
        "",
        "| runtime | batches | encoder runs | padded tokens (real: {real}) | comments/s | max score change |",
        "|---|---|---|---|---|---|",
    ]
    for runtime in runtimes:
        scorer = open_scorer(model_dir, device="cpu", runtime=runtime)
        calls = call_ids(scorer, sample)
        reference = None
        for overhead in OVERHEADS:
            runs, padded, real = padded_tokens(calls, scorer.backend.batch_size, overhead)  # type: ignore[attr-defined]
            rate, probs = measure(scorer, sample, overhead)
            reference = probs if reference is None else reference
            name = "fixed" if overhead is None else (f"**{overhead}**" if overhead == RUN_OVERHEAD_TOKENS else str(overhead))
            lines.append(f"| {runtime} | {name} | {runs} | {padded:,} | {rate:.0f} | {np.abs(probs - reference).max():.1e} |")
    lines[4] = lines[4].format(real=f"{real:,}")
    body = "\n".join(lines)
    write_section("padding", body)
    return body


if __name__ == "__main__":
    with one_line_errors():
        print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/current")))
