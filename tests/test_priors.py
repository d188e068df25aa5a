"""The class-distribution estimate (zslabel.priors) and the student's class weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zslabel import priors
from zslabel.student.head import LogisticHead, class_weights


def prior_free_posteriors(shares: list[float], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows drawn with class ``shares`` from 1-d Gaussians (means 0, 2, 4, ... sd 1.5) and the
    posteriors of a classifier that assumes equal classes, as a zero-shot teacher does."""
    rng = np.random.default_rng(seed)
    k = len(shares)
    labels = rng.choice(k, size=n, p=shares)
    x = rng.normal(2.0 * labels, 1.5)
    logits = -((x[:, None] - 2.0 * np.arange(k)[None, :]) ** 2) / (2 * 1.5**2)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True), labels


def test_em_recovers_an_imbalanced_two_class_distribution_that_argmax_shares_miss() -> None:
    probs, _ = prior_free_posteriors([0.8, 0.2], 20_000, seed=0)
    estimate = priors.estimate(probs)
    assert estimate.shrinkage == 1.0  # two classes: taken as it is
    assert abs(estimate.estimated[0] - 0.8) < 0.02
    assert estimate.predicted[0] < 0.75  # the teacher's argmax shares are pulled to the middle
    assert abs(estimate.mean_probability[0] - 0.8) > abs(estimate.estimated[0] - 0.8)


def test_the_estimate_is_shrunk_towards_uniform_by_one_over_k_minus_one() -> None:
    probs, _ = prior_free_posteriors([0.55, 0.25, 0.15, 0.05], 20_000, seed=1)
    estimate = priors.estimate(probs)
    assert estimate.shrinkage == pytest.approx(1 / 3)
    np.testing.assert_allclose(estimate.estimated, (2 / 3) * 0.25 + (1 / 3) * estimate.em)
    assert estimate.em[0] > estimate.estimated[0] > 0.25


def test_rows_without_scores_are_left_out_and_none_gives_uniform() -> None:
    probs, _ = prior_free_posteriors([0.8, 0.2], 2_000, seed=2)
    with_gaps = np.vstack([probs, np.full((500, 2), np.nan)])
    assert priors.estimate(with_gaps).rows == 2_000
    np.testing.assert_allclose(priors.estimate(with_gaps).em, priors.estimate(probs).em)
    empty = priors.estimate(np.full((3, 4), np.nan))
    assert empty.rows == 0
    np.testing.assert_allclose(empty.estimated, 0.25)
    with pytest.raises(ValueError, match="at least 2 classes"):
        priors.estimate(np.ones((3, 1)))


def test_the_estimate_is_reported_per_label() -> None:
    probs, _ = prior_free_posteriors([0.8, 0.2], 1_000, seed=3)
    record = priors.estimate(probs).as_dict(["neg", "pos"])
    assert set(record["estimated"]) == {"neg", "pos"}
    assert sum(record["estimated"].values()) == pytest.approx(1.0, abs=1e-3)
    assert "Saerens" in record["method"]


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 40), min_size=2, max_size=6).filter(
        lambda c: sum(1 for x in c if x) >= 2
    ),
    raw_prior=st.lists(st.floats(0.01, 1.0), min_size=6, max_size=6),
)
def test_estimated_weights_give_the_weighted_rows_the_prior_shares(
    counts: list[int], raw_prior: list[float]
) -> None:
    k = len(counts)
    labels = np.repeat(np.arange(k), counts)
    prior = np.asarray(raw_prior[:k]) / sum(raw_prior[:k])
    weights = class_weights(labels, k, "estimated", prior)
    present = np.asarray(counts) > 0
    mass = weights * np.asarray(counts)
    assert np.all(weights[~present] == 0)
    np.testing.assert_allclose(mass.sum(), len(labels))
    np.testing.assert_allclose(mass[present] / mass.sum(), prior[present] / prior[present].sum())
    uniform = class_weights(labels, k, "estimated", np.full(k, 1 / k))
    np.testing.assert_allclose(uniform, class_weights(labels, k, "balanced"))
    assert set(class_weights(labels, k, "none")[present]) == {1.0}


def test_estimated_weights_need_a_prior_of_every_class() -> None:
    with pytest.raises(ValueError, match="needs a prior of 3 shares"):
        class_weights(np.array([0, 1, 2]), 3, "estimated", np.array([0.5, 0.5]))


def test_a_head_weighted_to_the_estimated_distribution_predicts_the_majority_more() -> None:
    # Noisy pseudo-labels drawn from a prior-free teacher on an 80/20 set are nearer half and
    # half; a balanced head keeps them so, the estimated one leans to the majority as the data.
    probs, truth = prior_free_posteriors([0.8, 0.2], 4_000, seed=4)
    rng = np.random.default_rng(5)
    pseudo = (rng.random(len(probs)) < probs[:, 1]).astype(np.int64)
    features = np.log(probs[:, 1:] / probs[:, :1])
    prior = priors.estimate(probs).estimated
    balanced = LogisticHead(2, c=10.0).fit(features, pseudo).predict(features)
    weighted = LogisticHead(2, c=10.0, class_weight="estimated", class_prior=prior)
    estimated = weighted.fit(features, pseudo).predict(features)
    assert (estimated == 0).mean() > (balanced == 0).mean() + 0.05
    assert (estimated == truth).mean() > (balanced == truth).mean() + 0.02
