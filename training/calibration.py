"""Per-label calibration on validation logits (temperature, with a bias: Platt scaling), and ECE."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    # log(1 + exp(-|z|)) + max(z, 0) - y z: a numerically stable binary cross-entropy on logits
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T (0.05..20) minimising the NLL of sigmoid(logits / T); 1.0 when y has one class."""
    if len(y) == 0 or y.min() == y.max():
        return 1.0
    result = minimize_scalar(lambda log_t: _nll(logits, y, float(np.exp(log_t))), bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def fit_temperature_and_bias(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(T, b) minimising the NLL of sigmoid(logits / T + b): a temperature plus the bias that undoes
    class-weighted training's shift of the logits. (1, 0) when y has one class."""
    if len(y) == 0 or y.min() == y.max():
        return 1.0, 0.0

    def nll(params: np.ndarray) -> float:
        z = logits / np.exp(params[0]) + params[1]
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    result = minimize(nll, x0=np.array([0.0, 0.0]), method="L-BFGS-B", bounds=[(np.log(0.05), np.log(20.0)), (-10.0, 10.0)])
    return float(np.exp(result.x[0])), float(result.x[1])


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |accuracy - confidence| over equal-width probability bins (binary, positive class)."""
    if len(y) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(y[in_bin].mean() - probs[in_bin].mean())
    return float(total)


def logit(p: np.ndarray) -> np.ndarray:
    """Inverse sigmoid, clipped away from 0 and 1."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def ece_if_calibrated(probs: np.ndarray, *, simulations: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(median, 95th percentile) of the ECE that perfectly calibrated scores would show on this many rows: labels are
    drawn from the scores themselves. An observed test ECE above the 95th percentile is miscalibration, not noise."""
    rng = np.random.default_rng(seed)
    draws = [expected_calibration_error(probs, (rng.random(len(probs)) < probs).astype(float)) for _ in range(simulations)]
    return float(np.median(draws)), float(np.percentile(draws, 95))
