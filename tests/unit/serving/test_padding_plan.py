"""Length-sorted batches cut where padding costs more than another encoder run (serving.transformer.padding_plan)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from serving.transformer import RUN_OVERHEAD_TOKENS, length_sorted_batches, padding_plan, run_overhead_tokens


def _cost(lengths: list[int], runs: list[tuple[int, int]], overhead: int) -> int:
    return sum(overhead + (end - start) * max(lengths[start:end]) for start, end in runs)


def _every_plan(n: int, batch_size: int):  # type: ignore[no-untyped-def]
    """Every way to cut n sorted rows into consecutive runs of at most batch_size rows."""
    for cuts in itertools.product((False, True), repeat=n - 1):
        edges = [0, *(i + 1 for i, cut in enumerate(cuts) if cut), n]
        runs = list(itertools.pairwise(edges))
        if all(end - start <= batch_size for start, end in runs):
            yield runs


def test_plan_covers_every_row_once_in_runs_no_longer_than_the_batch() -> None:
    lengths = sorted(random.Random(1).choices(range(3, 129), k=200))
    runs = padding_plan(lengths, 32, 64)
    assert runs[0][0] == 0 and runs[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(runs))
    assert all(0 < end - start <= 32 for start, end in runs)


@pytest.mark.parametrize("seed", range(6))
def test_plan_is_the_cheapest_cut(seed: int) -> None:
    rng = random.Random(seed)
    lengths = sorted(rng.choices(range(2, 129), k=10))
    overhead = rng.choice([0, 8, 64, 500])
    best = min(_cost(lengths, runs, overhead) for runs in _every_plan(len(lengths), 4))
    assert _cost(lengths, padding_plan(lengths, 4, overhead), overhead) == best


def test_one_long_comment_gets_a_run_of_its_own() -> None:
    lengths = [8] * 31 + [128]
    assert padding_plan(lengths, 32, 64) == [(0, 31), (31, 32)]  # 376 padded tokens and 2 runs, against 4,096 in one run


def test_rows_of_one_length_fill_whole_batches() -> None:
    # no padding to save, so as few runs as the batch size allows
    runs = padding_plan([20] * 70, 32, 1)
    assert len(runs) == 3 and all(end - start <= 32 for start, end in runs)


def test_batches_hold_every_position_once_padded_to_their_own_longest_row() -> None:
    rng = np.random.default_rng(0)
    ids = [rng.integers(100, 900, size=n).tolist() for n in rng.integers(3, 129, size=50)]
    seen = []
    for idx, batch in length_sorted_batches(ids, 16, RUN_OVERHEAD_TOKENS):
        assert len(idx) <= 16
        assert batch["input_ids"].shape == (len(idx), max(len(ids[i]) for i in idx))
        for row, i in zip(batch["input_ids"], idx, strict=True):
            assert row[: len(ids[i])].tolist() == ids[i] and not row[len(ids[i]):].any()
        seen += idx.tolist()
    assert sorted(seen) == list(range(50))


def test_without_an_overhead_batches_are_fixed_chunks_of_the_sorted_rows() -> None:
    ids = [[1] * n for n in (5, 3, 9, 1, 7)]
    assert [idx.tolist() for idx, _ in length_sorted_batches(ids, 2)] == [[3, 1], [0, 4], [2]]


@pytest.mark.parametrize(("runtime", "device", "int8", "expected"), [
    ("onnx-int8", "cpu", {"activations": "per_token"}, RUN_OVERHEAD_TOKENS),
    ("onnx-int8", "cpu", {"activations": "per_tensor"}, None),  # its scores move with the batch: keep the batches it was calibrated on
    ("onnx-int8", "cpu", {}, None),  # a dir from before per-token int8
    ("onnx", "cpu", {}, RUN_OVERHEAD_TOKENS),
    ("torch", "cpu", {}, RUN_OVERHEAD_TOKENS),
    ("torch", "cuda", {}, None),
    ("onnx", "cuda", {}, None),
])
def test_only_batch_invariant_cpu_runtimes_cut_batches(runtime: str, device: str, int8: dict, expected: int | None) -> None:
    assert run_overhead_tokens(runtime, device, int8) == expected
