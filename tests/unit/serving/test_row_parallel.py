"""Row-parallel runs: a batch's rows split across single-threaded runs on every core, and put back in order."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from serving.row_parallel import RowParallelRuns, interleaved_rows
from serving.transformer import pad_batch


def test_each_slice_takes_every_parts_th_row_cut_to_its_own_longest_row() -> None:
    batch = pad_batch([[1], [2, 2], [3, 3, 3], [4, 4, 4, 4], [5, 5, 5, 5, 5, 5]])
    slices = interleaved_rows(batch, 2, batch["attention_mask"])
    assert [idx.tolist() for idx, _ in slices] == [[0, 2, 4], [1, 3]]
    assert slices[0][1]["input_ids"].tolist() == [[1, 0, 0, 0, 0, 0], [3, 3, 3, 0, 0, 0], [5, 5, 5, 5, 5, 5]]
    assert slices[1][1]["input_ids"].tolist() == [[2, 2, 0, 0], [4, 4, 4, 4]]
    assert all(set(piece) == {"input_ids", "attention_mask", "token_type_ids"} for _, piece in slices)
    one = pad_batch([[7, 7]])
    assert [idx.tolist() for idx, _ in interleaved_rows(one, 4, one["attention_mask"])] == [[0]]


class _RowSums:
    """A stand-in session: each row's output is its token ids' sum and its length; every run waits until `parts` runs
    are under way at once (a barrier), so runs one after another would fail."""

    def __init__(self, parts: int) -> None:
        self.together = threading.Barrier(parts, timeout=5)
        self.widths: list[int] = []

    def run(self, outputs: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        assert outputs == ["embedding"]
        self.widths.append(feed["input_ids"].shape[1])
        self.together.wait()
        ids, mask = feed["input_ids"], feed["attention_mask"]
        return [np.stack([(ids * mask).sum(1), mask.sum(1)], axis=1).astype(np.float32)]


def test_the_slices_run_at_once_and_their_outputs_come_back_in_row_order() -> None:
    rows = [[i + 1] * (1 + i % 5) for i in range(9)]
    batch = pad_batch(rows)
    session = _RowSums(parts=3)
    out = RowParallelRuns(session, "embedding", parts=3).run(batch, batch["attention_mask"])
    assert out.tolist() == [[float(sum(r)), float(len(r))] for r in rows]
    assert sorted(session.widths) == sorted(max(len(r) for r in rows[k::3]) for k in range(3))


def test_fewer_than_two_parts_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        RowParallelRuns(_RowSums(1), "embedding", parts=1)
