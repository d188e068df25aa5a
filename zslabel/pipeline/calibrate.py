"""Calibrate: a temperature per source, fitted on the job's gold file and, when the job asks for
it (``calibration: {reviews: true}``), the input's reviewed rows; and a record of what it changed.
Without any gold, every source is left as it is."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from zslabel.cache import cache_key
from zslabel.calibration import (
    TemperatureScaler,
    expected_calibration_error,
    reliability_curve,
    small_gold_warning,
)
from zslabel.gold import GoldSet, load_gold
from zslabel.pipeline.features import probabilities
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.score import featurize
from zslabel.refine import Refinement
from zslabel.review import MatchedReviews, review_gold
from zslabel.sources.clip import ClipSource
from zslabel.sources.nli import shortlist_mask

MIN_CALIBRATION_ROWS = 2


class Calibration(NamedTuple):
    """Per source (in job order) its fitted scaler, None where it is left as it is; and the
    manifest's calibration record (None without gold)."""

    scalers: list[TemperatureScaler | None]
    report: dict[str, Any] | None


def fit_calibration(
    plan: JobPlan, reviewed: MatchedReviews | None = None, refinement: Refinement | None = None
) -> Calibration:
    """Fit each source's temperature on the gold rows (the gold file, plus the ``reviewed`` rows
    of the input when ``calibration.reviews`` is set), scoring them as the input rows are scored
    (same shortlists, ``refinement``).

    Raises the gold file's ConfigError/InputError when it cannot be read or names no label.
    """
    spec = plan.config.calibration
    if spec is None:
        return Calibration([None] * len(plan.sources), None)
    # Human reviews calibrate only when the job asks for it (calibration: {reviews: true}):
    # reviewed rows are the hard, abstained ones, a biased sample whose fit would move every
    # other row. Temperatures are single-label only; a stored review that names no row of the
    # input never calibrates.
    use_reviews = spec.reviews and not plan.config.multi_label and reviewed is not None
    reviews = reviewed.reviews if use_reviews and reviewed is not None else None
    given = (
        None
        if spec.gold is None
        else load_gold(spec, plan.label_names, plan.config.input.text_column)
    )
    gold = review_gold(given, reviews)
    if gold is None:
        return Calibration([None] * len(plan.sources), None)
    fingerprint = cache_key("gold", gold.texts)
    scalers: list[TemperatureScaler | None] = []
    file_rows = 0 if given is None else len(given.texts)
    report: dict[str, Any] = {
        "gold": spec.gold,
        "rows": len(gold.texts),
        # Where the rows come from: the gold file's, and the reviewed rows' of this input.
        "gold_file_rows": file_rows,
        "review_rows": len(gold.texts) - file_rows,
        "skipped": gold.skipped,
        **({"reviews": len(reviews)} if reviews else {}),
    }
    gold_probs: list[np.ndarray] = []
    for i, source in enumerate(plan.sources):
        if isinstance(source, ClipSource):
            # The gold file holds texts: an image source has nothing to be calibrated on.
            scalers.append(None)
            gold_probs.append(np.full((len(gold.texts), len(plan.label_names)), np.nan))
            report[source.name] = {"skipped": "an image source; the gold file holds texts"}
            continue
        probs = _gold_probabilities(plan, i, gold, fingerprint, gold_probs, refinement)
        gold_probs.append(probs)
        scaler, report[source.name] = _fit_source(probs, gold.label)
        scalers.append(scaler)
        if scaler is not None:
            # Few gold rows: the fit is shrunk toward T = 1, and the run says so.
            warning = small_gold_warning(source.name, scaler.n_rows_)
            if warning is not None:
                report.setdefault("warnings", []).append(warning)
    return Calibration(scalers, report)


def _gold_probabilities(
    plan: JobPlan,
    index: int,
    gold: GoldSet,
    fingerprint: str,
    earlier_probs: list[np.ndarray],
    refinement: Refinement | None,
) -> np.ndarray:
    """Source ``index``'s probabilities of the gold texts, its features cached by gold content."""
    candidates = None
    if index in plan.shortlists:  # the same cascade as on the input rows
        earlier, k = plan.shortlists[index]
        candidates = shortlist_mask(earlier_probs[earlier], k)
    source = plan.sources[index]
    features, _ = plan.cache.get_or_compute(
        cache_key("calibration", fingerprint, source.cache_identity()),
        functools.partial(featurize, plan, index, gold.texts, candidates),
    )
    return probabilities(plan, index, features, refinement)


def _fit_source(
    probs: np.ndarray, gold: np.ndarray
) -> tuple[TemperatureScaler | None, dict[str, Any]]:
    """One source's scaler (None when it scored too few gold rows) and its record."""
    scored = int((~np.isnan(probs).any(axis=1)).sum())
    # Each source's empirical accuracy where it scored a gold row (diagnostics).
    accuracy = _gold_accuracy(probs, gold)
    if scored < MIN_CALIBRATION_ROWS:
        # A rule that fires on almost no gold row cannot be calibrated: leave it as is.
        return None, {
            "skipped": f"scored {scored} gold row(s), needs 2",
            "gold_accuracy": accuracy,
        }
    scaler = TemperatureScaler().fit(probs, gold)
    return scaler, {
        "gold_accuracy": accuracy,
        "temperature": round(scaler.temperature_, 4),
        "gold_rows": scaler.n_rows_,
        "nll_before": round(scaler.nll_before_, 4),
        "nll_after": round(scaler.nll_after_, 4),
        # On the gold rows themselves: an optimistic estimate with a small gold file.
        "ece_before": _ece(probs, gold),
        "ece_after": _ece(scaler.transform(probs), gold),
        "reliability_after": _reliability(scaler.transform(probs), gold),
    }


def _gold_accuracy(probs: np.ndarray, gold: np.ndarray) -> float | None:
    """Top-label accuracy on the gold rows a source scored; None when it scored none."""
    scored = ~np.isnan(probs).any(axis=1) & (gold >= 0)
    if not scored.any():
        return None
    return round(float(np.mean(probs[scored].argmax(axis=1) == gold[scored])), 4)


def _ece(probs: np.ndarray, gold: np.ndarray) -> float:
    scored = ~np.isnan(probs).any(axis=1)
    correct = probs[scored].argmax(axis=1) == gold[scored]
    return round(expected_calibration_error(probs[scored].max(axis=1), correct), 4)


def _reliability(probs: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    scored = ~np.isnan(probs).any(axis=1)
    correct = probs[scored].argmax(axis=1) == gold[scored]
    return reliability_curve(probs[scored].max(axis=1), correct)
