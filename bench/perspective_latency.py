"""Single-comment latency of `comments:analyze` on CPU with Coral's exact toxic-phase request, beside Coral's 500 ms budget.

A real `threadguard serve` with the default model on loopback; one client sends Coral's request (TOXICITY,
languages ["en"], doNotStore) for each comment of the seed threads, one at a time, after a warm-up.
Run: .venv/bin/python -m bench.perspective_latency [MODEL_DIR] [--requests N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.sections import machine, one_line_errors, write_section
from tests.fixtures.server import running_server
from threadguard.settings import PROJECT_ROOT

BUDGET_MS = 500


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path, nargs="?", default=Path("models/current"))
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    texts = [json.loads(line)["body"] for line in (PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl").read_text().splitlines()]
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, running_server(args.model_dir, f"sqlite:///{tmp}/p.db", Path(tmp) / "server.log") as server, \
            httpx.Client(timeout=BUDGET_MS / 1000) as client:
        url = f"{server.base}/v1alpha1/comments:analyze?key=unused"
        for i in range(args.requests + 20):
            body = {"comment": {"text": texts[i % len(texts)]}, "languages": ["en"], "doNotStore": True, "requestedAttributes": {"TOXICITY": {}}}
            started = time.perf_counter()
            response = client.post(url, json=body)
            seconds = time.perf_counter() - started
            response.raise_for_status()
            if i >= 20:  # the first 20 warm the connection and caches
                latencies.append(seconds * 1000)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    lines = [
        f"Measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.perspective_latency {args.model_dir} --requests {args.requests}`",
        (f"Model `{args.model_dir.resolve().name}` (int8 ONNX); {args.requests} requests, one at a time, each Coral's exact toxic-phase request for one "
        "in-house comment (up to 128 tokens), from a client with Coral's 500 ms timeout, on loopback."),
        "",
        "| endpoint | p50 | mean | p99 | max | Coral's budget | timed out |",
        "|---|---|---|---|---|---|---|",
        (f"| `POST /v1alpha1/comments:analyze` | {p50:.1f} ms | {statistics.fmean(latencies):.1f} ms | {p99:.1f} ms | {latencies[-1]:.1f} ms | "
        f"{BUDGET_MS} ms | 0 of {args.requests} |"),
        "",
        "For comparison, Perspective's own round trip is 100 ms or more from outside Google, with a default quota of 1 request a second.",
    ]
    write_section("perspective", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main()
