"""Spelling repair (threadguard/spelling.py) off and on, on one model dir: what it changes, catches and costs.

For a model dir, with the scorer's spelling repair off and on (same weights, same calibration):
- how many rows it changes: training rows of the dir's config, and every test split;
- HateCheck accuracy at the calibrated 0.5 cut-off, overall and per functionality it moves (evaluation only: the
  repair's word list was not tuned on it), and the functional suite;
- ROC-AUC on every test split (repair must cost nothing on clean text);
- the cost: repair alone in texts/s over the in-house comments, and scoring comments/s off and on.
Run: .venv/bin/python -m bench.spelling_repair [MODEL_DIR]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.sections import machine, one_line_errors, write_section
from labels.schema import LABELS, Label
from labels.sets import read_jsonl
from serving.model import Scorer, open_scorer
from threadguard.errors import UsageError
from threadguard.normalise import normalise_text
from threadguard.settings import PROJECT_ROOT, Settings
from threadguard.spelling import repair_spelling
from training.config import TrainConfig
from training.data import assemble
from training.functional import load_suite, overall, run_suite

INHOUSE = PROJECT_ROOT / "labels" / "data" / "inhouse-extended.jsonl"


def _changed(rows) -> int:  # type: ignore[no-untyped-def]
    return sum(normalise_text(r.body) != normalise_text(r.body, repair_spelling=True) for r in rows)


def _scores(scorer: Scorer, rows, repair: bool) -> np.ndarray:  # type: ignore[no-untyped-def]
    scorer.repair_spelling = repair
    return scorer.predict_proba(rows)


def _auc(rows, probs: np.ndarray, label: Label) -> float | None:  # type: ignore[no-untyped-def]
    pairs = [(r.label(label), probs[i, LABELS.index(label)]) for i, r in enumerate(rows) if r.label(label) is not None]
    y = np.array([p[0] for p in pairs])
    return float(roc_auc_score(y, [p[1] for p in pairs])) if len(y) and 0 < y.sum() < len(y) else None


def main(model_dir: Path) -> None:
    scorer = open_scorer(model_dir, device="cpu")  # the dir's own normalisation: the check below reads it
    if not scorer.normalise:
        raise UsageError(f"{model_dir}: spelling repair is a normalisation step, and this dir does not normalise")
    config = TrainConfig.model_validate(scorer.model_dir.config.train_config)
    bundle = assemble(config, Settings().datasets_dir, progress=False)
    lines = [f"Measured {dt.date.today()} on {machine()}.",
             f"Command: `.venv/bin/python -m bench.spelling_repair {model_dir}`",
             f"Model `{scorer.name}` (its own setting: spelling repair {'on' if scorer.model_dir.config.backend.get('spelling_repair') else 'off'}); "
             "off and on below are the same weights and calibration with the step off and on.", "",
             f"Rows the step changes: {_changed(bundle.train)} of {len(bundle.train)} training rows of the dir's config; "
             + ", ".join(f"{n.name} {_changed(n.rows)} of {len(n.rows)}" for n in bundle.tests) + ".", ""]

    hatecheck = next((n for n in bundle.tests if n.name.startswith("hatecheck")), None)
    probs = {name: {repair: _scores(scorer, n.rows, repair) for repair in (False, True)} for name, n in ((n.name, n) for n in bundle.tests)}
    if hatecheck is not None:
        y = np.array([r.hate for r in hatecheck.rows])
        right = {repair: (probs[hatecheck.name][repair][:, 0] >= 0.5) == y for repair in (False, True)}
        by_function: dict[str, list[int]] = defaultdict(list)
        for i, row in enumerate(hatecheck.rows):
            by_function[row.thread_id.removeprefix("hatecheck:")].append(i)
        below = {repair: sorted(f for f, idx in by_function.items() if right[repair][idx].mean() < 0.5) for repair in (False, True)}
        lines += [f"HateCheck accuracy at 0.5: {right[False].mean():.3f} off, {right[True].mean():.3f} on; functionalities under 0.5: "
                  f"{len(below[False])} off, {len(below[True])} on ({', '.join(below[True])}).", "",
                  "| HateCheck functionality | cases | off | on |", "|---|---|---|---|"]
        lines += [f"| {f} | {len(idx)} | {right[False][idx].mean():.3f} | {right[True][idx].mean():.3f} |"
                  for f, idx in sorted(by_function.items()) if right[False][idx].mean() != right[True][idx].mean()]
        lines.append("")

    cases = load_suite()
    suite = {repair: run_suite(lambda items, r=repair: _scores(scorer, items, r), cases) for repair in (False, True)}
    moved = [(a, b) for a, b in zip(suite[False], suite[True], strict=True) if a.pass_rate != b.pass_rate]
    lines += [f"Functional suite ({len(cases)} cases): {overall(suite[False]):.3f} off, {overall(suite[True]):.3f} on"
              + (": " + ", ".join(f"{a.functionality} {a.pass_rate:.2f} → {b.pass_rate:.2f}" for a, b in moved) if moved else "; no functionality moved")
              + ".", "", "| test set | label | off | on |", "|---|---|---|---|"]
    worst = 0.0
    for named in bundle.tests:
        for label in LABELS:
            off, on = (_auc(named.rows, probs[named.name][r], label) for r in (False, True))
            if off is not None and on is not None:
                worst = min(worst, on - off)
                lines.append(f"| {named.name} | {label.value} | {off:.4f} | {on:.4f} |")
    lines += ["", f"Largest ROC-AUC drop: {worst:+.4f}.", ""]

    comments = [r.body for r in read_jsonl(INHOUSE)]
    normalised = [normalise_text(c) for c in comments]
    repair_spelling(normalised[0])  # loads the word list once, as a service's first comment does
    start = time.perf_counter()
    for text in normalised:
        repair_spelling(text)
    repair_rate = len(normalised) / (time.perf_counter() - start)
    rows = read_jsonl(INHOUSE)
    rates = {}
    for repair in (False, True, False, True):  # alternating, so a drift in the machine's speed hits both
        start = time.perf_counter()
        _scores(scorer, rows, repair)
        rates.setdefault(repair, []).append(len(rows) / (time.perf_counter() - start))
    lines += [f"Cost on the {len(comments)} in-house comments: repair alone {repair_rate:,.0f} comments/s; scoring "
              f"{np.median(rates[False]):.1f} comments/s off, {np.median(rates[True]):.1f} on (median of 2 alternating rounds)."]
    write_section("spelling-repair", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/current"))
