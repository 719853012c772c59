"""The HTTP service under closed-loop load, beside the in-process throughput of the same model, in one run.

1. In-process: the served model scores the comments in batches of 32 (no HTTP), median of 3 runs.
2. A real `threadguard serve` (default settings: dynamic batching, SQLite; one API key, as deployments have) on loopback;
   bench.load_client, a second process, sends that key and drives it at concurrency 1, 8, 32 and 64 with one-comment
   requests and with batches of 32.
Writes the `load` section of docs/benchmarks.md and docs/load.png (throughput and p99 against concurrency).

Run: .venv/bin/python -m bench.load [MODEL_DIR] [--seconds 15]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sections import BENCHMARKS, cpu_ticks, machine, one_line_errors, stolen_share, stolen_text, write_section
from labels.corpora import load_corpus
from serving.model import open_scorer
from tests.fixtures.server import CLI, running_server
from threadguard.settings import PROJECT_ROOT, Settings

SAMPLE = 2000
CONCURRENCY = (1, 8, 32, 64)
BATCHES = (1, 32)
PLOT = BENCHMARKS.parent / "load.png"


def _comments() -> list[dict]:
    rows = load_corpus("kaggle_insults", Settings().datasets_dir)
    return [{"body": r.body} for r in random.Random(0).sample(rows, SAMPLE)]


def in_process(model_dir: Path, comments: list[dict]) -> tuple[float, list[bool], float | None]:
    """Comments/s in batches of 32 (median of 3 runs), which comments the model reads in one window, and the share
    of the CPU time the runs asked for that the hypervisor gave to other guests."""
    from serving.schemas import CommentIn

    items = [CommentIn(**c) for c in comments]
    scorer = open_scorer(model_dir, device="cpu")
    windows = getattr(scorer.backend, "window_ids", None)  # a transformer's; a linear model reads any length at once
    one_window = [not windows(item.body) for item in scorer.as_trained(items)] if windows else [True] * len(items)
    scorer.score(items[:64])
    rates = []
    ticks = cpu_ticks()
    for _ in range(3):
        started = time.perf_counter()
        for i in range(0, len(items), 32):
            scorer.score(items[i : i + 32])
        rates.append(len(items) / (time.perf_counter() - started))
    return statistics.median(rates), one_window, stolen_share(ticks, cpu_ticks())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def one_window_ms(row: dict, one_window: list[bool]) -> list[float]:
    """Latencies (ms) of a one-comment row's requests whose comment the model reads in one window. Reading a long
    comment costs time in proportion to its length (serving/windows.py); these show what the service adds."""
    return [x * 1000 for x, first in zip(row["latencies"], row["firsts"], strict=True) if one_window[first]]


def api_key(db_url: str) -> str:
    """A key made with `threadguard keys create`, as a deployment has: the service then checks each request's key
    against its few-second cache. With no key at all the API is open, and each request asks the database whether a
    key has appeared since (serving/key_cache.py), which no production service pays."""
    out = subprocess.run([*CLI, "keys", "create", "--name", "load-bench"], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT,
                         env={**os.environ, "THREADGUARD_DATABASE_URL": db_url})
    return out.stdout.strip().splitlines()[-1]


def drive(base: str, data: Path, concurrency: int, batch: int, seconds: float, rate: float, key: str | None = None) -> dict:
    """One row. When one round of every client's request takes longer than the window (64 clients × 32 comments is
    about 25 s of scoring), the warm-up and the window stretch to one and three rounds, so each client is counted."""
    round_seconds = concurrency * batch / rate
    warmup = max(3.0, round_seconds * 1.2)
    seconds = max(seconds, round_seconds * 3)
    ticks = cpu_ticks()
    out = subprocess.run([sys.executable, "-m", "bench.load_client", f"{base}/v1/score", str(data), "--concurrency", str(concurrency),
                          "--batch", str(batch), "--seconds", f"{seconds:.1f}", "--warmup", f"{warmup:.1f}", *(["--key", key] if key else [])],
                         capture_output=True, text=True,
                         check=True, cwd=PROJECT_ROOT)
    result = json.loads(out.stdout)
    result["stolen"] = stolen_share(ticks, cpu_ticks())
    lat = [x * 1000 for x in result["latencies"]]
    # Closed loop: every client always has one request open, so comments/s = clients × comments per request / mean latency
    # (Little's law). Counting answers inside the window instead is skewed by the few long requests cut at its edges.
    mean_seconds = statistics.fmean(lat) / 1000 if lat else float("nan")
    result.update(throughput=concurrency * batch / mean_seconds, p50=_percentile(lat, 0.5), p95=_percentile(lat, 0.95), p99=_percentile(lat, 0.99))
    return result


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for batch in BATCHES:
        mine = [r for r in rows if r["batch"] == batch]
        label = "1 comment per request" if batch == 1 else f"batches of {batch}"
        left.plot([r["concurrency"] for r in mine], [r["throughput"] for r in mine], marker="o", label=label)
        right.plot([r["concurrency"] for r in mine], [r["p99"] for r in mine], marker="o", label=label)
    left.set(xscale="log", xlabel="concurrent clients", ylabel="comments / s", title="throughput")
    right.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="ms", title="p99 request latency")
    for ax in (left, right):
        ax.set_xticks(CONCURRENCY, [str(c) for c in CONCURRENCY])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(PLOT, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path, nargs="?", default=Path("models/current"))
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    comments = _comments()
    local, one_window, local_stolen = in_process(args.model_dir, comments)
    print(f"in-process: {local:.1f} comments/s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "comments.jsonl"
        data.write_text("".join(json.dumps(c) + "\n" for c in comments))
        db_url = f"sqlite:///{tmp}/load.db"
        with running_server(args.model_dir, db_url, Path(tmp) / "server.log") as server:
            key = api_key(db_url)
            for batch in BATCHES:
                for concurrency in CONCURRENCY:
                    row = drive(server.base, data, concurrency, batch, args.seconds, local, key)
                    print(json.dumps({k: v for k, v in row.items() if k not in ("latencies", "firsts")}), flush=True)
                    rows.append(row)
    plot(rows)
    c32 = next(r for r in rows if r["batch"] == 1 and r["concurrency"] == 32)
    c1 = next(r for r in rows if r["batch"] == 1 and r["concurrency"] == 1)
    errors = sum(sum(r["errors"].values()) for r in rows)
    settings = Settings()
    lines = [
        f"Measured {dt.date.today()} on {machine()}, in one run on the same comments.",
        f"Command: `.venv/bin/python -m bench.load {args.model_dir} --seconds {args.seconds:g}`",
        (f"Model `{args.model_dir.resolve().name}` (int8 ONNX), {SAMPLE} Kaggle-insults comments (seeded sample). The service runs with its defaults "
        f"(batch_max_comments {settings.batch_max_comments}, batch_max_wait_ms {settings.batch_max_wait_ms:g}, inference_workers "
        f"{settings.inference_workers}, SQLite, one API key that every request sends); the load comes from "
        f"`bench.load_client` (aiohttp) in a second process on loopback (closed loop, {args.seconds:g} s per row after a 3 s warm-up, stretched to three "
        "rounds of requests after a one-round warm-up where a round is longer). Both share the 2 cores. comments/s is clients × comments per "
        "request ÷ mean latency (Little's law for a closed loop). CPU stolen is the share of the CPU time asked for that the "
        "hypervisor gave to other guests (/proc/stat); a row with much of it measured the neighbours."),
        "",
        f"In-process, batches of 32: **{local:.1f} comments/s** (CPU stolen {stolen_text(local_stolen)}).",
        "",
        "| requests | concurrency | comments/s | requests answered | p50 ms | p95 ms | p99 ms | errors | CPU stolen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        kind = "1 comment" if r["batch"] == 1 else f"batch of {r['batch']}"
        lines.append(f"| {kind} | {r['concurrency']} | {r['throughput']:.1f} | {r['requests']} | {r['p50']:.0f} | {r['p95']:.0f} | "
                     f"{r['p99']:.0f} | {sum(r['errors'].values())} | {stolen_text(r['stolen'])} |")
    ratio = c32["throughput"] / local
    spread = c1["p99"] / c1["p50"]
    short = one_window_ms(c1, one_window)
    short_spread = _percentile(short, 0.99) / _percentile(short, 0.5)
    lines += [
        "",
        (f"Targets: service at concurrency 32 (one comment per request) = {ratio:.0%} of in-process (target ≥ 70%): {'met' if ratio >= 0.7 else 'not met'}; "
        f"p99 at concurrency 1 = {spread:.2f} × p50 (target ≤ 3): {'met' if spread <= 3 else 'not met'}; errors {errors} (target 0): "
        f"{'met' if errors == 0 else 'not met'}. At concurrency 1, the {len(short)} requests whose comment fits in one window "
        f"({sum(one_window)} of the {SAMPLE} comments do): p50 {_percentile(short, 0.5):.0f} ms, p99 {_percentile(short, 0.99):.0f} ms, "
        f"{short_spread:.2f} × p50."),
        "",
        "![throughput and p99 against concurrency](load.png)",
    ]
    write_section("load", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main()
