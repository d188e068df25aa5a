from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zslabel.config import SelectionSpec
from zslabel.selection import ABSTAINED, ACCEPTED, INVALID, Predictions, select

NAMES = ["a", "b", "c"]


def probs_strategy() -> st.SearchStrategy[np.ndarray]:
    def normalise(raw: np.ndarray) -> np.ndarray:
        probs = raw / raw.sum(axis=1, keepdims=True)
        probs[raw[:, 0] < 0.05] = np.nan  # some rows could not be scored
        return probs

    return arrays(
        np.float64, st.tuples(st.integers(1, 60), st.just(3)), elements=st.floats(0.01, 1.0)
    ).map(normalise)


def test_predictions_take_the_top_label_and_margin() -> None:
    probs = np.array([[0.2, 0.7, 0.1], [np.nan] * 3, [0.5, 0.5, 0.0]])
    pred = Predictions.from_probabilities(probs)
    assert pred.label.tolist() == [1, -1, 0]  # a tie goes to the label listed first
    assert pred.confidence[0] == pytest.approx(0.7)
    assert pred.margin[0] == pytest.approx(0.5)
    assert np.isnan(pred.confidence[1])


def test_each_test_abstains_with_its_reason() -> None:
    probs = np.array([[0.9, 0.05, 0.05], [0.5, 0.45, 0.05], [0.3, 0.6, 0.1], [0.35, 0.33, 0.32]])
    spec = SelectionSpec(
        min_confidence=0.34,
        per_class_min_confidence={"b": 0.7},
        min_margin=0.1,
        min_above_chance=None,
    )
    result = select(Predictions.from_probabilities(probs), spec, NAMES)
    assert result.status.tolist() == [ACCEPTED, ABSTAINED, ABSTAINED, ABSTAINED]
    assert result.reason.tolist() == [
        None,
        "below_min_margin",
        "below_class_min_confidence",
        "below_min_margin",
    ]
    # The default floor, 0.667 with 3 labels, is tested before the class minimum and margin.
    with_floor = select(
        Predictions.from_probabilities(probs),
        SelectionSpec(min_confidence=0.34, per_class_min_confidence={"b": 0.7}, min_margin=0.1),
        NAMES,
    )
    assert with_floor.reason.tolist() == [
        None,
        "below_confidence_floor",
        "below_confidence_floor",
        "below_confidence_floor",
    ]


def test_top_fraction_is_per_predicted_class() -> None:
    # Class a has four confident rows, class b two unconfident ones: each keeps its top half.
    probs = np.array(
        [
            [0.9, 0.1, 0],
            [0.95, 0.05, 0],
            [0.8, 0.2, 0],
            [0.85, 0.15, 0],
            [0.4, 0.6, 0],
            [0.45, 0.55, 0],
        ]
    )
    spec = SelectionSpec(per_class_top_fraction=0.5, min_above_chance=None)
    result = select(Predictions.from_probabilities(probs), spec, NAMES)
    assert np.flatnonzero(result.status == ACCEPTED).tolist() == [0, 1, 4]
    assert result.class_cutoffs == {"a": 0.9, "b": 0.6, "c": None}
    assert result.class_rule_cutoffs["b"] == {
        "top_fraction": 0.6,
        "min_confidence": 0.0,
        "floor": 0.0,
    }
    # With the default floor (0.667 for 3 labels), b's top row at 0.6 is not accepted.
    floored = select(Predictions.from_probabilities(probs), SelectionSpec(), NAMES)
    assert np.flatnonzero(floored.status == ACCEPTED).tolist() == [0, 1]
    assert floored.class_cutoffs == {"a": 0.9, "b": None, "c": None}


@settings(max_examples=200, deadline=None)
@given(
    probs=probs_strategy(),
    low=st.floats(0, 1),
    high=st.floats(0, 1),
    fraction_low=st.floats(0.01, 1),
    fraction_high=st.floats(0.01, 1),
)
def test_a_stricter_selection_never_accepts_more_rows(
    probs: np.ndarray, low: float, high: float, fraction_low: float, fraction_high: float
) -> None:
    low, high = sorted((low, high))
    fraction_low, fraction_high = sorted((fraction_low, fraction_high))
    pred = Predictions.from_probabilities(probs)
    loose = select(
        pred, SelectionSpec(min_confidence=low, per_class_top_fraction=fraction_high), NAMES
    )
    strict = select(
        pred, SelectionSpec(min_confidence=high, per_class_top_fraction=fraction_low), NAMES
    )
    loose_accepted = loose.status == ACCEPTED
    strict_accepted = strict.status == ACCEPTED
    assert not np.any(strict_accepted & ~loose_accepted)  # strict accepts a subset
    margin = select(pred, SelectionSpec(min_margin=high), NAMES).status == ACCEPTED
    assert (
        margin.sum()
        <= (select(pred, SelectionSpec(min_margin=low), NAMES).status == ACCEPTED).sum()
    )


@settings(max_examples=200, deadline=None)
@given(probs=probs_strategy(), threshold=st.floats(0, 1), fraction=st.floats(0.01, 1))
def test_every_row_gets_exactly_one_status(
    probs: np.ndarray, threshold: float, fraction: float
) -> None:
    pred = Predictions.from_probabilities(probs)
    result = select(
        pred, SelectionSpec(min_confidence=threshold, per_class_top_fraction=fraction), NAMES
    )
    counts = [int(np.sum(result.status == s)) for s in (ACCEPTED, ABSTAINED, INVALID)]
    assert sum(counts) == len(probs)
    assert counts[2] == int(np.isnan(probs).any(axis=1).sum())
    assert all(
        (r is None) == (s != ABSTAINED) for r, s in zip(result.reason, result.status, strict=True)
    )


def test_rows_tied_at_a_class_cut_are_kept_together() -> None:
    """Four copies of one ticket at 0.929232 were split two accepted, two abstained (a new-user
    trial): a tie at the cut is kept whole."""
    confidence = np.array([0.99, 0.95, 0.929232, 0.929232, 0.929232, 0.929232, 0.6, 0.55])
    probs = np.stack([confidence, 1 - confidence], axis=1)
    spec = SelectionSpec(per_class_top_fraction=0.4, min_above_chance=None)
    status = select(Predictions.from_probabilities(probs), spec, ["a", "b"]).status
    assert (status == ACCEPTED).tolist() == [True] * 6 + [False] * 2
