"""The paired bootstrap tells a real ROC-AUC gain from noise, and says so when it cannot."""

from __future__ import annotations

import numpy as np

from training.report import paired_auc_difference


def test_a_clearly_better_scorer_is_separated_and_an_identical_one_is_not() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    weak = y * 0.3 + rng.normal(0, 1, 400)
    strong = y * 3.0 + rng.normal(0, 1, 400)
    better = paired_auc_difference(y, weak, strong, n=300)
    assert better is not None and better.point > 0.2 and better.low > 0 and better.separates
    same = paired_auc_difference(y, weak, weak.copy(), n=300)
    assert same is not None and same.point == 0 and same.low == same.high == 0 and not same.separates


def test_a_small_gain_on_few_positives_is_not_separated() -> None:
    rng = np.random.default_rng(2)
    y = np.zeros(300, dtype=int)
    y[:12] = 1  # as few positives as an in-domain split holds for some labels
    a = y * 1.0 + rng.normal(0, 1, 300)
    b = a + rng.normal(0, 0.3, 300)  # the same model, perturbed: a few hundredths either way
    diff = paired_auc_difference(y, a, b, n=300)
    assert diff is not None and abs(diff.point) < 0.05 and not diff.separates


def test_one_class_gives_none() -> None:
    y = np.zeros(10, dtype=int)
    assert paired_auc_difference(y, np.arange(10.0), np.arange(10.0)) is None


def test_calibration_cell_shows_scores_running_above_the_rate() -> None:
    from bench.inhouse_yardstick import _calibration_cell

    y = np.array([0] * 90 + [1] * 10)
    assert _calibration_cell(y, np.full(100, 0.1)) == "0.000 (0.100 / 0.100)"
    assert _calibration_cell(y, np.full(100, 0.3)) == "0.200 (0.300 / 0.100)"
