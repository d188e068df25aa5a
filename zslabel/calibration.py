"""Calibration of class probabilities against gold: temperature scaling, ECE, reliability curves.

Arrays in, arrays out. Rows a source could not score are NaN rows; a gold index of -1 is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from zslabel.labelmodel import NotFittedError

__all__ = [
    "NotFittedError",
    "PriorTemperatureScaler",
    "TemperatureScaler",
    "expected_calibration_error",
    "reliability_curve",
    "small_gold_warning",
]

CLIP = 1e-12
LOG_T_BOUNDS = (math.log(0.05), math.log(20.0))
LOG_T_TOL = 1e-4
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0
# The search first scans this many log T points, then refines around the best (the penalised
# objective need not be unimodal in log T).
_GRID_POINTS = 121
# Standard deviation of the Gaussian prior on log T (centred on T = 1, the source as it is).
# Measured with bench/gold_size.py: see PRIOR_SCALE's use in TemperatureScaler.
PRIOR_SCALE = 0.5
# Fewer gold rows than this leave a temperature poorly determined (bench/gold_size.py): the fit
# is shrunk toward 1 and the run says so.
MIN_GOLD_ROWS = 50
# No calibrated probability reaches 1: a top probability of at most 1 - 1e-6 stays below 1 in
# float32 too (whose spacing below 1 is 6e-8), so min_confidence can always tell rows apart.
MAX_CONFIDENCE = 1.0 - 1e-6


class TemperatureScaler:
    """Rescale existing probabilities: ``softmax(log(probs) / T)`` with one learned T > 0.

    T > 1 softens overconfident probabilities, T < 1 sharpens underconfident ones; the argmax of
    every row is kept. T is the maximum a posteriori estimate under a Gaussian prior on log T,
    centred on T = 1 (the probabilities as they are) with standard deviation ``prior_scale``: it
    minimises ``mean NLL(T) + (log T)**2 / (2 * prior_scale**2 * n)`` over the n fitting rows.
    The prior's weight falls as 1/n, so a large gold set decides alone while a handful of rows
    (all of them right, say, where the plain maximum-likelihood T runs to its lower bound and
    every confidence to 1) moves T only as far as they are evidence for. This is the ridge /
    Gaussian-prior shrinkage of a one-parameter logistic calibration (Platt 1999 shrinks the
    same way, through his smoothed targets, for the same reason: on separable data the plain
    fit diverges). ``prior_scale=None`` fits by plain maximum likelihood.

    T is searched in [0.05, 20] on a grid over log T, refined by a golden-section search to
    1e-4 in log T. Outputs are mixed with a sliver of the uniform distribution so that no
    probability reaches 1 (the top one is at most ``MAX_CONFIDENCE``, 1 - 1e-6).

    Attributes
    ----------
    temperature_ : the fitted T.
    mle_temperature_ : the maximum-likelihood T (no prior), to show how far the prior pulled.
    nll_before_, nll_after_ : mean negative log-likelihood of the gold class on the fitting rows,
        before (T = 1) and after scaling.
    n_rows_ : the rows fitted on (scored, with gold).
    n_classes_ : the number of classes fitted on.
    """

    def __init__(self, prior_scale: float | None = PRIOR_SCALE) -> None:
        self.prior_scale = prior_scale

    def fit(self, probs: np.ndarray, gold: np.ndarray) -> TemperatureScaler:
        """Fit on (n, k) probabilities and (n,) gold class indices; rows with NaN probabilities or
        gold -1 are ignored. Needs at least 2 such rows."""
        if self.prior_scale is not None and not (
            math.isfinite(self.prior_scale) and self.prior_scale > 0
        ):
            raise ValueError(
                f"prior_scale must be finite and > 0 (or None), got {self.prior_scale}"
            )
        arr = _validate_probs(probs)
        labels = np.asarray(gold)
        if labels.shape != (arr.shape[0],):
            raise ValueError(f"gold must have shape ({arr.shape[0]},), got {labels.shape}")
        if arr.shape[0] and not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"gold must hold integer class indices, got dtype {labels.dtype}")
        labels = labels.astype(np.int64)
        k = arr.shape[1]
        if arr.shape[0] and (labels.min() < -1 or labels.max() >= k):
            raise ValueError(f"gold must lie in [-1, {k - 1}] (-1 for unknown)")
        valid = ~np.isnan(arr).any(axis=1) & (labels >= 0)
        if valid.sum() < 2:
            raise ValueError(
                f"temperature scaling needs at least 2 rows with probabilities and gold, "
                f"got {int(valid.sum())}"
            )
        log_p = _compute_log_probs(arr[valid])
        y = labels[valid]
        self.temperature_ = math.exp(_compute_log_temperature(log_p, y, self.prior_scale))
        self.mle_temperature_ = (
            self.temperature_
            if self.prior_scale is None
            else math.exp(_compute_log_temperature(log_p, y, None))
        )
        self.nll_before_ = _compute_nll(log_p, y, 1.0)
        self.nll_after_ = _compute_nll(log_p, y, self.temperature_)
        self.n_rows_ = len(y)
        self.n_classes_ = k
        return self

    def transform(self, probs: np.ndarray) -> np.ndarray:
        """Recalibrated (n, k) probabilities, none of them 1; NaN rows stay NaN."""
        if not hasattr(self, "temperature_"):
            raise NotFittedError("this TemperatureScaler is not fitted yet; call fit first")
        arr = _validate_probs(probs)
        if arr.shape[1] != self.n_classes_:
            raise ValueError(
                f"probs has {arr.shape[1]} classes, but the scaler was fitted on {self.n_classes_}"
            )
        scored = ~np.isnan(arr).any(axis=1)
        out = np.full(arr.shape, np.nan)
        q = _compute_softmax(_compute_log_probs(arr[scored]) / self.temperature_)
        out[scored] = _compute_bounded(q)
        return out

    def fit_transform(self, probs: np.ndarray, gold: np.ndarray) -> np.ndarray:
        return self.fit(probs, gold).transform(probs)


def small_gold_warning(source: str, rows: int) -> str | None:
    """The warning a run gives when ``source`` was calibrated on fewer than MIN_GOLD_ROWS rows."""
    if rows >= MIN_GOLD_ROWS:
        return None
    return (
        f"calibration of {source!r} rests on {rows} gold row(s), fewer than {MIN_GOLD_ROWS}: "
        "its temperature is shrunk toward 1 (the scores as they are) and still uncertain; "
        "add gold rows"
    )


class PriorTemperatureScaler(TemperatureScaler):
    """A temperature chosen without gold: the one that makes the mean top-class probability on
    the given rows equal a prior accuracy.

    This is how zslabel weighs several uncalibrated sources fairly: a sharp source (a rule's hard
    vote, a low-temperature softmax) and a flat one both count as right ``target`` of the time on
    average, as Snorkel's label model assumes of each source before it sees data (its
    ``prec_init``, 0.7). The argmax of every row is kept. T is searched in [0.01, 100] by
    bisection over log T (the mean top probability falls as T grows).

    Attributes
    ----------
    temperature_, n_classes_ : as for :class:`TemperatureScaler`.
    mean_confidence_before_, mean_confidence_after_ : the mean top probability at T = 1 and T.
    """

    LOG_BOUNDS = (math.log(0.01), math.log(100.0))

    def __init__(self, target: float = 0.7) -> None:
        self.target = target

    def fit(self, probs: np.ndarray, gold: np.ndarray | None = None) -> PriorTemperatureScaler:
        """Fit on (n, k) probabilities (NaN rows ignored); ``gold`` is not used."""
        arr = _validate_probs(probs)
        if not 0.0 < self.target < 1.0:
            raise ValueError(f"target must lie in (0, 1), got {self.target}")
        log_p = _compute_log_probs(arr[~np.isnan(arr).any(axis=1)])
        if len(log_p) == 0:
            raise ValueError("a prior temperature needs at least 1 scored row, got 0")

        def mean_top(log_t: float) -> float:
            return float(_compute_softmax(log_p / math.exp(log_t)).max(axis=1).mean())

        lo, hi = self.LOG_BOUNDS
        while hi - lo > LOG_T_TOL:
            middle = (lo + hi) / 2
            lo, hi = (middle, hi) if mean_top(middle) > self.target else (lo, middle)
        self.temperature_ = math.exp((lo + hi) / 2)
        self.n_classes_ = arr.shape[1]
        self.mean_confidence_before_ = mean_top(0.0)
        self.mean_confidence_after_ = mean_top(math.log(self.temperature_))
        return self


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    """Expected calibration error with ``bins`` equal-width bins on [0, 1], weighted by bin size.

    ``confidence`` is (n,) in [0, 1] (NaN for unscored rows, which are ignored); ``correct`` is
    (n,) booleans (or 0/1). The top bin includes 1.0. Raises ValueError when no row is scored.
    """
    conf, ok = _validate_confidence(confidence, correct, bins)
    curve = _compute_bins(conf, ok, bins)
    count = curve["count"]
    gaps = np.abs(curve["mean_confidence"] - curve["accuracy"])
    return float(np.sum(gaps * count) / np.sum(count))


def reliability_curve(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> dict[str, list[float] | list[int]]:
    """The points of a reliability diagram, JSON-friendly.

    ``edges`` lists all ``bins + 1`` bin edges; ``lower``, ``upper``, ``center``,
    ``mean_confidence``, ``accuracy`` and ``count`` list one entry per non-empty bin, in order.
    Inputs are as for :func:`expected_calibration_error`.
    """
    conf, ok = _validate_confidence(confidence, correct, bins)
    curve = _compute_bins(conf, ok, bins)
    edges = _compute_edges(bins)
    index = curve["index"].astype(np.int64)
    return {
        "edges": [float(e) for e in edges],
        "lower": [float(e) for e in edges[index]],
        "upper": [float(e) for e in edges[index + 1]],
        "center": [float(c) for c in (2 * index + 1) / (2 * bins)],
        "mean_confidence": [float(c) for c in curve["mean_confidence"]],
        "accuracy": [float(a) for a in curve["accuracy"]],
        "count": [int(c) for c in curve["count"]],
    }


def _validate_probs(probs: np.ndarray) -> np.ndarray:
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"probs must be an (n, k) array with k >= 2, got shape {arr.shape}")
    values = arr[~np.isnan(arr).any(axis=1)]
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("probs: scored rows must hold finite, non-negative probabilities")
    return arr


def _validate_confidence(
    confidence: np.ndarray, correct: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Check the inputs; return the scored rows' confidence and correctness."""
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct)
    if conf.ndim != 1:
        raise ValueError(f"confidence must be a 1-D array, got shape {conf.shape}")
    if ok.shape != conf.shape:
        raise ValueError(f"correct must have shape {conf.shape} like confidence, got {ok.shape}")
    scored = ~np.isnan(conf)
    conf, ok = conf[scored], ok[scored]
    if conf.size == 0:
        raise ValueError("no scored row (every confidence is NaN or the input is empty)")
    if (conf < 0).any() or (conf > 1).any():
        raise ValueError("confidence must lie in [0, 1]")
    if ok.dtype != np.bool_:
        if not np.isin(ok, (0, 1)).all():
            raise ValueError("correct must hold booleans or 0/1")
        ok = ok.astype(bool)
    return conf, ok


