"""From probabilities to accepted / abstained decisions. Arrays in, arrays out.

A row is accepted only when it passes every configured test; otherwise it is abstained with the
first test it failed as its reason. Rows that could not be scored are invalid and stay invalid.

Multi-label rows carry the set of labels whose probability reached their threshold; a row's
confidence is that of its least certain label decision (p for an assigned label, 1 - p for one
left out) and its margin the smallest distance of a label's probability to its threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
NO_LABEL_ASSIGNED = "no_label_above_threshold"
# Below selection.min_above_chance's floor, relative to chance for the label count.
BELOW_CONFIDENCE_FLOOR = "below_confidence_floor"
# In a language no model of the job covers (zslabel.pipeline.row_languages).
UNCOVERED_LANGUAGE = "uncovered_language"
# A row a person labeled (zslabel.review): accepted, with this reason.
HUMAN_REVIEW = "human_review"
# Every reason a row can carry, by code; code 0 is no reason. A row keeps a one-byte code: an
# object array of the strings held an 8-byte pointer a row, which grew peak memory with the input.
REASON_NAMES: tuple[str | None, ...] = (
    None,
    NO_SOURCE_SCORED,
    BELOW_MIN_CONFIDENCE,
    BELOW_CLASS_MIN_CONFIDENCE,
    BELOW_MIN_MARGIN,
    OUTSIDE_CLASS_TOP_FRACTION,
    NO_LABEL_ASSIGNED,
    HUMAN_REVIEW,
    BELOW_CONFIDENCE_FLOOR,  # appended: codes already written keep their meaning
    UNCOVERED_LANGUAGE,
)
_REASON_CODES = {name: code for code, name in enumerate(REASON_NAMES)}
_REASON_ARRAY = np.asarray(REASON_NAMES, dtype=object)


def reason_code(reason: str | None) -> int:
    """The code of a reason in ``REASON_NAMES``."""
    return _REASON_CODES[reason]


def label_dtype(classes: int) -> np.dtype[Any]:
    """The smallest signed integer type that holds a class index and -1 (no label)."""
    return np.dtype(np.min_scalar_type(-max(classes, 1)))


@dataclass(frozen=True)
class Predictions:
    """The top label of each row (-1 where it has no scores), its probability and margin."""

    label: np.ndarray  # int64, -1 for rows without scores
    confidence: np.ndarray  # float64, NaN for rows without scores
    margin: np.ndarray  # top probability minus the runner-up's
    has_text: np.ndarray  # bool: the row had a usable text (scored, or abstained on by all)
    # Multi-label mode: (n, k) bool, the labels each row is assigned; None in single-label mode.
    assigned: np.ndarray | None = None

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
    def from_independent(
        cls, probs: np.ndarray, thresholds: np.ndarray, has_text: np.ndarray | None = None
    ) -> Predictions:
        """Multi-label predictions from (n, k) independent probabilities (NaN: not scored)."""
        scored_cells = ~np.isnan(probs)
        scored = scored_cells.any(axis=1)
        filled = np.where(scored_cells, probs, -np.inf)
        assigned = filled >= thresholds[None, :]
        decision = np.where(assigned, probs, 1.0 - probs)
        distance = np.abs(probs - thresholds[None, :])
        label = np.where(scored, filled.argmax(axis=1), -1).astype(np.int64)
        confidence = np.where(scored, np.where(scored_cells, decision, np.inf).min(axis=1), np.nan)
        margin = np.where(scored, np.where(scored_cells, distance, np.inf).min(axis=1), np.nan)
        return cls(
            label,
            confidence,
            margin,
            scored if has_text is None else has_text | scored,
            assigned,
        )

    @classmethod
    def concatenate(cls, parts: Sequence[Predictions]) -> Predictions:
        assigned = [p.assigned for p in parts if p.assigned is not None]
        return cls(
            np.concatenate([p.label for p in parts]) if parts else np.zeros(0, np.int64),
            np.concatenate([p.confidence for p in parts]) if parts else np.zeros(0),
            np.concatenate([p.margin for p in parts]) if parts else np.zeros(0),
            np.concatenate([p.has_text for p in parts]) if parts else np.zeros(0, bool),
            np.concatenate(assigned) if assigned and len(assigned) == len(parts) else None,
        )


@dataclass(frozen=True, init=False)
class Selection:
    status: np.ndarray  # int8: ACCEPTED, ABSTAINED or INVALID
    # int8 codes into REASON_NAMES: abstain reason or none (invalid reasons come from the input).
    reason_code: np.ndarray
    # The effective cut per class: the lowest confidence it accepted (None: none accepted);
    # multi-label mode: each label's threshold.
    class_cutoffs: dict[str, float | None]
    # Single-label mode, per class, each rule's own cut: ``top_fraction`` (the confidence the
    # class's top fraction ended at), ``min_confidence`` (the larger of the global and the
    # class's own), ``floor`` (selection.min_above_chance's floor). Empty in multi-label mode.
    class_rule_cutoffs: dict[str, dict[str, float | None]]

    def __init__(
        self,
        status: np.ndarray,
        reason: Sequence[str | None] | np.ndarray | None = None,
        class_cutoffs: dict[str, float | None] | None = None,
        *,
        reason_code: np.ndarray | None = None,
        class_rule_cutoffs: dict[str, dict[str, float | None]] | None = None,
    ) -> None:
        """``reason``: each row's reason as a string or None; or ``reason_code``, their codes."""
        if reason_code is None:
            names = [] if reason is None else reason
            reason_code = np.fromiter((_REASON_CODES[r] for r in names), np.int8, len(names))
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason_code", reason_code)
        object.__setattr__(self, "class_cutoffs", {} if class_cutoffs is None else class_cutoffs)
        rules = {} if class_rule_cutoffs is None else class_rule_cutoffs
        object.__setattr__(self, "class_rule_cutoffs", rules)

    @property
    def reason(self) -> np.ndarray:
        """Every row's reason (object: a string or None); ``reasons`` reads a slice of them."""
        reasons: np.ndarray = _REASON_ARRAY[self.reason_code]
        return reasons

    def reasons(self, rows: slice) -> list[str | None]:
        """The reasons of ``rows``, as strings or None."""
        return list(_REASON_ARRAY[self.reason_code[rows]])


