"""Combine per-source probabilities into one (n, k) array, abstain-aware."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from zslabel.calibration import TemperatureScaler
from zslabel.labelmodel import DawidSkene, majority_vote


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


@dataclass(frozen=True)
class Combiner:
    """Calibrate each source, then combine them: ready to apply shard by shard."""

    method: str  # single | mean | vote | dawid_skene
    weights: tuple[float, ...]
    calibrators: tuple[TemperatureScaler | None, ...]
    label_model: DawidSkene | None = None
    calibration: dict[str, Any] | None = None  # what calibrating showed, for the manifest

    def calibrate(self, per_source: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [
            probs if scaler is None else scaler.transform(probs)
            for probs, scaler in zip(per_source, self.calibrators, strict=True)
        ]

    def __call__(self, per_source: Sequence[np.ndarray]) -> np.ndarray:
        per_source = self.calibrate(per_source)
        if self.method == "vote":
            return majority_vote(per_source, self.weights)
        if self.label_model is not None:
            return self.label_model.predict_proba(np.stack(per_source, axis=1))
        return weighted_mean(per_source, self.weights)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"method": self.method, "weights": list(self.weights)}
        if self.calibration is not None:
            described["calibration"] = self.calibration
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
) -> Combiner:
    """Resolve ``auto`` and fit the label model on the calibrated ``sample()``.

    ``sample()`` gives (rows, sources, classes) raw source probabilities.
    """
    weights = tuple(weights)
    if method == "auto":
        method = "single" if len(weights) == 1 else "mean"
    combiner = Combiner(method, weights, tuple(calibrators), calibration=calibration)
    if method != "dawid_skene":
        return combiner
    raw = sample()
    calibrated = np.stack(combiner.calibrate(list(raw.transpose(1, 0, 2))), axis=1)
    return replace(combiner, label_model=DawidSkene().fit(calibrated))
