from __future__ import annotations

import numpy as np
import pytest

from zslabel.calibration import PriorTemperatureScaler, TemperatureScaler
from zslabel.combine import fit_combiner, independent_vote, weighted_mean


def test_weighted_mean_skips_sources_that_abstained() -> None:
    a = np.array([[0.8, 0.2], [np.nan, np.nan], [np.nan, np.nan]])
    b = np.array([[0.2, 0.8], [0.3, 0.7], [np.nan, np.nan]])
    combined = weighted_mean([a, b], [3.0, 1.0])
    np.testing.assert_allclose(combined[0], [0.65, 0.35])
    np.testing.assert_allclose(combined[1], [0.3, 0.7])
    assert np.isnan(combined[2]).all()


def test_one_source_passes_through() -> None:
    a = np.array([[0.8, 0.2]])
    assert weighted_mean([a], [2.0]) is a


def test_single_keeps_only_the_decider_after_calibration() -> None:
    a = np.array([[0.9, 0.1], [0.2, 0.8]])
    b = np.array([[0.1, 0.9], [0.5, 0.5]])
    combiner = fit_combiner(
        "single", [1.0, 1.0], lambda: np.stack([a, b], 1), [None, None], decider=1
    )
    np.testing.assert_allclose(combiner([a, b]), b)
    assert combiner.describe()["decider"] == 1


def test_independent_vote_counts_the_sources_that_assign_each_label() -> None:
    a = np.array([[0.9, 0.2, np.nan]])
    b = np.array([[0.6, 0.7, np.nan]])
    c = np.array([[0.1, np.nan, np.nan]])
    np.testing.assert_allclose(independent_vote([a, b, c], [1.0, 1.0, 2.0]), [[0.5, 0.5, np.nan]])


def test_weighted_mean_is_cell_by_cell_for_partially_scored_rows() -> None:
    a = np.array([[0.8, np.nan]])  # a multi-label source abstaining on label 1
    b = np.array([[0.4, 0.3]])
    np.testing.assert_allclose(weighted_mean([a, b], [1.0, 1.0]), [[0.6, 0.3]])


def test_a_prior_makes_every_source_as_sure_as_the_prior_on_average() -> None:
    rng = np.random.default_rng(0)
    soft = rng.dirichlet([1.0, 1.0, 1.0], size=200)
    rules = np.full((200, 3), np.nan)
    rules[:50] = np.eye(3)[rng.integers(0, 3, 50)]  # hard votes on a quarter of the rows
    sample = np.stack([soft, rules], axis=1)
    combiner = fit_combiner("mean", [1.0, 1.0], lambda: sample, [None, None], prior_accuracy=0.7)
    for raw, probs in zip([soft, rules], combiner.calibrate([soft, rules]), strict=True):
        scored = ~np.isnan(raw).any(axis=1)
        assert probs[scored].max(axis=1).mean() == pytest.approx(0.7, abs=1e-3)
        np.testing.assert_array_equal(probs[scored].argmax(axis=1), raw[scored].argmax(axis=1))
        assert np.isnan(probs[~scored]).all()
    described = combiner.describe()
    assert described["prior_accuracy"] == 0.7
    assert [t is not None for t in described["prior_temperatures"]] == [True, True]
    # A hard vote is softened (T > 1), and the rule no longer overrules the soft source alone.
    assert described["prior_temperatures"][1]["temperature"] > 1
    raw_mean = fit_combiner("mean", [1.0, 1.0], lambda: sample, [None, None])
    assert "prior_temperatures" not in raw_mean.describe()


def test_gold_calibrated_sources_keep_their_temperature_and_single_gets_no_prior() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.dirichlet([1.0, 1.0], size=(2, 50))
    gold = TemperatureScaler().fit(a, rng.integers(0, 2, 50))
    sample = np.stack([a, b], axis=1)
    combiner = fit_combiner("mean", [1.0, 1.0], lambda: sample, [gold, None], prior_accuracy=0.7)
    assert combiner.calibrators[0] is gold
    assert isinstance(combiner.calibrators[1], PriorTemperatureScaler)
    single = fit_combiner("single", [1.0, 1.0], lambda: sample, [None, None], prior_accuracy=0.7)
    assert single.calibrators == (None, None)
