from __future__ import annotations

import numpy as np

from labels.schema import LabelledComment
from threadguard.artifact import LabelThresholds
from training.evaluate import evaluate, label_matrix
from training.thresholds import NO_AUTO_REJECT, choose_thresholds

T = {name: LabelThresholds(review=0.5, reject=0.9) for name in ("hate", "insult", "off_topic")}


def test_label_matrix_keeps_missing_labels_missing() -> None:
    rows = [LabelledComment(id="a", source="s", split="test", thread_id="t", body="x", hate=1),
            LabelledComment(id="b", source="s", split="test", thread_id="t", body="y", insult=0)]
    y = label_matrix(rows)
    assert y[0, 0] == 1 and np.isnan(y[0, 1]) and y[1, 1] == 0 and np.isnan(y[:, 2]).all()


def test_evaluate_skips_unannotated_labels_and_reports_auc() -> None:
    y = np.array([[1, np.nan, np.nan], [0, np.nan, np.nan], [1, np.nan, np.nan], [0, np.nan, np.nan]])
    p = np.array([[0.9, 0.9, 0.1], [0.2, 0.1, 0.1], [0.6, 0.1, 0.1], [0.7, 0.1, 0.1]])
    metrics = evaluate(y, p, T)
    assert set(metrics) == {"hate"}
    assert metrics["hate"].roc_auc == 0.75 and metrics["hate"].n == 4 and metrics["hate"].positives == 2
    assert metrics["hate"].review == {"threshold": 0.5, "precision": 0.6667, "recall": 1.0, "f1": 0.8, "accuracy": 0.75}
    assert metrics["hate"].accuracy == 0.75  # at the 0.5 cut-off: 0.7 for a row without hate is the one miss
    assert metrics["hate"].reject["accuracy"] == 0.75  # at 0.9 only the 0.6 positive is missed


def test_evaluate_reports_calibration_error_per_label() -> None:
    y = np.array([[1, 0, np.nan], [0, 0, np.nan], [1, 1, np.nan], [0, 0, np.nan]])
    p = np.array([[0.85, 0.3, 0.5], [0.15, 0.3, 0.5], [0.85, 0.3, 0.5], [0.15, 0.3, 0.5]])
    metrics = evaluate(y, p, T)
    assert metrics["hate"].ece == 0.15  # both bins 0.15 from their outcome
    assert metrics["insult"].ece == 0.05  # one bin: mean score 0.3 against 1 positive in 4
    assert "off_topic" not in metrics


def test_single_class_set_has_no_auc() -> None:
    metrics = evaluate(np.array([[0.0, np.nan, np.nan]] * 3), np.full((3, 3), 0.2), T)
    assert metrics["hate"].roc_auc is None and metrics["hate"].pr_auc is None


def test_thresholds_review_at_best_f1_reject_at_precision() -> None:
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    s = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.95])
    t = choose_thresholds(y, s, reject_precision=1.0)
    assert t.review == 0.4 and t.reject == 0.6


def test_unreachable_precision_disables_auto_reject() -> None:
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.9, 0.1, 0.1])
    t = choose_thresholds(y, s, reject_precision=0.99)
    assert t.reject == NO_AUTO_REJECT and t.review <= t.reject


def test_review_threshold_respects_moderation_capacity() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.1).astype(int)
    weak = rng.random(1000) * 0.98 + y * 0.02  # nearly no signal: best F1 is to flag (almost) everything
    uncapped = choose_thresholds(y, weak, reject_precision=0.9)
    capped = choose_thresholds(y, weak, reject_precision=0.9, max_review_rate=0.15)
    assert np.mean(weak >= uncapped.review) > 0.5
    assert np.mean(weak >= capped.review) <= 0.15 and capped.review <= capped.reject
