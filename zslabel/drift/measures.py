"""The statistics drift is measured with, each on plain counts or arrays."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

# A class with no rows on one side has a share of 0 and an infinite log ratio; its share is
# taken as this instead (1 row in 10,000), the usual fix in credit scoring (Siddiqi 2006,
# Credit Risk Scorecards, ch. 8; Yurdakul 2018 discusses the choice). The cost: a class that
# appears from nothing adds about share * ln(share / 1e-4) to the index, e.g. 0.69 at 10%.
PSI_EPSILON = 1e-4
# New terms must occur in at least this many abstained rows of the current version, so that one
# odd text does not make the list.
MIN_TERM_ROWS = 2


def shares(counts: Mapping[str, int], names: Sequence[str]) -> np.ndarray:
    """(len(names),) float64 share of each name in ``counts``; zeros when counts is empty."""
    values = np.asarray([counts.get(name, 0) for name in names], dtype=np.float64)
    total = values.sum()
    return values / total if total else values


def psi(baseline: np.ndarray, current: np.ndarray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of two (k,) share vectors: sum (c - b) * ln(c / b), with
    shares below ``epsilon`` raised to it (Siddiqi 2006; Yurdakul 2018)."""
    b = np.maximum(baseline, epsilon)
    c = np.maximum(current, epsilon)
    return float(np.sum((c - b) * np.log(c / b)))


def chi_square(baseline: Sequence[int], current: Sequence[int]) -> tuple[float, float, int] | None:
    """Pearson's chi-square test of homogeneity of two (k,) count vectors (a 2 x k contingency
    table, scipy.stats.chi2_contingency): (statistic, p-value, degrees of freedom). Classes with
    no rows on either side are left out; None when fewer than two classes remain or a side is
    empty."""
    from scipy.stats import chi2_contingency

    table = np.asarray([baseline, current], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return None
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue), int(result.dof)


def ks(baseline: np.ndarray, current: np.ndarray) -> tuple[float, float] | None:
    """Two-sample Kolmogorov-Smirnov test (scipy.stats.ks_2samp, two-sided): (D, p-value),
    D being the largest gap between the two empirical distribution functions (0-1). None when
    either sample is empty."""
    from scipy.stats import ks_2samp

    if len(baseline) == 0 or len(current) == 0:
        return None
    with warnings.catch_warnings():
        # With many ties the exact p-value can fail to converge; scipy then uses the asymptotic
        # one, which is what a threshold at p < 0.01 needs. Not a fault of the user's data.
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
        result = ks_2samp(baseline, current)
    return float(result.statistic), float(result.pvalue)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine similarity of two (d,) vectors (0: same direction, 2: opposite)."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 1.0 - float(np.dot(a, b)) / norm if norm else 1.0


def new_terms(
    baseline: Counter[str],
    baseline_rows: int,
    current: Counter[str],
    current_rows: int,
    top: int = 10,
) -> list[dict[str, float | int | str]]:
    """The ``top`` terms of abstained rows that grew most from the baseline.

    A term's share is the fraction of a version's abstained rows that contain it; terms are
    ranked by their term of the population stability index, (c - b) ln(c / b) with shares
    floored at ``PSI_EPSILON``, over terms whose share grew and that occur in at least
    ``MIN_TERM_ROWS`` current rows. The plain difference c - b would rank common words
    ("is", "the") first, whose share drifts a little with every batch; the ratio alone would
    rank a word of two rows first. Ties are broken by term, so the list is deterministic.
    """
    if not current_rows:
        return []
    scored = []
    for term, rows in current.items():
        if rows < MIN_TERM_ROWS:
            continue
        before = baseline.get(term, 0) / baseline_rows if baseline_rows else 0.0
        now = rows / current_rows
        if now > before:
            floor = max(before, PSI_EPSILON)
            scored.append(((now - before) * math.log(now / floor), term, rows, now, before))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [
        {"term": term, "rows": rows, "share": round(now, 6), "baseline_share": round(before, 6)}
        for _, term, rows, now, before in scored[:top]
    ]
