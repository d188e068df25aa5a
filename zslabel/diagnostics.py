"""Per-source diagnostics in the spirit of Snorkel's LFAnalysis: arrays in, a JSON-friendly dict.

For each source, over the n rows given:

- coverage: fraction of rows it scored;
- overlap: fraction of rows where it and at least one other source scored;
- conflict: fraction of rows where it scored and at least one other scoring source's top label
  differs from its own;
- agreement: among its scored rows that have a combined label (>= 0), the fraction whose top label
  equals the combined label (None when there are no such rows);
- accuracy: with gold, the fraction of its scored rows with known gold (>= 0) where its top label
  is right (None without gold or when there are no such rows).

Top labels are argmaxes, ties to the lowest class index. Figures are rounded to 4 decimals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DIGITS = 4


def source_diagnostics(
    probs: np.ndarray,
    names: Sequence[str],
    combined_label: np.ndarray,
    gold: np.ndarray | None = None,
) -> dict[str, dict[str, float | None]]:
    """Coverage, overlap, conflict, agreement and (with gold) accuracy of each source, by name.

    ``probs`` is (n, S, k) with NaN rows where a source abstained; ``combined_label`` and ``gold``
    are (n,) integer class indices, -1 for none / unknown. Every source's dict has the same keys;
    ``accuracy`` is None when ``gold`` is None.
    """
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(f"probs must be an (n, sources, classes) array, got shape {arr.shape}")
    n, n_sources, k = arr.shape
    if k < 1:
        raise ValueError(f"probs needs at least one class, got shape {arr.shape}")
    names = list(names)
    if len(names) != n_sources:
        raise ValueError(f"got {len(names)} names for {n_sources} sources")
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be unique, got {names}")
    combined = _validate_labels(combined_label, n, k, "combined_label")
    gold_arr = None if gold is None else _validate_labels(gold, n, k, "gold")
    return _compute_source_diagnostics(arr, names, combined, gold_arr)


def _validate_labels(labels: np.ndarray, n: int, k: int, what: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},) to match probs, got {arr.shape}")
    if n and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if n and (arr.min() < -1 or arr.max() >= k):
        raise ValueError(f"{what} must lie in [-1, {k - 1}] (-1 for none)")
    return arr


def _compute_source_diagnostics(
    probs: np.ndarray, names: list[str], combined: np.ndarray, gold: np.ndarray | None
) -> dict[str, dict[str, float | None]]:
    n = probs.shape[0]
    scored = ~np.isnan(probs).any(axis=2)  # (n, S)
    top = np.where(scored, np.argmax(np.nan_to_num(probs, nan=-np.inf), axis=2), -1)  # (n, S)
    n_scoring = scored.sum(axis=1)  # (n,)
    out: dict[str, dict[str, float | None]] = {}
    for s, name in enumerate(names):
        mine = scored[:, s]
        others = scored.copy()
        others[:, s] = False
        disagree = (others & (top != top[:, [s]])).any(axis=1)
        has_combined = mine & (combined >= 0)
        out[name] = {
            "coverage": _fraction(int(mine.sum()), n),
            "overlap": _fraction(int((mine & (n_scoring >= 2)).sum()), n),
            "conflict": _fraction(int((mine & disagree).sum()), n),
            "agreement": _fraction(
                int((has_combined & (top[:, s] == combined)).sum()), int(has_combined.sum())
            ),
            "accuracy": None,
        }
        if gold is not None:
            known = mine & (gold >= 0)
            out[name]["accuracy"] = _fraction(
                int((known & (top[:, s] == gold)).sum()), int(known.sum())
            )
    return out


def _fraction(count: int, total: int) -> float | None:
    return round(count / total, DIGITS) if total else None
