"""The spam-head stability bench fits the head again at several seeds and says which C each rule keeps."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_the_bench_sweeps_each_seed_and_counts_the_choices_of_both_rules(tiny_transformer_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.spam_head_stability as bench

    swept_seeds: list[int] = []
    sweep = bench.sweep_strengths

    def counting(*args, seed: int, **kwargs):  # type: ignore[no-untyped-def]
        swept_seeds.append(seed)
        return sweep(*args, seed=seed, **kwargs)

    monkeypatch.setattr(bench, "sweep_strengths", counting)
    table = bench.main(tiny_transformer_dir, seeds=2, overrides=["data.synthetic_spam=300"])
    assert len(set(swept_seeds)) == 2
    per_seed = [line for line in table.splitlines() if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert len(per_seed) == 2 and all(line.count(" / ") == 6 for line in per_seed)  # six strengths each
    summary = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith(("| before", "| slack"))}
    assert set(summary) == set(bench.RULES)
    for line in summary.values():
        assert sum(int(part.split("×")[1]) for part in line.split("|")[2].split(",")) == 2  # each seed kept one C


def test_the_rule_before_the_slack_takes_the_best_recall_and_the_smaller_c() -> None:
    from bench.spam_head_stability import pick_before

    recall = {0.01: 0.990, 0.03: 0.996, 0.1: 0.996, 1.0: 0.999}
    lifted = {0.01: 0.003, 0.03: 0.002, 0.1: 0.0005, 1.0: 0.02}
    assert pick_before(recall, lifted) == 0.03


def test_no_seeds_is_a_usage_error_before_any_data_is_read(tmp_path: Path) -> None:
    from bench.spam_head_stability import main
    from threadguard.errors import UsageError

    with pytest.raises(UsageError, match="--seeds must be 1 or more, not 0"):
        main(tmp_path / "no-such-dir", seeds=0)
