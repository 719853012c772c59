"""bench.int8_per_token: the rows it tries and how it prints them."""

from __future__ import annotations

from bench.int8_per_token import OUTLIERS, share_and_flips, variants


def test_outlier_rows_come_with_and_without_the_dirs_smoothing() -> None:
    rows = variants(0.65)
    with_outliers = [v for v in rows if v.outliers]
    assert sorted({v.outliers for v in with_outliers}) == sorted(OUTLIERS)
    assert {v.smoothing for v in with_outliers} == {None, 0.65}
    assert all(v.activations == "per_token" and v.gptq for v in with_outliers)  # outlier channels are a per-token option
    assert all(v.smoothing is None for v in variants(None) if v.outliers)  # a dir exported unsmoothed gets no smoothed rows


def test_a_row_tells_four_flips_from_five() -> None:
    assert share_and_flips(1 - 4 / 1116, 1116) == "99.6% (4)"
    assert share_and_flips(1 - 5 / 1116, 1116) == "99.6% (5)"
    assert share_and_flips(1.0, 556) == "100.0% (0)"