def _compute_edges(bins: int) -> np.ndarray:
    """Equal-width edges on [0, 1]: i / bins is exact where linspace is not (0.6000000000000001)."""
    return np.arange(bins + 1) / bins


def _compute_bins(conf: np.ndarray, ok: np.ndarray, bins: int) -> dict[str, np.ndarray]:
    """Per non-empty bin: its index, mean confidence, accuracy and count."""
    edges = _compute_edges(bins)
    index = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=conf, minlength=bins)
    ok_sum = np.bincount(index, weights=ok.astype(np.float64), minlength=bins)
    nonempty = count > 0
    return {
        "index": np.flatnonzero(nonempty),
        "mean_confidence": conf_sum[nonempty] / count[nonempty],
        "accuracy": ok_sum[nonempty] / count[nonempty],
        "count": count[nonempty],
    }


def _compute_log_probs(probs: np.ndarray) -> np.ndarray:
    log_p: np.ndarray = np.log(np.clip(probs, CLIP, None))
    return log_p


def _compute_log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    log_q: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return log_q


def _compute_softmax(z: np.ndarray) -> np.ndarray:
    q: np.ndarray = np.exp(_compute_log_softmax(z))
    return q


def _compute_nll(log_p: np.ndarray, y: np.ndarray, temperature: float) -> float:
    log_q = _compute_log_softmax(log_p / temperature)
    return float(-log_q[np.arange(len(y)), y].mean())


