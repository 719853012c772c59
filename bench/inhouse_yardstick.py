"""In-domain ROC-AUC on the grown validation and test splits, with the paired bootstrap that says whether two
models differ.

`labels/data/inhouse-extended.jsonl` keeps every row of `inhouse.jsonl` in its split and adds the last five Globe
and Mail threads to validation and test (docs/data.md). This scores each model dir through the serving loader on
both splits, apart for the first draw's rows and the added ones, and then, for each later model against the first,
the difference in ROC-AUC with a 95 % paired bootstrap interval (the same resampled rows for both models): an
interval that holds 0 means this yardstick cannot tell the two apart.

Run: .venv/bin/python -m bench.inhouse_yardstick MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.sections import machine, one_line_errors, write_section
from labels.schema import LABELS, LabelledComment
from labels.sets import read_jsonl
from serving.model import open_scorer
from threadguard.settings import PROJECT_ROOT
from training.calibration import expected_calibration_error
from training.evaluate import label_matrix
from training.report import bootstrap_auc, paired_auc_difference

DATA = PROJECT_ROOT / "labels" / "data"
SPLITS = ("validation", "test")
MIN_POSITIVES = 5  # below this an interval says nothing (one positive gives a "ROC-AUC" of one rank)


def _cell(y: np.ndarray, p: np.ndarray) -> str:
    if y.sum() < MIN_POSITIVES:
        return f"({int(y.sum())})"
    auc = bootstrap_auc(y, p)
    return "n/a" if auc is None else f"{auc[0]:.3f} [{auc[1]:.2f}, {auc[2]:.2f}] ({int(y.sum())})"


def _calibration_cell(y: np.ndarray, p: np.ndarray) -> str:
    """ECE (10 bins) with the mean score beside the positive rate: on a split whose threads draw less abuse than
    validation's, calibrated scores run above the rate and ECE shows it."""
    return f"{expected_calibration_error(p, y.astype(float)):.3f} ({p.mean():.3f} / {y.mean():.3f})"


def main(model_dirs: list[Path], labelled: Path, first_draw: Path) -> str:
    rows = [r for r in read_jsonl(labelled, hand_labelled=True) if r.split in SPLITS]
    first_ids = {r.id for r in read_jsonl(first_draw, hand_labelled=True)}
    probs = {d: open_scorer(d, device="cpu").predict_proba(rows) for d in model_dirs}
    names = {d: d.resolve().name for d in model_dirs}
    y = label_matrix(rows).astype(int)  # hand-labelled rows carry every label
    parts: dict[str, Callable[[LabelledComment], bool]] = {
        "all": lambda r: True, "first draw": lambda r: r.id in first_ids, "added": lambda r: r.id not in first_ids}
    header = ["| split | rows | model | " + " | ".join(label.value for label in LABELS) + " |", "|---|---|---|" + "---|" * len(LABELS)]

    def table(part_names: tuple[str, ...], cell: Callable[[np.ndarray, np.ndarray], str]) -> list[str]:
        """One line per split, part of it and model: `cell` of each label's labels and scores on those rows."""
        out = []
        for split in SPLITS:
            for part in part_names:
                mask = np.array([r.split == split and parts[part](r) for r in rows])
                for d in model_dirs:
                    cells = [cell(y[mask, j], probs[d][mask, j]) for j in range(len(LABELS))]
                    out.append(f"| {split} | {part} ({int(mask.sum())}) | `{names[d]}` | " + " | ".join(cells) + " |")
        return out

    lines = [
        (f"{labelled.relative_to(PROJECT_ROOT) if labelled.is_relative_to(PROJECT_ROOT) else labelled}: "
        f"{sum(r.split == 'validation' for r in rows)} validation and {sum(r.split == 'test' for r in rows)} test rows; "
        f"'first draw' = the rows of {first_draw.name}, 'added' = the Globe and Mail threads added under guide 1.2. "
        f"Measured {dt.date.today()} on {machine()}."),
        f"Command: `.venv/bin/python -m bench.inhouse_yardstick {' '.join(str(d) for d in model_dirs)}`.",
        "",
        f"ROC-AUC with a 95 % bootstrap interval and (positives; fewer than {MIN_POSITIVES} gives no ROC-AUC), each model's scorer as served:",
        "",
        *header,
        *table(("all", "first draw", "added"), _cell),
        "", "Calibration as served: ECE (mean calibrated score / positive rate):", "",
        *header,
        *table(("all", "first draw"), _calibration_cell),
    ]
    if len(model_dirs) > 1:
        base = model_dirs[0]
        lines += ["", f"Paired difference in ROC-AUC against `{names[base]}` (all rows of the split; * = the interval excludes 0):", "",
                  "| split | model | " + " | ".join(label.value for label in LABELS) + " |", "|---|---|" + "---|" * len(LABELS)]
        for split in SPLITS:
            mask = np.array([r.split == split for r in rows])
            for d in model_dirs[1:]:
                cells = []
                for j in range(len(LABELS)):
                    diff = paired_auc_difference(y[mask, j], probs[base][mask, j], probs[d][mask, j])
                    cells.append("n/a" if diff is None else f"{diff.point:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]{' *' if diff.separates else ''}")
                lines.append(f"| {split} | `{names[d]}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    with one_line_errors():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("model_dirs", nargs="*", type=Path, default=[PROJECT_ROOT / "models" / "current"])
        parser.add_argument("--labelled", type=Path, default=DATA / "inhouse-extended.jsonl")
        parser.add_argument("--first-draw", type=Path, default=DATA / "inhouse.jsonl")
        args = parser.parse_args()
        body = main(args.model_dirs, args.labelled, args.first_draw)
        write_section("inhouse-yardstick", body)
        print(body)
