"""The stacking bench scores every validation split with both models and cross-validates the stack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score


def test_the_cross_validated_stack_ranks_better_than_either_view_alone_and_is_seeded() -> None:
    from bench.baseline_stack import stacked_cv

    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.3).astype(float)
    x = np.c_[y + rng.normal(scale=1.0, size=600), y + rng.normal(scale=1.0, size=600)]  # two independent noisy views
    stack = stacked_cv(x, y)
    assert roc_auc_score(y, stack) > max(roc_auc_score(y, x[:, 0]), roc_auc_score(y, x[:, 1])) + 0.02
    assert np.array_equal(stacked_cv(x, y), stack)  # the same folds and fits each time
    # a view that is pure noise earns the stack nothing over the good view alone
    noise = np.c_[x[:, 0], rng.normal(size=600)]
    assert abs(roc_auc_score(y, stacked_cv(noise, y)) - roc_auc_score(y, x[:, 0])) < 0.01


def test_the_bench_reports_every_validation_split_that_annotates_a_label(tiny_transformer_dir: Path, tiny_model_dir: Path) -> None:
    from bench.baseline_stack import main

    table = main(tiny_transformer_dir, tiny_model_dir)
    rows = [line for line in table.splitlines() if line.startswith(("| hate |", "| insult |", "| off_topic |"))]
    assert rows and all(len(r.split("|")) == 9 for r in rows)
    assert "Stacked logits (full fit on validation):" in table and "× baseline" in table
