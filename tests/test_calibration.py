from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zslabel.calibration import (
    MAX_CONFIDENCE,
    MIN_GOLD_ROWS,
    NotFittedError,
    TemperatureScaler,
    expected_calibration_error,
    reliability_curve,
    small_gold_warning,
)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    probs: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return probs


def calibrated_set(n: int = 20_000, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits, and labels drawn from softmax(logits): softmax(logits) is calibrated."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.0, (n, k))
    cumulative = softmax(logits).cumsum(axis=1)
    labels = (rng.random(n)[:, None] > cumulative).sum(axis=1)
    return logits, np.minimum(labels, k - 1)


def ece_of(probs: np.ndarray, labels: np.ndarray) -> float:
    return expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == labels)


# --- expected_calibration_error / reliability_curve ---------------------------------------------


def test_ece_is_near_zero_when_calibrated_and_large_when_overconfident() -> None:
    logits, labels = calibrated_set()
    assert ece_of(softmax(logits), labels) < 0.02
    assert ece_of(softmax(3.0 * logits), labels) > 0.15


def test_ece_by_hand() -> None:
    # Bin [0.2, 0.3): confidences 0.2, 0.2, accuracy 1/2 -> gap 0.3, weight 2/4.
    # Top bin [0.9, 1.0] includes 1.0: confidences 0.9, 1.0, accuracy 1 -> gap 0.05, weight 2/4.
    conf = np.array([0.2, 0.2, 0.9, 1.0])
    correct = np.array([True, False, True, True])
    assert expected_calibration_error(conf, correct) == pytest.approx(0.175)
    # An edge belongs to the bin above it; NaN rows are ignored; 0/1 works as correctness.
    conf = np.array([0.3, 0.6, np.nan])
    assert expected_calibration_error(conf, np.array([0, 1, 1]), bins=5) == pytest.approx(0.35)
    assert expected_calibration_error(np.array([0.5]), np.array([1]), bins=1) == pytest.approx(0.5)


def test_reliability_curve_lists_non_empty_bins() -> None:
    conf = np.array([0.05, 0.15, 0.12, 1.0, np.nan])
    correct = np.array([False, True, False, True, False])
    curve = reliability_curve(conf, correct, bins=10)
    assert curve["edges"] == [i / 10 for i in range(11)]
    assert curve["lower"] == [0.0, 0.1, 0.9]
    assert curve["upper"] == [0.1, 0.2, 1.0]
    assert curve["center"] == [0.05, 0.15, 0.95]
    assert curve["mean_confidence"] == pytest.approx([0.05, 0.135, 1.0])
    assert curve["accuracy"] == [0.0, 0.5, 1.0]
    assert curve["count"] == [1, 2, 1]
    assert json.loads(json.dumps(curve)) == curve


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 50), elements=st.floats(0.0, 1.0)),
    st.integers(1, 15),
    st.integers(0, 2**32 - 1),
)
def test_ece_agrees_with_the_curve(conf: np.ndarray, bins: int, seed: int) -> None:
    correct = np.random.default_rng(seed).random(conf.shape) < 0.5
    curve = reliability_curve(conf, correct, bins=bins)
    ece = expected_calibration_error(conf, correct, bins=bins)
    counts = np.array(curve["count"])
    gaps = np.abs(np.array(curve["mean_confidence"]) - np.array(curve["accuracy"]))
    assert counts.sum() == len(conf)
    assert ece == pytest.approx(float((gaps * counts).sum() / counts.sum()))
    assert 0.0 <= ece <= 1.0


