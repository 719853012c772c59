"""training.report.paired_bootstrap: one resampling loop behind every interval the reports print."""

from __future__ import annotations

import numpy as np

from training.report import paired_bootstrap


def test_interval_of_a_constant_difference_is_that_constant() -> None:
    a = np.linspace(0, 1, 50)
    low, high = paired_bootstrap(lambda idx: float((a[idx] + 0.25).mean() - a[idx].mean()), len(a), n=200, seed=0)
    assert np.isclose(low, 0.25) and np.isclose(high, 0.25)


def test_undefined_resamples_are_skipped_not_counted() -> None:
    calls: list[int] = []

    def only_even_first_index(idx: np.ndarray) -> float | None:
        calls.append(1)
        return float(idx[0]) if idx[0] % 2 == 0 else None

    low, high = paired_bootstrap(only_even_first_index, 10, n=300, seed=1)
    assert len(calls) == 300
    # Every kept value is even, so both ends of the interval are even indices.
    assert low % 2 == 0 and high % 2 == 0 and 0 <= low <= high <= 8

