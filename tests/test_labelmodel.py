from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zslabel.labelmodel import (
    DawidSkene,
    NotFittedError,
    majority_vote,
    min_votes,
    voting_sources,
)

NAN = np.nan


def make_sources(
    n: int = 5000,
    accuracies: tuple[float, ...] = (0.9, 0.7, 0.55),
    prior: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1),
    abstain: float = 0.2,
    peak: float = 0.97,
    noise: tuple[int, ...] = (),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, S, k) soft source outputs and the true labels.

    Source s votes the true class with probability accuracies[s] (else a uniformly chosen wrong
    class), or a uniformly random class if s is in ``noise``; its output puts ``peak`` on the vote
    and spreads the rest evenly. Each source abstains on a random ``abstain`` fraction of rows.
    """
    rng = np.random.default_rng(seed)
    k = len(prior)
    y = rng.choice(k, size=n, p=prior)
    out = np.empty((n, len(accuracies), k))
    for s, accuracy in enumerate(accuracies):
        if s in noise:
            vote = rng.integers(0, k, n)
        else:
            wrong = (y + rng.integers(1, k, n)) % k
            vote = np.where(rng.random(n) < accuracy, y, wrong)
        p = np.full((n, k), (1 - peak) / (k - 1))
        p[np.arange(n), vote] = peak
        p[rng.random(n) < abstain] = NAN
        out[:, s] = p
    return out, y


def accuracy_on(probs: np.ndarray, y: np.ndarray) -> float:
    scored = ~np.isnan(probs).any(axis=1)
    return float((probs[scored].argmax(axis=1) == y[scored]).mean())


# --- majority_vote ------------------------------------------------------------------------------


def test_majority_vote_casts_weights_for_top_classes() -> None:
    a = np.array([[0.8, 0.2, 0.0], [0.1, 0.2, 0.7]])
    b = np.array([[0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    c = np.array([[0.5, 0.4, 0.1], [0.6, 0.3, 0.1]])
    votes = majority_vote([a, b, c], [1.0, 2.0, 1.0])
    np.testing.assert_allclose(votes, [[0.5, 0.5, 0.0], [0.25, 0.0, 0.75]])


def test_majority_vote_ties_go_to_the_lowest_index() -> None:
    a = np.array([[0.4, 0.4, 0.2]])
    np.testing.assert_array_equal(majority_vote([a], [1.0]), [[1.0, 0.0, 0.0]])


def test_majority_vote_skips_abstains_and_gives_nan_where_nobody_scored() -> None:
    a = np.array([[0.9, 0.1], [NAN, NAN], [NAN, NAN], [0.2, 0.8]])
    b = np.array([[0.3, 0.7], [0.4, 0.6], [NAN, NAN], [NAN, NAN]])
    votes = majority_vote([a, b], [3.0, 1.0])
    np.testing.assert_allclose(votes[0], [0.75, 0.25])
    np.testing.assert_allclose(votes[1], [0.0, 1.0])
    assert np.isnan(votes[2]).all()
    np.testing.assert_allclose(votes[3], [0.0, 1.0])


def test_majority_vote_validates_shapes_and_weights() -> None:
    a = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="at least one source"):
        majority_vote([], [])
    with pytest.raises(ValueError, match="shape"):
        majority_vote([a, np.full((3, 3), 0.3)], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"\(n, k\)"):
        majority_vote([np.full(3, 0.5)], [1.0])
    with pytest.raises(ValueError, match="weights"):
        majority_vote([a, a], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        majority_vote([a, a], [1.0, -1.0])


def source_lists() -> st.SearchStrategy[tuple[list[np.ndarray], list[float]]]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[list[np.ndarray], list[float]]:
        n = draw(st.integers(1, 30))
        k = draw(st.integers(2, 5))
        n_sources = draw(st.integers(1, 4))
        probs = []
        for _ in range(n_sources):
            raw = draw(arrays(np.float64, (n, k), elements=st.floats(0.0, 1.0)))
            raw[draw(arrays(np.bool_, n))] = NAN
            probs.append(raw)
        weights = draw(st.lists(st.floats(0.1, 10.0), min_size=n_sources, max_size=n_sources))
        return probs, weights

    return build()


@settings(max_examples=60, deadline=None)
@given(source_lists())
def test_majority_vote_rows_sum_to_one_or_are_nan(
    case: tuple[list[np.ndarray], list[float]],
) -> None:
    probs, weights = case
    votes = majority_vote(probs, weights)
    scored_by_any = np.any([~np.isnan(p).any(axis=1) for p in probs], axis=0)
    assert votes.shape == probs[0].shape
    assert np.isnan(votes[~scored_by_any]).all()
    np.testing.assert_allclose(votes[scored_by_any].sum(axis=1), 1.0)
    assert (votes[scored_by_any] >= 0).all()


# --- DawidSkene ---------------------------------------------------------------------------------


def test_dawid_skene_recovers_source_accuracies_and_beats_the_baselines() -> None:
    x, y = make_sources()
    model = DawidSkene().fit(x)
    assert model.converged_
    np.testing.assert_allclose(model.source_accuracy_, [0.9, 0.7, 0.55], atol=0.05)
    np.testing.assert_allclose(model.class_prior_, [0.4, 0.3, 0.2, 0.1], atol=0.03)
    post = model.predict_proba(x)
    votes = majority_vote(list(x.transpose(1, 0, 2)), [1.0, 1.0, 1.0])
    assert accuracy_on(post, y) >= accuracy_on(votes, y)
    for s in range(x.shape[1]):
        # On the rows each source scored, the posterior is at least as accurate as it.
        rows = ~np.isnan(x[:, s]).any(axis=1)
        assert accuracy_on(post[rows], y[rows]) >= accuracy_on(x[rows, s], y[rows])


def test_dawid_skene_finds_a_noise_source_near_chance() -> None:
    x, _ = make_sources(accuracies=(0.9, 0.8, 0.7, 0.0), noise=(3,), seed=1)
    model = DawidSkene().fit(x)
    assert model.source_accuracy_[3] == pytest.approx(0.25, abs=0.03)
    assert (model.source_accuracy_[:3] > 0.6).all()


def test_dawid_skene_attributes_and_shapes() -> None:
    x, _ = make_sources(n=400)
    model = DawidSkene(max_iter=50)
    assert model.fit(x) is model
    n, n_sources, k = x.shape
    assert model.class_prior_.shape == (k,)
    assert model.confusion_.shape == (n_sources, k, k)
    assert model.source_accuracy_.shape == (n_sources,)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0)
    assert model.class_prior_.sum() == pytest.approx(1.0)
    assert 1 <= model.n_iter_ <= 50
    assert isinstance(model.converged_, bool)
    assert np.isfinite(model.log_likelihood_)
    assert model.predict(x).shape == (n,)


def test_dawid_skene_gives_nan_where_every_source_abstained() -> None:
    x, _ = make_sources(n=300)
    x[:5] = NAN
    none_scored = np.isnan(x).any(axis=2).all(axis=1)
    model = DawidSkene().fit(x)
    post = model.predict_proba(x)
    assert np.isnan(post[none_scored]).all()
    np.testing.assert_allclose(post[~none_scored].sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(x) == -1, none_scored)


def test_dawid_skene_is_deterministic() -> None:
    x, _ = make_sources(n=1000, seed=3)
    a, b = DawidSkene().fit(x), DawidSkene().fit(x.copy())
    np.testing.assert_array_equal(a.confusion_, b.confusion_)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert a.n_iter_ == b.n_iter_


def test_dawid_skene_reduces_to_classic_on_one_hot_votes() -> None:
    # Two sources agree on every row; the third always says class 0: it is judged unreliable.
    x = np.zeros((60, 3, 2))
    y = np.arange(60) % 2
    x[np.arange(60), 0, y] = 1.0
    x[np.arange(60), 1, y] = 1.0
    x[:, 2, 0] = 1.0
    model = DawidSkene().fit(x)
    assert (model.predict(x) == y).all()
    assert model.source_accuracy_[0] > 0.95
    assert model.source_accuracy_[2] == pytest.approx(0.5, abs=0.05)


def test_dawid_skene_unfitted_and_shape_errors() -> None:
    x, _ = make_sources(n=100)
    with pytest.raises(NotFittedError, match="fit"):
        DawidSkene().predict_proba(x)
    assert issubclass(NotFittedError, ValueError)
    with pytest.raises(ValueError, match=r"\(n, sources, classes\)"):
        DawidSkene().fit(x[:, 0])
    with pytest.raises(ValueError, match="2 classes"):
        DawidSkene().fit(x[:, :, :1])
    with pytest.raises(ValueError, match="no row"):
        DawidSkene().fit(np.full((4, 2, 3), NAN))
    with pytest.raises(ValueError, match="non-negative"):
        DawidSkene().fit(-x)
    with pytest.raises(ValueError, match="smoothing"):
        DawidSkene(smoothing=0.0).fit(x)
    with pytest.raises(ValueError, match="max_iter"):
        DawidSkene(max_iter=0).fit(x)
    model = DawidSkene().fit(x)
    with pytest.raises(ValueError, match="fitted on 3 sources"):
        model.predict_proba(x[:, :2])


def test_dawid_skene_init_stores_parameters_only() -> None:
    model = DawidSkene(max_iter=7, tol=1e-3, smoothing=0.5, min_sources=2)
    assert vars(model) == {"max_iter": 7, "tol": 1e-3, "smoothing": 0.5, "min_sources": 2}


def stacked_probs() -> st.SearchStrategy[np.ndarray]:
    @st.composite
    def build(draw: st.DrawFn) -> np.ndarray:
        n = draw(st.integers(1, 25))
        n_sources = draw(st.integers(1, 4))
        k = draw(st.integers(2, 4))
        raw = draw(arrays(np.float64, (n, n_sources, k), elements=st.floats(0.01, 1.0)))
        raw /= raw.sum(axis=2, keepdims=True)
        raw[draw(arrays(np.bool_, (n, n_sources)))] = NAN
        raw[0, 0] = 1.0 / k  # at least one scored row, so fit has something to fit
        return raw

    return build()


@settings(max_examples=40, deadline=None)
@given(stacked_probs())
def test_dawid_skene_posteriors_are_distributions(x: np.ndarray) -> None:
    # min_sources=1: EM itself, on inputs far too small to pass the identifiability check.
    model = DawidSkene(max_iter=20, min_sources=1).fit(x)
    post = model.predict_proba(x)
    assert post.shape == (x.shape[0], x.shape[2])
    scored_by_any = (~np.isnan(x).any(axis=2)).any(axis=1)
    assert np.isnan(post[~scored_by_any]).all()
    assert np.isfinite(post[scored_by_any]).all()
    np.testing.assert_allclose(post[scored_by_any].sum(axis=1), 1.0)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0)
    assert ((model.source_accuracy_ >= 0) & (model.source_accuracy_ <= 1)).all()


@settings(max_examples=25, deadline=None)
@given(stacked_probs())
def test_dawid_skene_does_not_depend_on_source_order(x: np.ndarray) -> None:
    order = np.arange(x.shape[1])[::-1]
    a = DawidSkene(max_iter=20, min_sources=1).fit(x)
    b = DawidSkene(max_iter=20, min_sources=1).fit(x[:, order])
    np.testing.assert_allclose(a.predict_proba(x), b.predict_proba(x[:, order]), atol=1e-9)
    np.testing.assert_allclose(a.source_accuracy_[order], b.source_accuracy_, atol=1e-9)


# --- backing off when too few sources vote --------------------------------------------------------


def test_min_votes_is_ten_rows_per_class_or_one_percent() -> None:
    assert min_votes(200, 3) == 30
    assert min_votes(100_000, 3) == 1000
    assert min_votes(5000, 77) == 770


def test_dawid_skene_backs_off_to_the_mean_with_two_sources() -> None:
    x, _ = make_sources(n=2000, accuracies=(0.9, 0.7))
    model = DawidSkene().fit(x)
    assert model.fallback_ == "mean"
    assert (model.n_iter_, model.converged_) == (0, False)
    assert model.voting_.tolist() == [True, True]
    scored = ~np.isnan(x).any(axis=2)
    mean = np.nansum(x, axis=1) / scored.sum(axis=1, keepdims=True).clip(1)
    some = scored.any(axis=1)
    np.testing.assert_allclose(model.predict_proba(x)[some], mean[some])
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0)


def test_a_source_that_votes_on_too_few_rows_does_not_identify_the_model() -> None:
    x, _ = make_sources(n=5000, abstain=0.0)
    assert DawidSkene().fit(x).fallback_ is None
    sparse = x.copy()
    sparse[45:, 2] = NAN  # 45 votes: more than 10 per class (40), under 1 % of 5000 (50)
    assert voting_sources(sparse).tolist() == [True, True, False]
    model = DawidSkene().fit(sparse)
    assert model.fallback_ == "mean"
    assert model.votes_.tolist() == [5000, 5000, 45]
    assert DawidSkene(min_sources=2).fit(sparse).fallback_ is None