def thresholds(spec: SelectionSpec, label_names: Sequence[str]) -> np.ndarray:
    """Multi-label mode: the probability at which each label is assigned."""
    return np.array([spec.per_class_threshold.get(name, spec.threshold) for name in label_names])


def select(
    predictions: Predictions,
    spec: SelectionSpec,
    label_names: Sequence[str],
    uncovered: np.ndarray | None = None,
    unranked: np.ndarray | None = None,
) -> Selection:
    """Accept the rows that pass every rule of ``spec``; abstain the rest with the first rule
    they failed. Single-label rules, in order: a score at all, a language a model covers
    (``uncovered``: (n,) bool, rows in languages none covers; None: every row passes), then
    ``min_confidence``, the floor (``spec.floor(k)``), ``per_class_min_confidence``,
    ``min_margin``, the class's top fraction (ranked among the rows in covered languages, and
    not among ``unranked``, (n,) bool: rows held to the cutoff the others set, where a class
    has other rows). ``predictions``: n rows over ``label_names`` (k labels)."""
    if predictions.assigned is not None:
        return _select_multi_label(predictions, spec, label_names, uncovered)
    label, confidence, margin = predictions.label, predictions.confidence, predictions.margin
    n = len(label)
    valid = label >= 0
    status = _initial_status(predictions.has_text)
    reason = np.zeros(n, dtype=np.int8)

    def abstain(mask: np.ndarray, why: str) -> None:
        hit = mask & (status == ACCEPTED)
        status[hit] = ABSTAINED
        reason[hit] = _REASON_CODES[why]

    # A usable text that every source abstained on (no rule fired, say) goes to review.
    abstain(~valid, NO_SOURCE_SCORED)
    if uncovered is not None:
        abstain(uncovered, UNCOVERED_LANGUAGE)
        # Out of the class quotas too: confident noise would take the top of its class.
        label = np.where(uncovered, -1, label)
        valid = label >= 0
    abstain(valid & (confidence < spec.min_confidence), BELOW_MIN_CONFIDENCE)
    floor = spec.floor(len(label_names))
    if floor > 0:
        abstain(valid & (confidence < floor), BELOW_CONFIDENCE_FLOOR)
    if spec.per_class_min_confidence:  # the gather below is 8 bytes a row
        minimum = [spec.per_class_min_confidence.get(name, 0.0) for name in label_names]
        class_min = np.array(minimum)[np.maximum(label, 0)]
        abstain(valid & (confidence < class_min), BELOW_CLASS_MIN_CONFIDENCE)
    abstain(valid & (margin < spec.min_margin), BELOW_MIN_MARGIN)
    in_top, cutoffs = _class_top_fraction(label, confidence, spec.per_class_top_fraction, unranked)
    abstain(valid & ~in_top, OUTSIDE_CLASS_TOP_FRACTION)
    rules = {
        name: {
            "top_fraction": cutoffs.get(k),
            "min_confidence": max(spec.min_confidence, spec.per_class_min_confidence.get(name, 0)),
            "floor": round(floor, 6),
        }
        for k, name in enumerate(label_names)
    }
    return Selection(
        status=status,
        reason_code=reason,
        class_cutoffs=lowest_accepted(label, confidence, status, label_names),
        class_rule_cutoffs=rules,
    )


