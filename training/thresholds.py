"""Per-label review/reject thresholds, chosen on validation data only."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

from threadguard.artifact import LabelThresholds

NO_AUTO_REJECT = 1.0
"""A reject threshold of 1.0 means validation never reached the precision asked for automatic rejection."""


def choose_thresholds(y_true: np.ndarray, scores: np.ndarray, *, reject_precision: float, max_review_rate: float = 1.0) -> LabelThresholds:
    """review: the threshold of best F1, raised if needed so that at most max_review_rate of the validation
    comments reach it; reject: the lowest threshold >= review whose precision reaches reject_precision.

    The cap is moderation capacity: on a weak, rare label the best-F1 threshold can sit so low that most
    comments go to review, which drowns the queue without finding more of that label.
    """
    if len(y_true) == 0 or y_true.min() == y_true.max():
        return LabelThresholds(review=0.5, reject=NO_AUTO_REJECT)
    precision, recall, cuts = precision_recall_curve(y_true, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    review = float(cuts[int(np.argmax(f1))])
    if max_review_rate < 1.0:
        capacity = float(np.quantile(scores, 1.0 - max_review_rate, method="higher"))
        review = max(review, np.nextafter(capacity, np.inf) if np.mean(scores >= capacity) > max_review_rate else capacity)
    ok = (cuts >= review) & (precision >= reject_precision)
    reject = float(cuts[ok].min()) if ok.any() else NO_AUTO_REJECT
    review = min(review, NO_AUTO_REJECT)
    return LabelThresholds(review=round(review, 6), reject=round(max(reject, review), 6))
