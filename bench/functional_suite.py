"""The functional suite and the unintended-bias report on model dirs, with text normalisation off and on.

For each model: suite pass rates per functionality (normalisation off / on), ROC-AUC on every clean test split
off / on (normalisation must cost nothing there), and the bias report (false positives on neutral identity
mentions, subgroup / BPSN / BNSP AUC for hate) with the model's own setting.
Run: .venv/bin/python -m bench.functional_suite [MODEL_DIR ...]
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.sections import machine, one_line_errors, write_section
from labels.schema import LABELS
from serving.model import open_scorer
from threadguard.artifact import review_thresholds
from threadguard.settings import Settings
from training.bias import bias_tables, neutral_fpr, subgroup_aucs
from training.config import TrainConfig
from training.data import assemble
from training.functional import SUITE, load_suite, obfuscation_rate, overall, rate_cell, run_suite


def _aucs(tests, all_probs) -> dict[tuple[str, str], float]:  # type: ignore[no-untyped-def]
    out = {}
    for named, probs in zip(tests, all_probs, strict=True):
        for j, label in enumerate(LABELS):
            pairs = [(r.label(label), probs[i, j]) for i, r in enumerate(named.rows) if r.label(label) is not None]
            y = np.array([p[0] for p in pairs])
            if len(y) and 0 < y.sum() < len(y):
                out[(named.name, label.value)] = float(roc_auc_score(y, [p[1] for p in pairs]))
    return out


def main(model_dirs: list[Path]) -> None:
    cases = load_suite(SUITE)
    lines = [f"Measured {dt.date.today()} on {machine()}.",
             f"Command: `.venv/bin/python -m bench.functional_suite {' '.join(str(d) for d in model_dirs)}`",
             f"Suite: `tests/functional/suite.toml`, {len(cases)} cases, pass = every expected label on the right side of the calibrated 0.5 cut-off.", ""]
    for model_dir in model_dirs:
        off = open_scorer(model_dir, device="cpu", normalise=False)
        on = open_scorer(model_dir, device="cpu", normalise=True)
        r_off, r_on = run_suite(off.predict_proba, cases), run_suite(on.predict_proba, cases)
        lines += [f"### `{off.name}`", "",
                  (f"Overall pass rate {overall(r_off):.3f} without normalisation, {overall(r_on):.3f} with it; obfuscated cases "
                  f"{obfuscation_rate(r_off):.3f} → {obfuscation_rate(r_on):.3f}. The model's own setting: "
                  f"{'on' if off.model_dir.config.backend.get('text_normalisation') else 'off'}."), "",
                  "| functionality | cases | pass, off | pass, on | expects label (on) | expects none (on) |", "|---|---|---|---|---|---|"]
        for a, b in zip(r_off, r_on, strict=True):
            lines.append(f"| {a.functionality} | {a.n} | {a.pass_rate:.2f} | {b.pass_rate:.2f} | {rate_cell(b.positive_pass, b.positives)} | "
                         f"{rate_cell(b.negative_pass, b.negatives)} |")
        config = TrainConfig.model_validate(off.model_dir.config.train_config)
        tests = assemble(config, Settings().datasets_dir, progress=False).tests
        probs_off, probs_on = [off.predict_proba(n.rows) for n in tests], [on.predict_proba(n.rows) for n in tests]
        auc_off, auc_on = _aucs(tests, probs_off), _aucs(tests, probs_on)
        worst = min(auc_on[k] - auc_off[k] for k in auc_off)
        lines += ["", f"Clean test splits, ROC-AUC without → with normalisation (largest drop {worst:+.4f}):", "",
                  "| test set | label | off | on |", "|---|---|---|---|"]
        lines += [f"| {name} | {label} | {auc_off[(name, label)]:.4f} | {auc_on[(name, label)]:.4f} |" for name, label in auc_off]
        served, served_probs = (on, probs_on) if off.model_dir.config.backend.get("text_normalisation") else (off, probs_off)
        review = review_thresholds(served.thresholds)
        lines += ["", f"Unintended bias, `{served.name}` as served:", "", *bias_tables(neutral_fpr(served.predict_proba, cases, review=review),
                                                                                     subgroup_aucs(tests, served_probs)), ""]
    write_section("functional", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main([Path(p) for p in sys.argv[1:]] or [Path("models/current")])
