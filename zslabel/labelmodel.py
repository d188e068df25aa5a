"""Label models: turn several sources' per-row class probabilities into one, without gold.

Arrays in, arrays out. A source that abstains on a row has a NaN row (a row with any NaN counts as
abstained, as in :mod:`zslabel.combine`).

``majority_vote`` is the simple baseline: each scoring source casts its weight for its top class.
``DawidSkene`` learns, by EM, how reliable each source is per class (a confusion matrix per source)
and the class prior, and returns posteriors that trust the reliable sources more. With fewer than
three sources voting on enough rows it backs off to their mean (see ``voting_sources``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from zslabel.errors import ZslabelError

_TINY = 1e-300
# A latent class model is identifiable from three conditionally independent sources, not from
# two (Kruskal 1977; Allman, Matias & Rhodes 2009): with one or two, EM fits the class prior and
# confusions to whatever it starts from and can relabel a lone source's rows. Snorkel's
# LabelModel refuses fewer than 3 labeling functions for the same reason.
MIN_SOURCES = 3
# A source counts as voting when it scored at least this many rows per class (each row of its
# k x k confusion matrix then rests on about 10 votes against the pseudo-count) ...
MIN_VOTES_PER_CLASS = 10
# ... and at least this share of the rows: three-way agreement is what identifies the model,
# and a source that is almost never there leaves the rest to two.
MIN_VOTE_SHARE = 0.01


class NotFittedError(ZslabelError, ValueError):
    """An estimator was used before ``fit`` was called."""


def majority_vote(probs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted vote shares over the sources that scored each row; NaN where none did.

    Each source that scored a row casts its weight for its top class (a tie goes to the lowest
    class index). Returns an (n, k) array whose scored rows sum to 1. Rows where every scoring
    source has weight 0 are NaN too.
    """
    if len(probs) == 0:
        raise ValueError("majority_vote needs at least one source")
    arrays = [np.asarray(p, dtype=np.float64) for p in probs]
    shape = arrays[0].shape
    if len(shape) != 2 or shape[1] < 1:
        raise ValueError(f"each source's probabilities must be an (n, k) array, got {shape}")
    for s, a in enumerate(arrays):
        if a.shape != shape:
            raise ValueError(f"source {s} has shape {a.shape}, expected {shape} like source 0")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(arrays),):
        raise ValueError(f"expected {len(arrays)} weights (one per source), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be finite and non-negative, got {w.tolist()}")
    return _compute_majority_vote(np.stack(arrays, axis=1), w)


def _compute_majority_vote(stacked: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``stacked`` is (n, S, k); ``weights`` is (S,)."""
    n, _, k = stacked.shape
    scored = ~np.isnan(stacked).any(axis=2)  # (n, S)
    top = np.argmax(np.nan_to_num(stacked, nan=-np.inf), axis=2)  # first max: lowest index
    votes = np.zeros((n, k))
    cast = weights[None, :] * scored  # (n, S)
    rows = np.broadcast_to(np.arange(n)[:, None], top.shape)
    np.add.at(votes, (rows.ravel(), top.ravel()), cast.ravel())
    total = votes.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, votes / total, np.nan)


def voting_sources(x: np.ndarray) -> np.ndarray:
    """(S,) bool: the sources of an (n, S, k) array that vote on enough rows to help identify a
    label model, at least ``min_votes(n, k)`` rows each."""
    arr = _validate_stacked(x)
    votes = (~np.isnan(arr).any(axis=2)).sum(axis=0)
    voting: np.ndarray = votes >= min_votes(arr.shape[0], arr.shape[2])
    return voting


def min_votes(n: int, k: int) -> int:
    """Rows a source must score, of n with k classes, to count as voting: MIN_VOTES_PER_CLASS * k
    and MIN_VOTE_SHARE of n, whichever is more."""
    return max(MIN_VOTES_PER_CLASS * k, math.ceil(MIN_VOTE_SHARE * n))


def _validate_stacked(x: np.ndarray, what: str = "X") -> np.ndarray:
    """Check an (n, S, k) array of per-source probabilities; return it as float64."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(f"{what} must be an (n, sources, classes) array, got shape {arr.shape}")
    if arr.shape[1] < 1 or arr.shape[2] < 2:
        raise ValueError(f"{what} needs at least 1 source and 2 classes, got shape {arr.shape}")
    scored = ~np.isnan(arr).any(axis=2)
    values = arr[scored]
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"{what}: scored rows must hold finite, non-negative probabilities")
    if (values.sum(axis=1) <= 0).any():
        raise ValueError(f"{what}: a scored row sums to 0; use a NaN row for an abstain")
    return arr


