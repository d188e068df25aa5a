"""The cascade's shortlist: each row's candidate labels, the top k of a cheaper source."""

from __future__ import annotations

import numpy as np


def shortlist_mask(probabilities: np.ndarray, k: int) -> np.ndarray:
    """(n, labels) boolean mask of each row's k most probable labels: ``candidates``.

    Ties go to the earlier label. Rows the shortlist source abstained on (any NaN, such as rules
    that did not fire) get every label.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    mask = np.zeros(probs.shape, dtype=bool)
    if probs.size == 0:
        return mask
    abstained = np.isnan(probs).sum(axis=1) > 0
    ranked = np.argsort(-np.where(abstained[:, None], 0.0, probs), axis=1, kind="stable")
    np.put_along_axis(mask, ranked[:, :k], True, axis=1)
    mask[abstained] = True
    return mask
