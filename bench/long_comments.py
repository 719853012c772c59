"""Long comments read whole against read truncated: what the later windows (serving/windows.py) catch, cost and change.

For a model dir, with the backend's later windows off (the first max_length tokens only, as before 2026-12-04) and on:
- the functional suite's cases of abuse after a long preamble, and of long comments without abuse;
- in-domain validation and test ROC-AUC for hate and insult, with a paired bootstrap interval on the difference,
  and every clean test split's ROC-AUC (windows change only comments longer than max_length);
- the cost: windows read and comments/s on the in-house comments, in alternating rounds.
Run: .venv/bin/python -m bench.long_comments [MODEL_DIR] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.sections import machine, one_line_errors, write_section
from labels.schema import LABELS, Label
from labels.sets import read_jsonl
from serving.linear import HasContext
from serving.model import Scorer, open_scorer
from threadguard.errors import UsageError
from threadguard.settings import PROJECT_ROOT, Settings
from training.config import TrainConfig
from training.data import assemble
from training.functional import load_suite, overall, run_suite
from training.report import paired_auc_difference

INHOUSE = PROJECT_ROOT / "labels" / "data" / "inhouse-extended.jsonl"
LONG_FUNCTIONALITIES = ("hate_after_long_preamble", "insult_after_long_preamble", "spam_after_long_preamble", "long_comment_without_abuse")
COMMENT_LABELS = (Label.hate, Label.insult)


@contextmanager
def windows(scorer: Scorer, on: bool) -> Iterator[Scorer]:
    backend = scorer.backend
    if not hasattr(backend, "read_whole_comments"):
        raise UsageError(f"{scorer.model_dir.path}: only a transformer model dir reads long comments in windows")
    before = backend.read_whole_comments
    backend.read_whole_comments = on
    try:
        yield scorer
    finally:
        backend.read_whole_comments = before


def _long(scorer: Scorer, items: Sequence[HasContext]) -> np.ndarray:
    """Which items' comments have later windows."""
    backend = scorer.backend
    return np.array([bool(backend.window_ids(" ".join(item.body.split()))) for item in scorer.as_trained(items)])  # type: ignore[attr-defined]


def _rate(scorer: Scorer, items: Sequence[HasContext]) -> float:
    scorer.backend.forget_articles()  # type: ignore[attr-defined]
    start = time.perf_counter()
    scorer.predict_proba(items)
    return len(items) / (time.perf_counter() - start)


def main(model_dir: Path, rounds: int) -> str:
    scorer = open_scorer(model_dir, device="cpu")
    cases = load_suite()
    lines = [f"Model `{model_dir.resolve().name}`, int8 ONNX as served, later windows off (the first max_length tokens only) "
             f"and on. Measured {dt.date.today()} on {machine()}.",
             f"Command: `.venv/bin/python -m bench.long_comments {model_dir} --rounds {rounds}`.", ""]

    results = {}
    for on in (False, True):
        with windows(scorer, on):
            results[on] = run_suite(scorer.predict_proba, cases)
    lines += ["Functional suite, pass rate at the calibrated 0.5 cut-off:", "",
              "| functionality | cases | windows off | windows on |", "|---|---|---|---|"]
    for off_result, on_result in zip(results[False], results[True], strict=True):
        if off_result.functionality in LONG_FUNCTIONALITIES:
            lines.append(f"| {off_result.functionality} | {off_result.n} | {off_result.pass_rate:.2f} | {on_result.pass_rate:.2f} |")
    rest = [[r for r in results[on] if r.functionality not in LONG_FUNCTIONALITIES] for on in (False, True)]
    lines.append(f"| every other functionality | {sum(r.n for r in rest[0])} | {overall(rest[0]):.3f} | {overall(rest[1]):.3f} |")

    rows = [r for r in read_jsonl(INHOUSE, hand_labelled=True) if r.split in ("validation", "test")]
    long = _long(scorer, rows)
    probs = {}
    for on in (False, True):
        with windows(scorer, on):
            probs[on] = scorer.predict_proba(rows)
    lines += ["", f"In-domain ({INHOUSE.name}), ROC-AUC windows off → on, paired 95 % bootstrap interval on the difference "
              "(rows longer than max_length; their positives):", "",
              "| split | label | off | on | difference | long rows (positives) |", "|---|---|---|---|---|---|"]
    for split in ("validation", "test"):
        mask = np.array([r.split == split for r in rows])
        for label in COMMENT_LABELS:
            j = LABELS.index(label)
            y = np.array([r.label(label) or 0 for r in rows])[mask]
            a, b = probs[False][mask, j], probs[True][mask, j]
            diff = paired_auc_difference(y, a, b)
            interval = "n/a" if diff is None else f"{diff.point:+.4f} [{diff.low:+.3f}, {diff.high:+.3f}]"
            lines.append(f"| {split} | {label.value} | {roc_auc_score(y, a):.4f} | {roc_auc_score(y, b):.4f} | {interval} | "
                         f"{int(long[mask].sum())} ({int(y[long[mask]].sum())}) |")

    config = TrainConfig.model_validate(scorer.model_dir.config.train_config)
    lines += ["", "Every clean test split the model's config names (hate and insult where annotated), ROC-AUC windows off → on:", "",
              "| test set | label | rows longer than max_length | off | on |", "|---|---|---|---|---|"]
    for named in assemble(config, Settings().datasets_dir, progress=False).tests:
        test_long = _long(scorer, named.rows)
        split_probs = {}
        for on in (False, True):
            with windows(scorer, on):
                split_probs[on] = scorer.predict_proba(named.rows)
        for label in COMMENT_LABELS:
            j = LABELS.index(label)
            pairs = [(r.label(label), i) for i, r in enumerate(named.rows) if r.label(label) is not None]
            y = np.array([p[0] for p in pairs])
            if not len(y) or y.min() == y.max():
                continue
            idx = [p[1] for p in pairs]
            lines.append(f"| {named.name} | {label.value} | {int(test_long[idx].sum())} of {len(idx)} | "
                         f"{roc_auc_score(y, split_probs[False][idx, j]):.4f} | {roc_auc_score(y, split_probs[True][idx, j]):.4f} |")

    comments = read_jsonl(INHOUSE, hand_labelled=True)
    every_long = _long(scorer, comments)
    extra = sum(len(scorer.backend.window_ids(" ".join(r.body.split()))) for r in scorer.as_trained(comments))  # type: ignore[attr-defined]
    speed: dict[bool, list[float]] = {False: [], True: []}
    with windows(scorer, True):
        scorer.predict_proba(comments[:64])  # warm-up
    for _ in range(rounds):
        for on in (False, True):
            with windows(scorer, on):
                speed[on].append(_rate(scorer, comments))
    off_rate, on_rate = statistics.median(speed[False]), statistics.median(speed[True])
    lines += ["", f"Cost on all {len(comments)} in-house comments ({int(every_long.sum())} longer than max_length): {extra} later windows; "
              f"{off_rate:.1f} comments/s with windows off, {on_rate:.1f} on ({on_rate / off_rate:.2f}x; median of {rounds} alternating "
              "rounds, article cache cleared before each)."]
    return "\n".join(lines)


if __name__ == "__main__":
    with one_line_errors():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("model_dir", type=Path, nargs="?", default=Path("models/current"))
        parser.add_argument("--rounds", type=int, default=3)
        args = parser.parse_args()
        body = main(args.model_dir, args.rounds)
        write_section("long-comments", body)
        print(body)
