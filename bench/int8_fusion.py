"""A model dir's per-token int8 graph with and without fused epilogues (training/int8_fusion.py), on the same comments.

A copy of the dir whose model.int8.onnx has its epilogues fused is made in a temp dir. Then, on a seeded sample of
Kaggle comments:
1. where the encoder's time goes: ONNX Runtime's per-op kernel times on one thread, length-sorted batches of 32;
2. speed as served: both dirs' scorers (row slices on every core), batches of 32 in arrival order, in alternating
   rounds after a warm-up, so drift on a shared machine hits both alike;
3. what changes: the largest score difference and how many decisions differ.
Run: .venv/bin/python -m bench.int8_fusion MODEL_DIR [--rounds 5]   (a dir whose int8 file is not fused yet)
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.sections import cpu_ticks, machine, one_line_errors, stolen_share, stolen_text, write_section
from labels.corpora import load_corpus
from serving.model import open_scorer
from serving.transformer import ONNX_INT8_FILE, TOKENIZER_FILE, length_sorted_batches, load_tokenizer, onnx_session_options
from threadguard.settings import Settings
from training.int8_fusion import fuse_int8_file

SAMPLE = 1000
PROFILED = 640
BATCH = 32
SHOWN_OPS = 8


def op_times(graph: Path, tokenizer: Path, texts: list[str]) -> dict[str, float]:
    """Milliseconds of kernel time per op type running `texts` through `graph` on one thread."""
    import onnxruntime as ort

    tok = load_tokenizer(tokenizer, 128)
    ids = [e.ids for e in tok.encode_batch(texts)]
    options = onnx_session_options(1)
    with tempfile.TemporaryDirectory(prefix="tg-prof-") as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "prof")
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        for _, feed in length_sorted_batches(ids, BATCH):
            session.run(None, {k: v for k, v in feed.items() if k in names})
        events = json.loads(Path(session.end_profiling()).read_text())
    times: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            times[event["args"]["op_name"]] += event["dur"] / 1000
    return dict(times)


def main(model_dir: Path, rounds: int, sample: int = SAMPLE) -> str:
    rows = random.Random(0).sample(load_corpus("kaggle_insults", Settings().datasets_dir), sample)
    with tempfile.TemporaryDirectory(prefix="tg-fused-") as tmp:
        fused_dir = Path(tmp) / f"{model_dir.resolve().name}-fused"
        shutil.copytree(model_dir, fused_dir, ignore=shutil.ignore_patterns("hf", "model.onnx"))
        counts = fuse_int8_file(model_dir / ONNX_INT8_FILE, fused_dir / ONNX_INT8_FILE)
        texts = [r.body for r in rows[:PROFILED]]
        plain_ops = op_times(model_dir / ONNX_INT8_FILE, model_dir / TOKENIZER_FILE, texts)
        fused_ops = op_times(fused_dir / ONNX_INT8_FILE, model_dir / TOKENIZER_FILE, texts)
        scorers = {"as exported": open_scorer(model_dir, device="cpu", runtime="onnx-int8"),
                   "fused": open_scorer(fused_dir, device="cpu", runtime="onnx-int8")}
        scores = {name: scorer.predict_proba(rows) for name, scorer in scorers.items()}
        decisions = {name: [r.decision for r in scorer.decisions(rows, scores[name])] for name, scorer in scorers.items()}
        rates: dict[str, list[float]] = {name: [] for name in scorers}
        ticks = cpu_ticks()
        for _ in range(rounds):
            for name, scorer in scorers.items():
                started = time.perf_counter()
                for i in range(0, len(rows), BATCH):
                    scorer.score(rows[i : i + BATCH])
                rates[name].append(len(rows) / (time.perf_counter() - started))
        stolen = stolen_share(ticks, cpu_ticks())
    plain_total, fused_total = sum(plain_ops.values()), sum(fused_ops.values())
    top = sorted(plain_ops, key=lambda op: -plain_ops[op])[:SHOWN_OPS]
    differ = sum(a != b for a, b in zip(decisions["as exported"], decisions["fused"], strict=True))
    median = {name: statistics.median(r) for name, r in rates.items()}
    lines = [
        f"Measured {dt.date.today()} on {machine()}; {model_dir.resolve().name}'s int8 file as exported and with its epilogues "
        f"fused ({counts.smoothing_masks} smoothing masks, {counts.biases} biases).",
        f"Command: `.venv/bin/python -m bench.int8_fusion {model_dir} --rounds {rounds}`",
        f"{sample} Kaggle-insults comments (seeded sample). Kernel time: the first {min(PROFILED, sample)}, length-sorted batches of {BATCH}, "
        "one thread, ONNX Runtime's profiler.",
        "",
        "| op type | as exported (ms) | fused (ms) |",
        "|---|---|---|",
        *[f"| {op} | {plain_ops[op]:.0f} | {fused_ops.get(op, 0.0):.0f} |" for op in top],
        f"| all ops | {plain_total:.0f} | {fused_total:.0f} ({fused_total / plain_total - 1:+.1%}) |",
        "",
        f"As served (row slices on every core), batches of {BATCH} in arrival order, {rounds} alternating rounds; comments/s per round:",
        "",
        "| int8 graph | rounds | median |",
        "|---|---|---|",
        *[f"| {name} | {', '.join(f'{r:.0f}' for r in rates[name])} | {median[name]:.0f} |" for name in rates],
        "",
        f"Fused against as exported: {median['fused'] / median['as exported']:.2f}x the comments/s (median of rounds); faster in "
        f"{sum(f > p for f, p in zip(rates['fused'], rates['as exported'], strict=True))} of {rounds} rounds. Largest calibrated score "
        f"difference {float(np.abs(scores['fused'] - scores['as exported']).max()):.4f}; decisions differ on {differ} of {sample}. "
        f"CPU time given to other guests (/proc/stat steal): {stolen_text(stolen)}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with one_line_errors():
        body = main(args.model_dir, args.rounds)
        print(body)
        write_section("int8-fusion", body)
