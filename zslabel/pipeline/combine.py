"""Combine: fit how the sources' probabilities become one (single, mean, vote, Dawid-Skene),
on a row sample spread over the input, and describe each source on that sample."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from zslabel import combine as label_models
from zslabel.combine import Combiner
from zslabel.diagnostics import source_diagnostics
from zslabel.pipeline.calibrate import Calibration
from zslabel.pipeline.features import source_probabilities
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.predict import predictions_of
from zslabel.pipeline.score import ShardScore
from zslabel.refine import Refinement


class Combined(NamedTuple):
    """The fitted combiner, and the per-source diagnostics the manifest records ({} for one
    source)."""

    combiner: Combiner
    diagnostics: dict[str, Any]


def combine(
    plan: JobPlan,
    scores: Sequence[ShardScore],
    calibration: Calibration,
    refinement: Refinement | None = None,
) -> Combined:
    """Fit the combiner and diagnose the sources on one row sample, drawn at most once."""
    sample = functools.cache(lambda: row_sample(plan, scores, refinement))
    combiner = fit_combiner(plan, sample, calibration)
    return Combined(combiner, diagnose(plan, sample, combiner))


def row_sample(
    plan: JobPlan, scores: Sequence[ShardScore], refinement: Refinement | None = None
) -> np.ndarray:
    """(rows, sources, classes) probabilities of at most combine.fit_rows rows spread evenly
    over the input."""
    stride = max(1, math.ceil(plan.dataset.num_rows / plan.config.combine.fit_rows))
    parts = []
    for score in scores:
        start = score.shard.start_row
        keep = np.arange(-start % stride, score.shard.num_rows, stride)
        stacked = np.stack(source_probabilities(plan, score, refinement), axis=1)
        parts.append(stacked[keep])
    return np.concatenate(parts)


def fit_combiner(
    plan: JobPlan, sample: Callable[[], np.ndarray], calibration: Calibration
) -> Combiner:
    """The job's combine method fitted on ``sample()`` ((rows, sources, classes)), with each
    source's calibration applied first."""
    decider = plan.config.combine.source
    return label_models.fit_combiner(
        plan.config.combine.method,
        [s.weight for s in plan.sources],
        sample,
        calibration.scalers,
        calibration.report,
        decider=0 if decider is None else [s.name for s in plan.sources].index(decider),
        multi_label=plan.multi_label,
        prior_accuracy=plan.config.combine.prior_accuracy,
    )


def diagnose(plan: JobPlan, sample: Callable[[], np.ndarray], combiner: Combiner) -> dict[str, Any]:
    """Snorkel-style coverage, overlap, conflict and agreement of each source (on a sample)."""
    if len(plan.sources) < 2:
        return {}
    rows = sample()
    combined = predictions_of(plan, combiner(list(rows.transpose(1, 0, 2))))
    if plan.multi_label:
        # Diagnostics compare top labels: a source scored a row if it scored any label.
        some = ~np.isnan(rows).all(axis=2, keepdims=True)
        rows = np.where(some, np.nan_to_num(rows), np.nan)
    per_source = source_diagnostics(rows, [s.name for s in plan.sources], combined.label)
    calibration = combiner.calibration or {}
    for name, figures in per_source.items():
        # Gold never reaches the input rows; the calibration file is where it exists.
        figures["accuracy"] = calibration.get(name, {}).get("gold_accuracy")
    described: dict[str, Any] = {"rows": len(rows), "sources": per_source}
    if calibration:
        described["accuracy_on"] = f"the {calibration['rows']} calibration gold rows"
    return described
