"""Combine per-source probabilities into one (n, k) array, abstain-aware.

A NaN cell is an abstain: a whole NaN row in single-label mode (a rule that did not fire), or a
single label a source did not score in multi-label mode. Combining is cell by cell over the
sources that scored each cell, so both modes share one code path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from zslabel.calibration import PriorTemperatureScaler, TemperatureScaler
from zslabel.labelmodel import (
    MIN_VOTE_SHARE,
    MIN_VOTES_PER_CLASS,
    DawidSkene,
    majority_vote,
    min_votes,
)


def weighted_mean(probs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted mean, cell by cell, over the sources that scored each cell; NaN where none did.

    With a single source this returns its probabilities unchanged.
    """
    if len(probs) == 1:
        return probs[0]
    stacked = np.stack(probs)  # (sources, n, k)
    w = np.asarray(weights, dtype=np.float64)[:, None, None] * ~np.isnan(stacked)
    total = w.sum(axis=0)
    summed = (w * np.nan_to_num(stacked)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, summed / total, np.nan)


def independent_vote(probs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Multi-label vote: per label, the weighted share of the scoring sources that assign it
    (probability >= 0.5); NaN where no source scored the label."""
    decisions = [np.where(np.isnan(p), np.nan, (p >= 0.5).astype(np.float64)) for p in probs]
    return weighted_mean(decisions, weights)


@dataclass(frozen=True)
class Combiner:
    """Calibrate each source, then combine them: ready to apply shard by shard."""

    method: str  # single | mean | vote | dawid_skene
    weights: tuple[float, ...]
    calibrators: tuple[TemperatureScaler | None, ...]
    label_model: DawidSkene | None = None
    calibration: dict[str, Any] | None = None  # what calibrating showed, for the manifest
    decider: int = 0  # for single: the one source that decides
    multi_label: bool = False
    # dawid_skene with too few voting sources: why it combined by the mean instead (manifest).
    fallback: dict[str, Any] | None = None

    def calibrate(self, per_source: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [
            probs if scaler is None else scaler.transform(probs)
            for probs, scaler in zip(per_source, self.calibrators, strict=True)
        ]

    def __call__(self, per_source: Sequence[np.ndarray]) -> np.ndarray:
        per_source = self.calibrate(per_source)
        if self.method == "single":
            return per_source[self.decider]
        if self.method == "vote":
            if self.multi_label:
                return independent_vote(per_source, self.weights)
            return majority_vote(per_source, self.weights)
        if self.label_model is not None:
            return self.label_model.predict_proba(np.stack(per_source, axis=1))
        return weighted_mean(per_source, self.weights)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"method": self.method, "weights": list(self.weights)}
        if self.method == "single":
            described["decider"] = self.decider
        if self.calibration is not None:
            described["calibration"] = self.calibration
        priors = [s for s in self.calibrators if isinstance(s, PriorTemperatureScaler)]
        if priors:
            described["prior_accuracy"] = priors[0].target
            # One entry per source, in order; None where gold calibrated it (or none was fitted).
            described["prior_temperatures"] = [
                {
                    "temperature": round(s.temperature_, 4),
                    "mean_confidence_before": round(s.mean_confidence_before_, 4),
                }
                if isinstance(s, PriorTemperatureScaler)
                else None
                for s in self.calibrators
            ]
        if self.fallback is not None:
            described["fallback"] = self.fallback
        if self.label_model is not None:
            model = self.label_model
            described.update(
                class_prior=[round(float(p), 4) for p in model.class_prior_],
                estimated_source_accuracy=[round(float(a), 4) for a in model.source_accuracy_],
                iterations=int(model.n_iter_),
                converged=bool(model.converged_),
            )
        return described


def fit_combiner(
    method: str,
    weights: Sequence[float],
    sample: Callable[[], np.ndarray],
    calibrators: Sequence[TemperatureScaler | None],
    calibration: dict[str, Any] | None = None,
    *,
    decider: int = 0,
    multi_label: bool = False,
    prior_accuracy: float | None = None,
) -> Combiner:
    """Resolve ``auto`` and fit the label model on the calibrated ``sample()``.

    ``sample()`` gives (rows, sources, classes) raw source probabilities; ``decider`` is the
    source that ``single`` keeps. Sources without a gold-fitted calibrator get a
    :class:`PriorTemperatureScaler` at ``prior_accuracy`` (single-label jobs combining several).
    ``dawid_skene`` with fewer than three sources voting on enough sample rows (see
    :func:`zslabel.labelmodel.voting_sources`) combines by the weighted mean instead, and
    ``fallback`` (in the manifest's combine section) says why.
    """
    weights = tuple(weights)
    if method == "auto":
        method = "single" if len(weights) == 1 else "mean"
    gold_calibrators = tuple(calibrators)
    if prior_accuracy is not None and method != "single" and not multi_label:
        calibrators = _with_priors(calibrators, sample(), prior_accuracy)
    combiner = Combiner(
        method,
        weights,
        tuple(calibrators),
        calibration=calibration,
        decider=decider,
        multi_label=multi_label,
    )
    if method != "dawid_skene":
        return combiner
    raw = sample()
    calibrated = np.stack(combiner.calibrate(list(raw.transpose(1, 0, 2))), axis=1)
    model = DawidSkene().fit(calibrated)
    if model.fallback_ is None:
        return replace(combiner, label_model=model)
    # Too few sources vote to identify the model. One source alone decides as it would by
    # itself (its scores as they are, as ``auto`` keeps a lone source); several, by their mean.
    fallback = _fallback_record(model, len(raw))
    scoring = np.flatnonzero(model.votes_ > 0)
    if len(scoring) == 1:
        only = int(scoring[0])
        fallback["method"] = "single"
        fallback["source_index"] = only
        fallback["reason"] += ": the one source that scores rows decides, its scores as they are"
        return replace(
            combiner,
            method="single",
            decider=only,
            calibrators=gold_calibrators,
            fallback=fallback,
        )
    fallback["reason"] += ": the weighted mean of the sources"
    return replace(combiner, method="mean", fallback=fallback)


def _fallback_record(model: DawidSkene, rows: int) -> dict[str, Any]:
    """What the manifest's combine section says when dawid_skene backed off."""
    needed = min_votes(rows, model.n_classes_)
    voting = int(model.voting_.sum())
    short = (
        f" (the sample has only {rows} rows: more input rows, or combine by mean)"
        if needed > rows
        else ""
    )
    return {
        "method": "mean",
        "reason": (
            f"dawid_skene needs {model.min_sources} sources that each vote on at least "
            f"{needed} of the {rows} sample rows ({MIN_VOTES_PER_CLASS} per class, and "
            f"{MIN_VOTE_SHARE:.0%} of the rows) to identify its model; {voting} "
            f"{'does' if voting == 1 else 'do'}{short}, so it combines without a label model"
        ),
        "min_sources": int(model.min_sources),
        "min_votes": needed,
        "sample_rows": rows,
        "votes": [int(v) for v in model.votes_],
    }


def _with_priors(
    calibrators: Sequence[TemperatureScaler | None], sample: np.ndarray, target: float
) -> list[TemperatureScaler | None]:
    """Fill in a prior temperature for every source that gold did not calibrate."""
    filled = list(calibrators)
    for s, scaler in enumerate(filled):
        probs = sample[:, s]
        if scaler is None and (~np.isnan(probs).any(axis=1)).any():
            filled[s] = PriorTemperatureScaler(target).fit(probs)
    return filled
