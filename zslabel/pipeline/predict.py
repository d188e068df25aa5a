"""Predict: every row's top label, confidence and margin from the combined probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zslabel.combine import Combiner
from zslabel.pipeline.features import load_shard
from zslabel.pipeline.memory import return_freed_memory
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.score import ShardScore
from zslabel.refine import Refinement
from zslabel.selection import Predictions, label_dtype, thresholds

# Predictions' per-row arrays (``assigned`` is None in single-label jobs).
PREDICTION_ARRAYS = ("label", "confidence", "margin", "has_text", "assigned")


def predictions_of(
    plan: JobPlan, probs: np.ndarray, has_text: np.ndarray | None = None
) -> Predictions:
    """Predictions of (rows, classes) combined ``probs``: the top label, or in a multi-label
    job each label over its threshold; ``has_text`` marks the rows with a usable input."""
    if plan.multi_label:
        cut = thresholds(plan.config.selection, plan.label_names)
        return Predictions.from_independent(probs, cut, has_text)
    return Predictions.from_probabilities(probs, has_text)


def predict(
    plan: JobPlan,
    scores: Sequence[ShardScore],
    combiner: Combiner,
    refinement: Refinement | None = None,
) -> Predictions:
    """Every row's prediction, shard by shard into arrays allocated once: concatenating
    per-shard parts held every row twice at the end."""
    if not scores:
        return Predictions.concatenate([])
    total = sum(score.shard.num_rows for score in scores)
    whole: Predictions | None = None
    start = 0
    for score in scores:
        per_source, has_text = load_shard(plan, score, refinement)
        part = predictions_of(plan, combiner(per_source), has_text)
        if whole is None:
            whole = _allocate_like(part, total, label_dtype(len(plan.label_names)))
        rows = slice(start, start + score.shard.num_rows)
        for name in PREDICTION_ARRAYS:
            target = getattr(whole, name)
            if target is not None:
                target[rows] = getattr(part, name)
        start = rows.stop
    assert whole is not None
    return_freed_memory()
    return whole


def _allocate_like(part: Predictions, rows: int, label: np.dtype[Any]) -> Predictions:
    """Empty Predictions of ``rows`` rows with ``part``'s dtypes and row shapes, but labels as
    ``label``: a class index fits in a byte or two, and int64 cost 8 bytes for every row."""

    def like(array: np.ndarray, dtype: np.dtype[Any] | None = None) -> np.ndarray:
        return np.empty((rows, *array.shape[1:]), dtype or array.dtype)

    assigned = None if part.assigned is None else like(part.assigned)
    return Predictions(
        like(part.label, label),
        like(part.confidence),
        like(part.margin),
        like(part.has_text),
        assigned,
    )