class DawidSkene:
    """Dawid-Skene EM label model over soft scores.

    Estimates, without gold, each source's confusion matrix ``confusion_[s, i, j]`` =
    P(source s says j | true class i) and the class prior, treating each source's probability
    vector as soft evidence: the likelihood of true class i under source s on row r is
    ``sum_j P[r, s, j] * confusion_[s, i, j]``. Each scored row is renormalised to sum to 1 first.

    The label j a source reports is latent, with its soft vector as likelihood; the M-step uses its
    expected counts given the current confusion (exact EM, monotone in the likelihood; classic
    Dawid-Skene for one-hot outputs). Only the first M-step, from the initial posterior (the
    sources' abstain-aware mean), counts soft vectors as fractional votes. Counting them that way
    at every step blurs the evidence twice and drifts towards flat confusions.

    Parameters
    ----------
    max_iter:
        Most EM iterations.
    tol:
        Stop when the largest absolute change of any posterior, or the change of the mean per-row
        log-likelihood, falls to ``tol`` or below.
    smoothing:
        Pseudo-count added to every confusion cell and to every class of the prior.
    min_sources:
        Fewest voting sources (``voting_sources``: each scored at least ``min_votes(n, k)`` of
        the n rows) to fit the model; with fewer, the model is not identifiable and ``fit``
        backs off: ``fallback_`` is ``"mean"`` and ``predict_proba`` gives the sources'
        abstain-aware mean, so one source's labels come back unchanged. 1 always runs EM.

    Attributes
    ----------
    class_prior_ : (k,) estimated class prior.
    confusion_ : (S, k, k) estimated confusion matrices, rows sum to 1.
    source_accuracy_ : (S,) ``sum_i class_prior_[i] * confusion_[s, i, i]``: how often the
        source's reported label is the true class. With soft outputs that are far from one-hot it
        runs high (their spread is read as observation noise, not as source error).
    n_iter_ : EM iterations run.
    converged_ : whether ``tol`` was reached within ``max_iter``.
    log_likelihood_ : total log-likelihood of the training rows at the end.
    n_sources_, n_classes_ : the shape fitted on.
    votes_ : (S,) rows each source scored; voting_ : (S,) whether that reached ``min_votes``.
    fallback_ : None when EM ran; ``"mean"`` when too few sources voted. Then ``class_prior_``
        and ``confusion_`` describe the sources against their mean (one M-step, no EM),
        ``n_iter_`` is 0 and ``converged_`` False.
    """

    def __init__(
        self,
        max_iter: int = 100,
        tol: float = 1e-5,
        smoothing: float = 0.01,
        min_sources: int = MIN_SOURCES,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.min_sources = min_sources

    def fit(self, X: np.ndarray) -> DawidSkene:
        """Fit on an (n, S, k) array of per-source probabilities (NaN rows where a source
        abstained). Deterministic."""
        if not (isinstance(self.max_iter, int | np.integer) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        if not (np.isfinite(self.smoothing) and self.smoothing > 0):
            raise ValueError(f"smoothing must be finite and > 0, got {self.smoothing!r}")
        if not (isinstance(self.min_sources, int | np.integer) and self.min_sources >= 1):
            raise ValueError(f"min_sources must be an integer >= 1, got {self.min_sources!r}")
        arr = _validate_stacked(X)
        p, scored = _prepare(arr)
        any_scored = scored.any(axis=0)
        if not any_scored.any():
            raise ValueError("X has no row that any source scored; nothing to fit")
        self.votes_ = scored.sum(axis=1)
        self.voting_ = self.votes_ >= min_votes(arr.shape[0], arr.shape[2])
        self.fallback_: str | None = (
            "mean" if int(self.voting_.sum()) < int(self.min_sources) else None
        )
        p, scored = p[:, any_scored], scored[:, any_scored]
        post = _compute_initial_posterior(p, scored)
        smoothing = float(self.smoothing)
        # The first M-step counts the soft vectors as fractional votes; later ones are exact EM.
        prior, confusion = _compute_m_step(p, post, smoothing)
        if self.fallback_ is None:
            prior, confusion, ll, n_iter, converged = _compute_em(
                p, scored, post, prior, confusion, smoothing, int(self.max_iter), self.tol
            )
        else:
            _, ll, _ = _compute_e_step(p, scored, prior, confusion)
            n_iter, converged = 0, False
        self.class_prior_ = prior
        self.confusion_ = confusion
        self.source_accuracy_ = np.einsum("i,sii->s", prior, confusion)
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.log_likelihood_ = float(ll)
        self.n_sources_ = arr.shape[1]
        self.n_classes_ = arr.shape[2]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, k) posteriors over the true class; NaN rows where every source abstained."""
        self._check_fitted()
        arr = _validate_stacked(X)
        if arr.shape[1:] != (self.n_sources_, self.n_classes_):
            raise ValueError(
                f"X has {arr.shape[1]} sources and {arr.shape[2]} classes, but the model was "
                f"fitted on {self.n_sources_} sources and {self.n_classes_} classes"
            )
        p, scored = _prepare(arr)
        any_scored = scored.any(axis=0)
        out = np.full((arr.shape[0], self.n_classes_), np.nan)
        if not any_scored.any():
            return out
        p, scored = p[:, any_scored], scored[:, any_scored]
        if self.fallback_ is not None:
            out[any_scored] = _compute_initial_posterior(p, scored)
        else:
            out[any_scored], _, _ = _compute_e_step(p, scored, self.class_prior_, self.confusion_)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable class per row (ties to the lowest index); -1 where all abstained."""
        post = self.predict_proba(X)
        label = np.full(post.shape[0], -1, dtype=np.int64)
        ok = ~np.isnan(post).any(axis=1)
        label[ok] = np.argmax(post[ok], axis=1)
        return label

    def fit_predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).predict_proba(X)

    def _check_fitted(self) -> None:
        if not hasattr(self, "confusion_"):
            raise NotFittedError("this DawidSkene is not fitted yet; call fit first")


