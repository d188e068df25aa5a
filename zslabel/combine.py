"""Combine per-source probabilities into one (n, k) array, abstain-aware."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def weighted_mean(probs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted mean over the sources that scored each row; NaN where none did.

    With a single source this returns its probabilities unchanged.
    """
    if len(probs) == 1:
        return probs[0]
    stacked = np.stack(probs)  # (sources, n, k)
    scored = ~np.isnan(stacked).any(axis=2)  # (sources, n)
    w = np.asarray(weights, dtype=np.float64)[:, None] * scored
    total = w.sum(axis=0)
    summed = np.einsum("sn,snk->nk", w, np.nan_to_num(stacked))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[:, None] > 0, summed / total[:, None], np.nan)
