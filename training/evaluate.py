"""evaluate(y_true, probs, thresholds) -> per-label metrics; works on arrays, never on a model object."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from labels.schema import LABELS, LabelledComment
from threadguard.artifact import LabelMetrics, LabelThresholds
from training.calibration import expected_calibration_error


def label_matrix(rows: Sequence[LabelledComment]) -> np.ndarray:
    """(n, 3) float array in LABELS order; NaN where a label is not annotated."""
    out = np.full((len(rows), len(LABELS)), np.nan, dtype=np.float64)
    for i, row in enumerate(rows):
        for j, label in enumerate(LABELS):
            value = row.label(label)
            if value is not None:
                out[i, j] = value
    return out


def _at(y: np.ndarray, p: np.ndarray, cut: float) -> dict[str, float]:
    precision, recall, f1, _ = precision_recall_fscore_support(y, p >= cut, average="binary", zero_division=0)
    return {"threshold": cut, "precision": round(float(precision), 4), "recall": round(float(recall), 4), "f1": round(float(f1), 4),
            "accuracy": round(float(((p >= cut) == (y == 1)).mean()), 4)}


def evaluate(y_true: np.ndarray, probs: np.ndarray, thresholds: dict[str, LabelThresholds]) -> dict[str, LabelMetrics]:
    """Per annotated label: ROC-AUC, PR-AUC, precision/recall/F1 at the review and reject thresholds, and expected
    calibration error (on a test set: how far a score is from the share of such comments that carry the label)."""
    if y_true.shape != probs.shape:
        raise ValueError(f"y_true has shape {y_true.shape}, probs {probs.shape}; expected the same (n, {len(LABELS)})")
    out: dict[str, LabelMetrics] = {}
    for j, label in enumerate(LABELS):
        mask = ~np.isnan(y_true[:, j])
        if not mask.any():
            continue
        y, p = y_true[mask, j].astype(int), probs[mask, j]
        both = 0 < y.sum() < len(y)
        out[label.value] = LabelMetrics(
            n=int(mask.sum()),
            positives=int(y.sum()),
            roc_auc=round(float(roc_auc_score(y, p)), 4) if both else None,
            pr_auc=round(float(average_precision_score(y, p)), 4) if both else None,
            review=_at(y, p, thresholds[label.value].review),
            reject=_at(y, p, thresholds[label.value].reject),
            ece=round(expected_calibration_error(p, y), 4),
            accuracy=round(float(((p >= 0.5) == (y == 1)).mean()), 4),
        )
    return out