def _prepare(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From (n, S, k): probabilities in source-major layout (S, n, k), abstained rows zero and
    scored rows summing to 1, and the scored mask (S, n)."""
    scored = ~np.isnan(arr).any(axis=2).T
    p = np.where(scored[:, :, None], arr.transpose(1, 0, 2), 0.0)
    total = p.sum(axis=2, keepdims=True)
    p = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
    return np.ascontiguousarray(p), scored


def _compute_initial_posterior(p: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Abstain-aware unweighted mean of the sources; every row has at least one scoring source."""
    mean: np.ndarray = p.sum(axis=0) / scored.sum(axis=0)[:, None]
    return mean


def _compute_em(
    p: np.ndarray,
    scored: np.ndarray,
    post: np.ndarray,
    prior: np.ndarray,
    confusion: np.ndarray,
    smoothing: float,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, float, int, bool]:
    """EM from the first M-step's prior and confusion: the final prior, confusion, total
    log-likelihood, iterations run and whether ``tol`` was reached."""
    evidence: np.ndarray | None = None
    ll = mean_ll = -np.inf
    n_iter = 0
    for iteration in range(1, max_iter + 1):
        n_iter = iteration
        if evidence is not None:
            prior, confusion = _compute_m_step(p, post, smoothing, confusion, evidence)
        new_post, ll, evidence = _compute_e_step(p, scored, prior, confusion)
        new_mean_ll = ll / len(new_post)
        change = float(np.max(np.abs(new_post - post)))
        post, previous_mean_ll, mean_ll = new_post, mean_ll, new_mean_ll
        if change <= tol or abs(mean_ll - previous_mean_ll) <= tol:
            return prior, confusion, float(ll), n_iter, True
    return prior, confusion, float(ll), n_iter, False


def _compute_m_step(
    p: np.ndarray,
    post: np.ndarray,
    smoothing: float,
    confusion: np.ndarray | None = None,
    evidence: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Prior (k,) and confusion matrices (S, k, k) from the posterior (n, k).

    Without a current ``confusion`` (the first step), a source's soft vector counts as fractional
    votes: counts[s, i, j] = sum_r post[r, i] * p[s, r, j]. With one (and the ``evidence`` the
    E-step computed from it), the label j a source reports is a latent variable whose likelihood
    is the source's soft vector, and the counts are its expectation: p(i, j | r) = post[r, i] *
    p[s, r, j] * confusion[s, i, j] / evidence[s, r, i]. This is exact EM for the E-step's model
    and reduces to classic Dawid-Skene for one-hot outputs. Abstained rows of p are zero, so they
    add nothing.
    """
    if confusion is None or evidence is None:
        counts = post.T[None, :, :] @ p
    else:
        resp = post[None, :, :] / np.maximum(evidence, _TINY)  # (S, n, k)
        counts = confusion * (resp.transpose(0, 2, 1) @ p)
    counts += smoothing
    confusion = counts / counts.sum(axis=2, keepdims=True)
    prior = post.sum(axis=0) + smoothing
    return prior / prior.sum(), confusion


def _compute_e_step(
    p: np.ndarray, scored: np.ndarray, prior: np.ndarray, confusion: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Posterior (n, k), total log-likelihood and the evidence (S, n, k) each source gives each
    class (1 where it abstained); every row has at least one scoring source."""
    evidence = p @ confusion.transpose(0, 2, 1)
    evidence[~scored] = 1.0
    log_joint = np.log(prior)[None, :] + np.log(np.maximum(evidence, _TINY)).sum(axis=0)
    top = log_joint.max(axis=1, keepdims=True)
    log_norm = top + np.log(np.exp(log_joint - top).sum(axis=1, keepdims=True))
    return np.exp(log_joint - log_norm), float(log_norm.sum()), evidence