def test_ece_validates_inputs() -> None:
    with pytest.raises(ValueError, match="shape"):
        expected_calibration_error(np.array([0.5, 0.5]), np.array([True]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error(np.array([1.5]), np.array([True]))
    with pytest.raises(ValueError, match="bins"):
        expected_calibration_error(np.array([0.5]), np.array([True]), bins=0)
    with pytest.raises(ValueError, match="no scored row"):
        expected_calibration_error(np.array([np.nan]), np.array([True]))
    with pytest.raises(ValueError, match="0/1"):
        reliability_curve(np.array([0.5]), np.array([2]))
    with pytest.raises(ValueError, match="1-D"):
        reliability_curve(np.zeros((2, 2)), np.zeros((2, 2), dtype=bool))


# --- TemperatureScaler --------------------------------------------------------------------------


def test_temperature_recovers_a_known_sharpening_and_lowers_ece() -> None:
    logits, labels = calibrated_set()
    sharpened = softmax(3.0 * logits)  # overconfident: the true temperature is 3
    scaler = TemperatureScaler().fit(sharpened, labels)
    assert scaler.temperature_ == pytest.approx(3.0, rel=0.1)
    assert scaler.nll_after_ < scaler.nll_before_
    recalibrated = scaler.transform(sharpened)
    assert ece_of(recalibrated, labels) < 0.02 < ece_of(sharpened, labels)
    np.testing.assert_array_equal(recalibrated.argmax(axis=1), sharpened.argmax(axis=1))
    np.testing.assert_allclose(recalibrated.sum(axis=1), 1.0)


def test_temperature_below_one_for_underconfident_probabilities() -> None:
    logits, labels = calibrated_set(n=5000, seed=1)
    scaler = TemperatureScaler().fit(softmax(logits / 2.0), labels)
    assert scaler.temperature_ == pytest.approx(0.5, rel=0.1)


def test_fit_ignores_nan_rows_and_unknown_gold_and_transform_keeps_nan_rows() -> None:
    logits, labels = calibrated_set(n=4000, seed=2)
    probs = softmax(2.0 * logits)
    reference = TemperatureScaler().fit(probs, labels)
    noisy = probs.copy()
    noisy[:100] = np.nan
    gold = labels.copy()
    gold[100:200] = -1
    scaler = TemperatureScaler().fit(noisy, gold)
    subset = TemperatureScaler().fit(probs[200:], labels[200:])
    assert scaler.temperature_ == pytest.approx(subset.temperature_)
    assert scaler.temperature_ == pytest.approx(reference.temperature_, rel=0.1)
    out = scaler.transform(noisy)
    assert np.isnan(out[:100]).all()
    assert np.isfinite(out[100:]).all()


def test_transform_clips_zero_probabilities() -> None:
    probs = np.array([[1.0, 0.0], [0.3, 0.7], [0.8, 0.2]])
    scaler = TemperatureScaler().fit(probs, np.array([0, 1, 1]))
    out = scaler.transform(probs)
    assert np.isfinite(out).all()
    assert 0.05 <= scaler.temperature_ <= 20.0


def test_scaler_errors() -> None:
    probs = np.array([[0.6, 0.4], [0.3, 0.7], [np.nan, np.nan]])
    with pytest.raises(NotFittedError, match="fit"):
        TemperatureScaler().transform(probs)
    with pytest.raises(ValueError, match="at least 2 rows"):
        TemperatureScaler().fit(probs, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="gold must have shape"):
        TemperatureScaler().fit(probs, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        TemperatureScaler().fit(probs, np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="integer"):
        TemperatureScaler().fit(probs, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"\(n, k\)"):
        TemperatureScaler().fit(probs[:, 0], np.array([0, 1, 1]))
    scaler = TemperatureScaler().fit(probs, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="fitted on 2"):
        scaler.transform(np.full((1, 3), 1 / 3))


# --- small gold: a prior on log T, bounded outputs ----------------------------------------------


def test_a_few_right_gold_rows_move_the_temperature_only_so_far() -> None:
    # Five gold rows, all right: the likelihood keeps falling as T -> 0.
    logits, _ = calibrated_set(n=5, seed=4)
    probs = softmax(logits)
    gold = probs.argmax(axis=1)
    plain = TemperatureScaler(prior_scale=None).fit(probs, gold)
    assert plain.temperature_ == pytest.approx(0.05, rel=1e-3)
    assert np.median(plain.transform(probs).max(axis=1)) > 0.9999  # as sure as can be
    scaler = TemperatureScaler().fit(probs, gold)
    assert 0.4 < scaler.temperature_ < 1.0
    assert scaler.mle_temperature_ == pytest.approx(0.05, rel=1e-3)
    assert scaler.n_rows_ == 5
    assert scaler.transform(probs).max() < 0.999


def test_the_prior_fades_as_gold_grows() -> None:
    logits, labels = calibrated_set()
    sharpened = softmax(2.0 * logits)
    with_prior = TemperatureScaler().fit(sharpened, labels)
    plain = TemperatureScaler(prior_scale=None).fit(sharpened, labels)
    assert with_prior.temperature_ == pytest.approx(plain.temperature_, rel=0.01)
    assert with_prior.mle_temperature_ == pytest.approx(plain.temperature_)


def test_calibrated_probabilities_never_reach_one_even_in_float32() -> None:
    hard = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    scaler = TemperatureScaler().fit(hard, np.array([0, 1, 0]))
    out = scaler.transform(hard)
    assert out.max() <= MAX_CONFIDENCE
    assert (out.astype(np.float32) < 1.0).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out.argmax(axis=1), [0, 1, 0])


def test_prior_scale_must_be_positive() -> None:
    probs = np.array([[0.6, 0.4], [0.3, 0.7]])
    with pytest.raises(ValueError, match="prior_scale"):
        TemperatureScaler(prior_scale=0.0).fit(probs, np.array([0, 1]))


def test_small_gold_warning_names_the_count() -> None:
    assert small_gold_warning("fake", MIN_GOLD_ROWS) is None
    warning = small_gold_warning("fake", 7)
    assert warning is not None
    assert warning.startswith(
        f"calibration of 'fake' rests on 7 gold row(s), fewer than {MIN_GOLD_ROWS}"
    )
