"""Would the TF-IDF baseline's score, stacked beside a transformer's, rank validation comments better? Validation only.

Per label, a logistic regression over [logit of the transformer's calibrated score, logit of the baseline's], fit on
the pooled validation rows of every source that annotates the label, scored by 5-fold cross-validation so no row is
scored by a fit that saw it. Per source: the transformer alone, the baseline alone, the stack, and the stack's paired
difference from the transformer with a 95 % bootstrap interval. The stack's weights come from the full fit. Test
splits are not read: this asks whether a stack is worth building, which validation decides.
Run: .venv/bin/python -m bench.baseline_stack MODEL_DIR BASELINE_DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from bench.sections import machine, one_line_errors, write_section
from labels.schema import LABELS
from serving.model import open_scorer
from threadguard.settings import Settings
from training.calibration import logit
from training.evaluate import label_matrix
from training.report import paired_auc_difference

FOLDS = 5


def stacked_cv(x: np.ndarray, y: np.ndarray, *, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Each row's stacked logit from a logistic regression fit on the other folds (stratified by label)."""
    out = np.zeros(len(y))
    for fit_rows, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        out[held] = LogisticRegression().fit(x[fit_rows], y[fit_rows]).decision_function(x[held])
    return out


def main(model_dir: Path, baseline_dir: Path) -> str:
    from training.pipeline import open_with_test_sets

    model, bundle = open_with_test_sets(model_dir, datasets_dir=Settings().datasets_dir, device="cpu", progress=False)
    baseline = open_scorer(baseline_dir, device="cpu")
    scored = {}
    for named in bundle.validation_sets:
        scored[named.name] = (logit(model.predict_proba(named.rows)), logit(baseline.predict_proba(named.rows)), label_matrix(named.rows))
    lines = [
        f"Measured {dt.date.today()} on {machine()}; `{model.model_dir.config.name}` (as served) and `{baseline.model_dir.config.name}` on "
        "every validation split of the model's config.",
        f"Command: `.venv/bin/python -m bench.baseline_stack {model_dir} {baseline_dir}`",
        "",
        "| label | validation split | rows (+) | transformer | baseline | stack (cross-validated) | stack − transformer [95 %] |",
        "|---|---|---|---|---|---|---|",
    ]
    weights = []
    for j, label in enumerate(LABELS):
        names = [n for n, (_, _, y) in scored.items() if len(set(y[np.isfinite(y[:, j]), j])) == 2]
        if not names:
            continue
        kept = {n: np.isfinite(scored[n][2][:, j]) for n in names}
        x = np.vstack([np.c_[scored[n][0][kept[n], j], scored[n][1][kept[n], j]] for n in names])
        y = np.concatenate([scored[n][2][kept[n], j] for n in names])
        source = np.concatenate([[n] * int(kept[n].sum()) for n in names])
        stack = stacked_cv(x, y)
        full = LogisticRegression().fit(x, y)
        weights.append(f"{label.value} {full.coef_[0][0]:.2f} × transformer + {full.coef_[0][1]:.2f} × baseline {full.intercept_[0]:+.2f}")
        for n in names:
            rows = source == n
            diff = paired_auc_difference(y[rows], x[rows, 0], stack[rows])
            interval = f"{diff.point:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]" if diff else "–"
            lines.append(f"| {label.value} | {n} | {int(rows.sum())} ({int(y[rows].sum())}) | {roc_auc_score(y[rows], x[rows, 0]):.3f} | "
                         f"{roc_auc_score(y[rows], x[rows, 1]):.3f} | {roc_auc_score(y[rows], stack[rows]):.3f} | {interval} |")
    lines += ["", "Stacked logits (full fit on validation): " + "; ".join(weights) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("baseline_dir", type=Path)
    args = parser.parse_args()
    with one_line_errors():
        body = main(args.model_dir, args.baseline_dir)
    print(body)
    write_section("baseline-stack", body)
