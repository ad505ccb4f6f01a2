"""The Laplace mechanism and the minimum cohort: how a private release turns exact aggregates into noisy ones.

A query whose cells move by at most ``sensitivity`` in total (the L1 norm over every cell one user can touch)
when one user's data is added or removed is epsilon-differentially private once each cell gets independent
Laplace noise of scale ``sensitivity / epsilon`` (Dwork and Roth, *The Algorithmic Foundations of Differential
Privacy*, theorem 3.6). Whatever is computed from the noisy cells afterwards costs no more privacy: rounding,
clamping at zero, ratios of noisy sums, and suppressing a cell whose *noisy* count is under the minimum cohort
(suppressing on the exact count would itself leak it).

The noise comes from numpy's floating-point Laplace sampler; counts are rounded to whole numbers, which hides
the low bits that floating-point attacks on that sampler read (Mironov, CCS 2012) for counts, not for shares.
"""

from __future__ import annotations

import numpy as np


def laplace_scale(sensitivity: float, epsilon: float) -> float:
    """The noise scale b = sensitivity / epsilon (the noise's variance is 2 b squared)."""
    if not epsilon > 0 or not sensitivity > 0:
        raise ValueError(f"epsilon and sensitivity must be positive (epsilon {epsilon}, sensitivity {sensitivity})")
    return float(sensitivity) / float(epsilon)


def laplace(values: np.ndarray | list[float], sensitivity: float, epsilon: float,
            rng: np.random.Generator) -> np.ndarray:
    """``values`` with independent Laplace noise of scale ``sensitivity / epsilon`` added to each cell."""
    exact = np.asarray(values, dtype=float)
    return exact + rng.laplace(0.0, laplace_scale(sensitivity, epsilon), size=exact.shape)


def noisy_counts(counts: np.ndarray | list[float], sensitivity: float, epsilon: float, rng: np.random.Generator,
                 min_cohort: int) -> np.ndarray:
    """Counts with Laplace noise, rounded to whole numbers and clamped at zero; a cell whose noisy count is under
    ``min_cohort`` is suppressed (NaN)."""
    noisy = np.maximum(np.rint(laplace(counts, sensitivity, epsilon, rng)), 0.0)
    return suppress(noisy, noisy, min_cohort)


def suppress(values: np.ndarray, counts: np.ndarray, min_cohort: int) -> np.ndarray:
    """``values`` with NaN wherever the matching (noisy) count is under ``min_cohort`` or already suppressed."""
    out = np.asarray(values, dtype=float).copy()
    counts = np.broadcast_to(np.asarray(counts, dtype=float), out.shape)
    out[np.isnan(counts) | (counts < min_cohort)] = np.nan
    return out
