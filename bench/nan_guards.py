"""ONNX encoders with and without the attention's NaN guards (training.export.drop_nan_guards), on the same comments.

For each ONNX file of a model dir (fp32 and int8), a copy without the guards is made in a temp dir; both are run on
the first 640 in-house comments in length-sorted batches of 32, with the service's session options, in alternating
rounds after a warm-up, and the bench checks that the embeddings are identical.
Run: .venv/bin/python -m bench.nan_guards MODEL_DIR [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.sections import machine, one_line_errors, write_section
from labels.sets import read_jsonl
from serving.transformer import ONNX_FILE, ONNX_INT8_FILE, TOKENIZER_FILE, cpu_session, length_sorted_batches, load_tokenizer
from threadguard.settings import PROJECT_ROOT
from training.export import drop_nan_guards

COMMENTS = PROJECT_ROOT / "labels" / "data" / "inhouse-extended.jsonl"
SAMPLE = 640
BATCH = 32


def _rate(session, batches: list[dict[str, np.ndarray]]) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    names = {i.name for i in session.get_inputs()}
    start = time.perf_counter()
    out = [session.run(None, {k: v for k, v in batch.items() if k in names})[0] for batch in batches]
    return sum(len(o) for o in out) / (time.perf_counter() - start), np.concatenate(out)


def main(model_dir: Path, rounds: int) -> str:
    rows = read_jsonl(COMMENTS, hand_labelled=True)[:SAMPLE]
    tokenizer = load_tokenizer(model_dir / TOKENIZER_FILE, 128)
    ids = [e.ids for e in tokenizer.encode_batch([r.body for r in rows])]
    batches = [batch for _, batch in length_sorted_batches(ids, BATCH)]
    lines = [
        f"Model `{model_dir.resolve().name}`; the first {len(rows)} comments of {COMMENTS.name}, batches of {BATCH}, the service's session "
        f"options, {rounds} alternating rounds after a warm-up (median). Measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.nan_guards {model_dir} --rounds {rounds}`.",
        "",
        "| file | guards dropped | with guards, comments/s | without, comments/s | speed-up | embeddings identical |",
        "|---|---|---|---|---|---|",
    ]
    work = Path(tempfile.mkdtemp(prefix="tg-guards-"))
    try:
        for name in (ONNX_INT8_FILE, ONNX_FILE):
            if not (model_dir / name).is_file():
                continue
            shutil.copy(model_dir / name, work / name)
            dropped = drop_nan_guards(work / name)
            guarded, plain = cpu_session(model_dir / name), cpu_session(work / name)
            _rate(guarded, batches), _rate(plain, batches)
            with_guards, without = [], []
            for _ in range(rounds):
                rate, a = _rate(guarded, batches)
                with_guards.append(rate)
                rate, b = _rate(plain, batches)
                without.append(rate)
            slow, fast = statistics.median(with_guards), statistics.median(without)
            lines.append(f"| {name} | {dropped} | {slow:.1f} | {fast:.1f} | {fast / slow:.2f}x | {'yes' if np.array_equal(a, b) else 'NO'} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return "\n".join(lines)


if __name__ == "__main__":
    with one_line_errors():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("model_dir", type=Path)
        parser.add_argument("--rounds", type=int, default=5)
        args = parser.parse_args()
        body = main(args.model_dir, args.rounds)
        print(body)
        write_section("nan-guards", body)
