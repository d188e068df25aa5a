"""Figures of a student round: against gold when there is gold, estimates when there is not.

Arrays in, plain JSON-ready dicts out. Class indices: ``0..k-1`` are the job's labels; a gold
value of ``-1`` is unknown (the row is skipped) and ``k`` names no label (the row counts wrong).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def classification(gold: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Accuracy and macro-F1 over the rows with known gold.

    Macro-F1 averages the job's labels that occur in gold or prediction, as ``zslabel eval``
    (and scikit-learn's ``labels=`` of the classes present) does.
    """
    known = gold >= 0
    gold, predicted = gold[known], predicted[known]
    if not len(gold):
        return {"rows": 0, "accuracy": None, "macro_f1": None}
    f1s = []
    for k in range(n_classes):
        tp = int(np.sum((gold == k) & (predicted == k)))
        actual, guessed = int(np.sum(gold == k)), int(np.sum(predicted == k))
        if actual or guessed:
            f1s.append(2 * tp / (actual + guessed))
    return {
        "rows": len(gold),
        "accuracy": _round(np.mean(gold == predicted)),
        "macro_f1": _round(np.mean(f1s)) if f1s else None,
    }


def agreement(first: np.ndarray, second: np.ndarray) -> float | None:
    """The share of rows on which two label vectors agree."""
    return _round(np.mean(first == second)) if len(first) else None


def expected_accuracy(probs: np.ndarray) -> float | None:
    """Mean top-label probability: the accuracy a calibrated model expects of itself (for a
    model that is not calibrated, only its mean confidence)."""
    return _round(probs.max(axis=1).mean()) if len(probs) else None


def _round(value: Any) -> float:
    return round(float(value), 4)
