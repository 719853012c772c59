"""`threadguard score --engine ray` against the single-process `threadguard score` on one archive, in one run.

Both are whole CLI processes (start-up, Ray's local cluster and model loading included), timed end to end;
the outputs are compared line for line. Run: .venv/bin/python -m bench.ray_archive [MODEL_DIR] [--rows N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sections import machine, one_line_errors, write_section
from labels.corpora import load_corpus
from threadguard.settings import PROJECT_ROOT, Settings


def _run(args: list[str]) -> float:
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", *args], check=True, cwd=PROJECT_ROOT, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path, nargs="?", default=Path("models/current"))
    parser.add_argument("--rows", type=int, default=6000)
    args = parser.parse_args()
    rows = load_corpus("kaggle_insults", Settings().datasets_dir)
    sample = [rows[i % len(rows)] for i in random.Random(0).sample(range(len(rows) * 3), args.rows)]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive.jsonl"
        archive.write_text("".join(json.dumps({"id": f"k{i}", "body": r.body}) + "\n" for i, r in enumerate(sample)))
        local_out, ray_out = Path(tmp) / "local.jsonl", Path(tmp) / "ray.jsonl"
        model = ["--model", str(args.model_dir), "--device", "cpu"]
        local = _run(["score", str(archive), *model, "--output", str(local_out)])
        ray = _run(["score", str(archive), *model, "--engine", "ray", "--actors", "2", "--output", str(ray_out)])
        same = local_out.read_text() == ray_out.read_text()
    lines = [
        f"Measured {dt.date.today()} on {machine()}, in one run on the same archive.",
        f"Command: `.venv/bin/python -m bench.ray_archive {args.model_dir} --rows {args.rows}`",
        (f"{args.rows} Kaggle-insults comments (JSONL), model `{args.model_dir.resolve().name}` (int8 ONNX); whole CLI processes timed end to end "
        "(start-up, model loading and, for Ray, starting its local cluster included)."),
        "",
        "| engine | seconds | comments/s |",
        "|---|---|---|",
        f"| `threadguard score` (one process, ONNX Runtime on 2 threads) | {local:.1f} | {args.rows / local:.0f} |",
        f"| `threadguard score --engine ray --actors 2` (local cluster, 2 actors × 1 thread) | {ray:.1f} | {args.rows / ray:.0f} |",
        "",
        (f"Outputs identical line for line: {'yes' if same else 'NO'}. On one 2-core machine Ray adds its start-up and buys nothing; "
        "it pays on a cluster, where actors scale with the nodes."),
    ]
    write_section("ray", "\n".join(lines))
    print("\n".join(lines))
    if not same:
        raise SystemExit("the Ray output differs from the single-process output")


if __name__ == "__main__":
    with one_line_errors():
        main()