def lowest_accepted(
    label: np.ndarray, confidence: np.ndarray, status: np.ndarray, label_names: Sequence[str]
) -> dict[str, float | None]:
    """Per class, the lowest confidence among its accepted rows (None where it has none): the
    cut every rule together made. ``label``, ``confidence``, ``status``: (n,) per row."""
    accepted = (status == ACCEPTED) & (label >= 0)
    lowest = np.full(len(label_names), np.inf)
    np.minimum.at(lowest, label[accepted], confidence[accepted])
    return {
        name: float(lowest[k]) if np.isfinite(lowest[k]) else None
        for k, name in enumerate(label_names)
    }


def _select_multi_label(
    predictions: Predictions,
    spec: SelectionSpec,
    label_names: Sequence[str],
    uncovered: np.ndarray | None,
) -> Selection:
    """Accept rows with at least one label whose every label decision is confident enough."""
    assert predictions.assigned is not None
    valid = predictions.label >= 0
    status = _initial_status(predictions.has_text)
    reason = np.zeros(len(valid), dtype=np.int8)

    def abstain(mask: np.ndarray, why: str) -> None:
        hit = mask & (status == ACCEPTED)
        status[hit] = ABSTAINED
        reason[hit] = _REASON_CODES[why]

    abstain(~valid, NO_SOURCE_SCORED)
    if uncovered is not None:
        abstain(uncovered, UNCOVERED_LANGUAGE)
    abstain(valid & ~predictions.assigned.any(axis=1), NO_LABEL_ASSIGNED)
    abstain(valid & (predictions.confidence < spec.min_confidence), BELOW_MIN_CONFIDENCE)
    abstain(valid & (predictions.margin < spec.min_margin), BELOW_MIN_MARGIN)
    cut = thresholds(spec, label_names)
    cutoffs: dict[str, float | None] = {name: float(cut[k]) for k, name in enumerate(label_names)}
    return Selection(status, None, cutoffs, reason_code=reason)


def _initial_status(has_text: np.ndarray) -> np.ndarray:
    """ACCEPTED where a row has a text, else INVALID; built in int8 (np.where makes int64)."""
    status = np.full(len(has_text), INVALID, dtype=np.int8)
    status[has_text] = ACCEPTED
    return status


def _class_top_fraction(
    label: np.ndarray, confidence: np.ndarray, fraction: float, unranked: np.ndarray | None
) -> tuple[np.ndarray, dict[int, float]]:
    """Mark the most confident ``fraction`` of each predicted class (at least one row each),
    and every row tied with the last one kept: identical texts get identical confidences, and
    a cut through them would accept one copy and send the next to review. The cut is taken
    among the class's rows outside ``unranked`` where it has any, and applied to all."""
    keep = np.zeros(len(label), dtype=bool)
    cutoffs: dict[int, float] = {}
    for k in np.unique(label[label >= 0]):
        rows = np.flatnonzero(label == k)
        basis = rows
        if unranked is not None and not unranked[rows].all():
            basis = rows[~unranked[rows]]
        count = math.ceil(fraction * len(basis) - 1e-9)
        # Most confident first; ties by row order (a stable sort of ascending rows), so the cut
        # is the same on every run.
        ranked = basis[np.argsort(-confidence[basis], kind="stable")[:count]]
        cutoff = confidence[ranked[-1]]
        keep[rows[confidence[rows] >= cutoff]] = True
        cutoffs[int(k)] = float(cutoff)
    return keep, cutoffs
