"""From probabilities to accepted / abstained decisions. Arrays in, arrays out.

A row is accepted only when it passes every configured test; otherwise it is abstained with the
first test it failed as its reason. Rows that could not be scored are invalid and stay invalid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zslabel.config import SelectionSpec

ACCEPTED, ABSTAINED, INVALID = 0, 1, 2
STATUS_NAMES = ("accepted", "abstained", "invalid")

# Abstain reasons, in the order they are tested.
NO_SOURCE_SCORED = "no_source_scored"
BELOW_MIN_CONFIDENCE = "below_min_confidence"
BELOW_CLASS_MIN_CONFIDENCE = "below_class_min_confidence"
BELOW_MIN_MARGIN = "below_min_margin"
OUTSIDE_CLASS_TOP_FRACTION = "outside_class_top_fraction"


@dataclass(frozen=True)
class Predictions:
    """The top label of each row (-1 where it has no scores), its probability and margin."""

    label: np.ndarray  # int64, -1 for rows without scores
    confidence: np.ndarray  # float64, NaN for rows without scores
    margin: np.ndarray  # top probability minus the runner-up's
    has_text: np.ndarray  # bool: the row had a usable text (scored, or abstained on by all)

    @classmethod
    def from_probabilities(
        cls, probs: np.ndarray, has_text: np.ndarray | None = None
    ) -> Predictions:
        n, k = probs.shape
        scored = ~np.isnan(probs).any(axis=1)
        label = np.full(n, -1, dtype=np.int64)
        confidence = np.full(n, np.nan)
        margin = np.full(n, np.nan)
        if scored.any():
            p = probs[scored]
            # Stable sort: ties go to the label listed first, the same on every run.
            order = np.argsort(-p, axis=1, kind="stable")
            top = np.take_along_axis(p, order[:, :2], axis=1)
            label[scored] = order[:, 0]
            confidence[scored] = top[:, 0]
            margin[scored] = top[:, 0] - top[:, 1] if k > 1 else top[:, 0]
        return cls(label, confidence, margin, scored if has_text is None else has_text | scored)

    @classmethod
    def concatenate(cls, parts: Sequence[Predictions]) -> Predictions:
        return cls(
            np.concatenate([p.label for p in parts]) if parts else np.zeros(0, np.int64),
            np.concatenate([p.confidence for p in parts]) if parts else np.zeros(0),
            np.concatenate([p.margin for p in parts]) if parts else np.zeros(0),
            np.concatenate([p.has_text for p in parts]) if parts else np.zeros(0, bool),
        )


@dataclass(frozen=True)
class Selection:
    status: np.ndarray  # int8: ACCEPTED, ABSTAINED or INVALID
    reason: np.ndarray  # object: abstain reason or None (invalid reasons come from the input)
    class_cutoffs: dict[str, float | None]  # the confidence each class's top fraction ended at


def select(predictions: Predictions, spec: SelectionSpec, label_names: Sequence[str]) -> Selection:
    label, confidence, margin = predictions.label, predictions.confidence, predictions.margin
    n = len(label)
    valid = label >= 0
    status = np.where(predictions.has_text, ACCEPTED, INVALID).astype(np.int8)
    reason = np.full(n, None, dtype=object)

    def abstain(mask: np.ndarray, why: str) -> None:
        hit = mask & (status == ACCEPTED)
        status[hit] = ABSTAINED
        reason[hit] = why

    # A usable text that every source abstained on (no rule fired, say) goes to review.
    abstain(~valid, NO_SOURCE_SCORED)
    abstain(valid & (confidence < spec.min_confidence), BELOW_MIN_CONFIDENCE)
    class_min = np.array([spec.per_class_min_confidence.get(name, 0.0) for name in label_names])
    abstain(valid & (confidence < class_min[np.maximum(label, 0)]), BELOW_CLASS_MIN_CONFIDENCE)
    abstain(valid & (margin < spec.min_margin), BELOW_MIN_MARGIN)
    in_top, cutoffs = _class_top_fraction(label, confidence, spec.per_class_top_fraction)
    abstain(valid & ~in_top, OUTSIDE_CLASS_TOP_FRACTION)
    return Selection(
        status=status,
        reason=reason,
        class_cutoffs={name: cutoffs.get(k) for k, name in enumerate(label_names)},
    )


def _class_top_fraction(
    label: np.ndarray, confidence: np.ndarray, fraction: float
) -> tuple[np.ndarray, dict[int, float]]:
    """Mark the most confident ``fraction`` of each predicted class (at least one row each)."""
    keep = np.zeros(len(label), dtype=bool)
    cutoffs: dict[int, float] = {}
    for k in np.unique(label[label >= 0]):
        rows = np.flatnonzero(label == k)
        count = math.ceil(fraction * len(rows) - 1e-9)
        # Most confident first; ties by row order, so the cut is the same on every run.
        ranked = rows[np.lexsort((rows, -confidence[rows]))][:count]
        keep[ranked] = True
        cutoffs[int(k)] = float(confidence[ranked[-1]])
    return keep, cutoffs
