"""The evaluation report: same rows for every system, bootstrap intervals, plots, peers listed with reasons."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATASETS
from training.pipeline import write_evaluation_report
from training.report import bootstrap_auc


def test_bootstrap_interval_brackets_the_point_estimate() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p = y * 0.6 + rng.random(400) * 0.7
    point, lo, hi = bootstrap_auc(y, p)
    assert lo < point < hi and 0.5 < lo and hi <= 1.0
    assert bootstrap_auc(np.zeros(5, dtype=int), np.ones(5)) is None


@pytest.mark.slow  # scores, bootstraps and plots every set
def test_report_scores_model_and_comparison_on_the_same_rows(tiny_model_dir: Path, tmp_path: Path) -> None:
    report = tmp_path / "evaluation.md"
    write_evaluation_report(tiny_model_dir, report, datasets_dir=DATASETS, compare=[tiny_model_dir], device="cpu")
    text = report.read_text()
    assert "## tiny/test" in text and "## seed" in text
    assert text.count("| tg-tiny-") >= 4  # the model and the comparison, in each set's table
    assert "detoxify 0.5.4" in text and "cannot run offline" in text
    assert "| hatesonar 0.1.0 (P(hate); insult: P(hate)+P(offensive)) |" in text  # the peer runs here, locale patched
    assert "## Unintended bias, tg-tiny-" in text and "| Muslim | 21 |" in text  # the suite's neutral and positive mentions of each group
    pngs = sorted(p.name for p in (tmp_path / "evaluation_files").glob("*.png"))
    assert "tiny-test-pr.png" in pngs and "seed-calibration.png" in pngs
    assert all((tmp_path / "evaluation_files" / name).stat().st_size > 1000 for name in pngs)
    links = re.findall(r"!\[[^]]*\]\(([^)]*)\)", text)
    assert links and all(" " not in link and (tmp_path / link).is_file() for link in links)  # every image link resolves


def test_a_new_report_drops_plots_of_sets_it_no_longer_has(tiny_model_dir: Path, tmp_path: Path) -> None:
    stale = tmp_path / "evaluation_files" / "gone-test-pr.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    write_evaluation_report(tiny_model_dir, tmp_path / "evaluation.md", datasets_dir=DATASETS, compare=[], device="cpu")
    assert not stale.exists()