def _compute_bounded(q: np.ndarray) -> np.ndarray:
    """Mix (n, k) distributions with the uniform one so that no cell exceeds MAX_CONFIDENCE.

    An affine map: rows still sum to 1 and keep their order of classes.
    """
    k = q.shape[1]
    eps = (1.0 - MAX_CONFIDENCE) * k / (k - 1)
    # The minimum only trims rounding (1e-16): the mix alone stays at MAX_CONFIDENCE.
    bounded: np.ndarray = np.minimum(q * (1.0 - eps) + eps / k, MAX_CONFIDENCE)
    return bounded


def _compute_log_temperature(log_p: np.ndarray, y: np.ndarray, prior_scale: float | None) -> float:
    """log T in LOG_T_BOUNDS minimising the mean NLL plus the prior's share (see
    TemperatureScaler): the best point of a grid, refined by golden section between its
    neighbours."""
    penalty = 0.0 if prior_scale is None else 1.0 / (2.0 * prior_scale**2 * len(y))

    def objective(log_t: float) -> float:
        return _compute_nll(log_p, y, math.exp(log_t)) + penalty * log_t**2

    lo, hi = LOG_T_BOUNDS
    grid = np.linspace(lo, hi, _GRID_POINTS)
    best = int(np.argmin([objective(float(t)) for t in grid]))
    a, b = float(grid[max(best - 1, 0)]), float(grid[min(best + 1, len(grid) - 1)])
    return _compute_golden_section(objective, a, b, LOG_T_TOL)


def _compute_golden_section(f: Callable[[float], float], lo: float, hi: float, tol: float) -> float:
    """The x in [lo, hi] minimising f (assumed unimodal there)."""
    a, b = lo, hi
    c, d = b - _INV_PHI * (b - a), a + _INV_PHI * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _INV_PHI * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _INV_PHI * (b - a)
            fd = f(d)
    return (a + b) / 2
