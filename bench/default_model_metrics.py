"""Per-label test metrics of a model dir on every test split, written to docs/benchmarks.md.

Run: .venv/bin/python -m bench.default_model_metrics [MODEL_DIR [SECTION]]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

from bench.sections import machine, one_line_errors, write_section
from labels.schema import LABELS
from serving.model import Scorer
from threadguard.settings import Settings
from training.calibration import ece_if_calibrated
from training.data import NamedSet
from training.evaluate import label_matrix
from training.pipeline import evaluate_opened, open_with_test_sets


def noise_floor_line(scorer: Scorer, first: NamedSet) -> str:
    """For the first test set (the in-domain one): the ECE that perfectly calibrated scores would show on its rows."""
    probs, y = scorer.predict_proba(first.rows), label_matrix(first.rows)
    cells = []
    for j, label in enumerate(LABELS):
        mask = ~np.isnan(y[:, j])
        if mask.any():
            median, high = ece_if_calibrated(probs[mask, j].astype(np.float64))
            cells.append(f"{label.value} {median:.3f} / {high:.3f} (mean score {probs[mask, j].mean():.3f}, positive rate {y[mask, j].mean():.3f})")
    return (f"ECE that perfectly calibrated scores would show on {first.name}'s {len(first.rows)} rows (labels drawn from the scores, "
            + "1000 simulations; median / 95th percentile): " + "; ".join(cells) + ".")


def main(model_dir: Path, section: str = "default-model-metrics") -> None:
    settings = Settings()
    started = time.perf_counter()
    scorer, bundle = open_with_test_sets(model_dir, datasets_dir=settings.datasets_dir, device="cpu")
    metrics, warnings = evaluate_opened(scorer, bundle)
    seconds = time.perf_counter() - started
    name = model_dir.resolve().name
    lines = [
        f"Model `{name}`, measured {dt.date.today()} on {machine()}; evaluation took {seconds:.0f} s.",
        f"Command: `.venv/bin/python -m bench.default_model_metrics {model_dir}{'' if section == 'default-model-metrics' else ' ' + section}` (the same numbers as `threadguard evaluate`).",
        "Thresholds were chosen on validation splits; every row below is a test split (the seed set and HateCheck are evaluation only).",
        "",
        "| test set | label | n | positives | ROC-AUC | PR-AUC | precision@review | recall@review | F1@review | ECE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for eval_set in metrics.eval_sets:
        for label, m in eval_set.labels.items():
            roc = "n/a" if m.roc_auc is None else f"{m.roc_auc:.3f}"
            pr = "n/a" if m.pr_auc is None else f"{m.pr_auc:.3f}"
            lines.append(f"| {eval_set.name} | {label} | {m.n} | {m.positives} | {roc} | {pr} | {m.review['precision']:.3f} | {m.review['recall']:.3f} | {m.review['f1']:.3f} | {'n/a' if m.ece is None else f'{m.ece:.3f}'} |")
    lines += [f"- warning: {w}" for w in warnings]
    lines += ["", noise_floor_line(scorer, bundle.tests[0])]
    write_section(section, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/current"), *(sys.argv[2:3]))
