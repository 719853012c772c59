"""One batch of an ONNX encoder run on every core at once, a slice of its rows per core, instead of one run whose
operators are split across the cores.

On 2 cores ONNX Runtime's intra-op threads gain little on the encoder's small matrices. Scoring batches of 32 Kaggle
comments in-process, the default int8 model ran 80-100 comments/s as one run per batch on two threads and 111-136
with a slice of each batch per core, 1.36-1.40x in three alternating rounds, with identical scores (docs/benchmarks.md,
"A slice of each batch per core"). Each slice takes every `parts`-th row of a length-sorted batch, so the slices
hold alike lengths and end together, and each is trimmed to its own longest row. A row's embedding does not depend on
the rows beside it (per-token int8 and fp32 both score a comment alike in any batch), so the slices give what the
whole batch would.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


def interleaved_rows(batch: dict[str, np.ndarray], parts: int, mask: np.ndarray) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """(row positions, sub-batch) for up to `parts` slices of a right-padded batch, slice k holding rows k, k + parts,
    ..., each cut to its longest row (`mask`: the batch's attention mask)."""
    rows = len(mask)
    slices = []
    for k in range(min(parts, rows)):
        idx = np.arange(k, rows, parts)
        width = max(1, int(mask[idx].sum(axis=1).max()))
        slices.append((idx, {name: array[idx, :width] for name, array in batch.items()}))
    return slices


class RowParallelRuns:
    """Runs a single-threaded session on `parts` row slices of a batch at once; at most `parts` runs at a time across
    every caller, so two pools scored together queue for the cores instead of oversubscribing them."""

    def __init__(self, session: Any, output: str, parts: int) -> None:
        if parts < 2:
            raise ValueError("row-parallel runs need at least 2 parts")
        self.session = session
        self.output = output
        self.parts = parts
        self._threads = ThreadPoolExecutor(max_workers=parts, thread_name_prefix="tg-rows")

    def run(self, feed: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        """The session's output for every row of `feed`, in row order."""
        slices = interleaved_rows(feed, self.parts, mask)
        outputs = list(self._threads.map(lambda piece: self.session.run([self.output], piece[1])[0], slices))
        result = np.empty((len(mask), *outputs[0].shape[1:]), dtype=outputs[0].dtype)
        for (idx, _), output in zip(slices, outputs, strict=True):
            result[idx] = output
        return result
