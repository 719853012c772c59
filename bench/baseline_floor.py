"""Issue 7's floor: is the model's ROC-AUC above the TF-IDF baseline's on every test split where a label is annotated?

Rebuilds the model's own test sets from the config it records (as `threadguard evaluate` does), scores them with the
model and each baseline through the serving loader, and gives per split and label the paired difference in ROC-AUC
(model minus baseline, the same resampled rows for both) with its 95 % interval. The verdict reads the interval:
"above" or "below" when it excludes 0, "tie" when it holds 0, and "too few" under MIN_POSITIVES positives, where one
comment's rank is the whole ROC-AUC. A baseline that trained on the corpus of a split the model holds out is marked †:
that row compares an in-domain score with a cross-domain one.

Run: .venv/bin/python -m bench.baseline_floor MODEL_DIR BASELINE_DIR [BASELINE_DIR ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.sections import machine, one_line_errors, write_section
from labels.schema import LABELS
from serving.model import open_scorer
from threadguard.settings import Settings
from training.data import NamedSet
from training.evaluate import label_matrix
from training.pipeline import open_with_test_sets, trained_corpora
from training.report import TRAINED_MARK, PairedDifference, paired_auc_difference

MIN_POSITIVES = 5


@dataclass(frozen=True)
class FloorRow:
    """One split and label: the model against one baseline."""

    split: str
    label: str
    n: int
    positives: int
    model_auc: float | None
    baseline_auc: float | None
    difference: PairedDifference | None
    in_domain_baseline: bool  # the baseline trained on the corpus this held-out split comes from

    @property
    def verdict(self) -> str:
        if self.positives < MIN_POSITIVES or self.n - self.positives < MIN_POSITIVES or self.difference is None:
            return "too few"
        if not self.difference.separates:
            return "tie"
        return "above" if self.difference.point > 0 else "below"


def floor_rows(sets: Sequence[NamedSet], model: np.ndarray | Sequence[np.ndarray], baseline: Sequence[np.ndarray], *,
               baseline_corpora: frozenset[str], n: int = 1000) -> list[FloorRow]:
    """A FloorRow for every (set, label) with both classes present; `model` and `baseline` hold one (rows, labels)
    score array per set."""
    out = []
    for named, p_model, p_base in zip(sets, model, baseline, strict=True):
        y_all = label_matrix(named.rows)
        for j, label in enumerate(LABELS):
            mask = ~np.isnan(y_all[:, j])
            y = y_all[mask, j].astype(int)
            if len(y) == 0 or y.min() == y.max():
                continue
            a, b = p_base[mask, j], p_model[mask, j]
            out.append(FloorRow(
                split=named.name, label=label.value, n=len(y), positives=int(y.sum()),
                model_auc=float(roc_auc_score(y, b)), baseline_auc=float(roc_auc_score(y, a)),
                difference=paired_auc_difference(y, a, b, n=n),
                in_domain_baseline=named.held_out is not None and named.held_out in baseline_corpora,
            ))
    return out


def render(model_name: str, baselines: dict[str, list[FloorRow]]) -> list[str]:
    lines = ["| test set | label | n (+) | model | baseline | model − baseline [95 %] | verdict |", "|---|---|---|---|---|---|---|"]
    for name, rows in baselines.items():
        for row in rows:
            diff = row.difference
            cell = "n/a" if diff is None else f"{diff.point:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]"
            mark = TRAINED_MARK if row.in_domain_baseline else ""
            lines.append(f"| {row.split} | {row.label} | {row.n} ({row.positives}) | {row.model_auc:.3f} | `{name}`{mark} {row.baseline_auc:.3f} "
                         f"| {cell} | {row.verdict} |")
    lines.append("")
    for name, rows in baselines.items():
        counts = Counter(r.verdict for r in rows if not r.in_domain_baseline)
        below = [f"{r.split} {r.label}" for r in rows if r.verdict == "below" and not r.in_domain_baseline]
        lines.append(f"Against `{name}` (rows marked {TRAINED_MARK.strip()} left out): `{model_name}` is above on {counts['above']}, tied on "
                     f"{counts['tie']}, below on {counts['below']}" + (f" ({', '.join(below)})" if below else "")
                     + f", too few positives on {counts['too few']}.")
    if any(r.in_domain_baseline for rows in baselines.values() for r in rows):
        lines.append(f"{TRAINED_MARK.strip()} The baseline trained on this held-out corpus's training split, which the model never saw.")
    return lines


def main(model_dir: Path, baseline_dirs: list[Path], datasets_dir: Path) -> str:
    started = time.perf_counter()
    scorer, bundle = open_with_test_sets(model_dir, datasets_dir=datasets_dir, device="cpu", progress=False)
    model_probs = [scorer.predict_proba(named.rows) for named in bundle.tests]
    results = {}
    for path in baseline_dirs:
        baseline = open_scorer(path, device="cpu")
        probs = [baseline.predict_proba(named.rows) for named in bundle.tests]
        results[baseline.name] = floor_rows(bundle.tests, model_probs, probs, baseline_corpora=trained_corpora(baseline.model_dir.config.train_config))
    header = [
        (f"Model `{scorer.name}` ({getattr(scorer.backend, 'runtime', 'linear')}) on its own test sets; measured {dt.date.today()} on {machine()}; "
         f"took {time.perf_counter() - started:.0f} s."),
        f"Command: `.venv/bin/python -m bench.baseline_floor {model_dir} {' '.join(str(p) for p in baseline_dirs)}`.",
        f"Paired bootstrap over rows (1000 resamples); a verdict needs {MIN_POSITIVES} or more positives and negatives.",
        "",
    ]
    return "\n".join(header + render(scorer.name, results))


if __name__ == "__main__":
    with one_line_errors():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("model_dir", type=Path)
        parser.add_argument("baseline_dirs", nargs="+", type=Path)
        args = parser.parse_args()
        body = main(args.model_dir, args.baseline_dirs, Settings().datasets_dir)
        write_section("baseline-floor", body)
        print(body)
