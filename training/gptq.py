"""Error-compensating int8 rounding of weight matrices (GPTQ, Frantar et al. 2023), per output column.

Rounding each weight to the nearest int8 step (what ONNX Runtime's quantiser does) makes errors that add up the same
way for every token: they do not average out in the mean-pooled embedding. GPTQ rounds one input row of W at a time
and moves what that row lost onto the rows not yet rounded, weighted by how the calibration inputs correlate
(H = X^T X), so the layer's output on inputs like the calibration ones stays close to fp32. On the default
(tg-minilm-20261203-ab540e7), with everything else fp32, weights rounded to nearest changed 1.7 % of decisions and
GPTQ 0.9 % (bench.int8_rounding_sources); with per-token activations and smoothing on top, GPTQ is what brought the
int8 file to 99 % (bench.int8_per_token).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

DAMPING = 0.01  # share of H's mean diagonal added to it, as the paper: keeps the inverse stable for rarely active inputs


class InputStatistics(NamedTuple):
    """What one pass over the calibration batches gathers for each named tensor."""

    grams: dict[str, np.ndarray]  # X^T X (float64), padding tokens left out: GPTQ's H
    maxima: dict[str, np.ndarray]  # per-channel max |x|, padding included (the quantiser sees it): outlier channels


def input_statistics(model_path: Path, names: Sequence[str], batches: Iterable[Mapping[str, np.ndarray]]) -> InputStatistics:
    """Each named tensor's Gram matrix and channel maxima over the calibration batches, the graph run once. Padding
    tokens (attention_mask 0) are left out of the Grams, since they never reach the pooled embedding."""
    from training.smoothing import intermediate_tensors

    grams: dict[str, np.ndarray] = {}
    maxima: dict[str, np.ndarray] = {}
    for batch, outputs in intermediate_tensors(model_path, names, batches):
        mask = batch["attention_mask"].reshape(-1).astype(bool) if "attention_mask" in batch else None
        for name, value in zip(names, outputs, strict=True):
            rows = value.reshape(-1, value.shape[-1])
            peak = np.abs(rows).max(axis=0)
            maxima[name] = np.maximum(maxima[name], peak) if name in maxima else peak
            rows = rows.astype(np.float64)
            if mask is not None and len(mask) == len(rows):
                rows = rows[mask]
            grams[name] = grams[name] + rows.T @ rows if name in grams else rows.T @ rows
    if not grams:
        raise ValueError("GPTQ needs at least one calibration batch")
    return InputStatistics(grams, maxima)


def input_grams(model_path: Path, names: Sequence[str], batches: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """X^T X (float64) of each named tensor over the calibration batches, its rows flattened to tokens, padding left out."""
    return input_statistics(model_path, names, batches).grams


def gptq_int8(weight: np.ndarray, gram: np.ndarray, *, damping: float = DAMPING) -> tuple[np.ndarray, np.ndarray]:
    """(W_q [K, M] int8, scale [M] float32) for y = x @ W: symmetric int8 per output column, the columns' scales those
    of rounding to nearest, the rounding itself compensated along the input axis K by the calibration inputs' `gram`."""
    work = weight.astype(np.float64).copy()
    k = work.shape[0]
    scale = np.maximum(np.abs(work).max(axis=0), 1e-12) / 127.0
    hessian = gram.astype(np.float64).copy()
    dead = np.diag(hessian) == 0  # an input never active in calibration: its weights cannot matter there, round them plainly
    hessian[dead, dead] = 1.0
    hessian += damping * float(np.mean(np.diag(hessian))) * np.eye(k)
    upper = np.linalg.cholesky(np.linalg.inv(hessian)).T  # the upper Cholesky factor of H^-1, as in the paper
    quantised = np.empty(work.shape, dtype=np.int8)
    for row in range(k):
        steps = np.clip(np.round(work[row] / scale), -127, 127)
        quantised[row] = steps
        error = (work[row] - steps * scale) / upper[row, row]
        work[row + 1 :] -= np.outer(upper[row, row + 1 :], error)
    return quantised, scale.astype(np.float32)
