"""A linear classification head over sentence embeddings: the default student.

``LogisticHead`` fits scikit-learn's multinomial logistic regression and keeps only its weights,
so that a saved student is two plain arrays (no pickle: loading a model never runs code) and
prediction needs numpy alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from zslabel.errors import InputError
from zslabel.labelmodel import NotFittedError

HEAD_FILE = "head.npz"

ClassWeight = Literal["balanced", "estimated", "none"]


def class_weights(
    labels: np.ndarray,
    n_classes: int,
    how: ClassWeight,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """(n_classes,) weights of each class's training rows, 0 for a class without rows.

    ``balanced`` is scikit-learn's ``n / (classes present * count)``; ``estimated`` is
    ``n * prior / count``, renormalised over the classes present, so that the weighted rows have
    the shares ``prior`` (with a uniform prior it is ``balanced``); ``none`` is 1.

    Raises ValueError for ``estimated`` without a (n_classes,) prior.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    present = counts > 0
    weights = np.zeros(n_classes)
    if how == "none":
        weights[present] = 1.0
        return weights
    if how == "balanced":
        target = np.full(n_classes, 1.0)
    else:
        if prior is None or np.shape(prior) != (n_classes,):
            raise ValueError(f"class_weight 'estimated' needs a prior of {n_classes} shares")
        target = np.asarray(prior, dtype=np.float64)
    target = np.where(present, target, 0.0)
    target = target / target.sum()
    weights[present] = len(labels) * target[present] / counts[present]
    return weights


class LogisticHead:
    """Multinomial logistic regression on (n, dim) embeddings, over ``n_classes`` classes.

    Classes that have no training row get a constant very low logit, so ``predict_proba`` always
    has ``n_classes`` columns in label order, whichever classes the pseudo-labels happened to hit.

    Parameters
    ----------
    n_classes : the number of labels of the job.
    c : inverse L2 regularisation strength (scikit-learn's ``C``).
    class_weight : how the training rows of each class are weighted (:func:`class_weights`):
        ``balanced`` as if every class were equally common; ``estimated`` as if the classes had
        the shares ``class_prior`` (the pool's estimated distribution, :mod:`zslabel.priors`);
        ``none`` as the rows come. Pseudo-labels of a zero-shot teacher are skewed towards the
        classes it finds easy; unweighted, a class with few rows is drowned (BANKING77: 0.55
        against 0.67 balanced, README), and balanced, a minority class is over-predicted
        (SST-2 at 80/20: 6.6 points below the teacher, README "Class imbalance").
    class_prior : (n_classes,) shares that sum to 1; required for ``estimated``.
    max_iter : iterations of the lbfgs solver.

    Attributes
    ----------
    coef_ : (n_classes, dim) weights.
    intercept_ : (n_classes,) biases.
    classes_seen_ : (n_classes,) bool, which classes had training rows.
    """

    def __init__(
        self,
        n_classes: int,
        *,
        c: float = 1.0,
        class_weight: ClassWeight = "balanced",
        class_prior: np.ndarray | None = None,
        max_iter: int = 1000,
    ) -> None:
        self.n_classes = n_classes
        self.c = c
        self.class_weight = class_weight
        self.class_prior = class_prior
        self.max_iter = max_iter

    def fit(
        self, features: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> LogisticHead:
        """Fit on (n, dim) features and (n,) class indices in ``[0, n_classes)``."""
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray(labels, dtype=np.int64)
        present = np.unique(labels)
        if len(present) < 2:
            raise InputError(
                f"a student needs training rows of at least 2 classes, got {len(present)}"
            )
        weights = class_weights(labels, self.n_classes, self.class_weight, self.class_prior)
        model = LogisticRegression(
            C=self.c,
            class_weight={int(k): float(weights[k]) for k in present},
            max_iter=self.max_iter,
        )
        model.fit(np.asarray(features, dtype=np.float64), labels, sample_weight=sample_weight)
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if len(present) == 2:
            # Binary: scikit-learn keeps one row, p(second) = sigmoid(z) = softmax([0, z]).
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        self.coef_, self.intercept_ = _expand(coef, intercept, present, self.n_classes)
        self.classes_seen_ = np.isin(np.arange(self.n_classes), present)
        return self

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        self._check_fitted()
        logits: np.ndarray = np.asarray(features, dtype=np.float64) @ self.coef_.T
        shifted: np.ndarray = logits + self.intercept_
        return shifted

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(n, n_classes) probabilities; unseen classes get (about) zero."""
        return softmax(self.decision_function(features))

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_proba(features).argmax(axis=1), dtype=np.int64)

    def save(self, folder: Path) -> None:
        self._check_fitted()
        np.savez(
            folder / HEAD_FILE,
            coef=self.coef_,
            intercept=self.intercept_,
            classes_seen=self.classes_seen_,
        )

    @classmethod
    def load(cls, folder: Path) -> LogisticHead:
        with np.load(folder / HEAD_FILE, allow_pickle=False) as saved:
            head = cls(int(saved["coef"].shape[0]))
            head.coef_ = np.asarray(saved["coef"], dtype=np.float64)
            head.intercept_ = np.asarray(saved["intercept"], dtype=np.float64)
            head.classes_seen_ = np.asarray(saved["classes_seen"], dtype=bool)
        return head

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this LogisticHead is not fitted yet; call fit first")


# A class without training rows must never win: a logit far below any fitted one.
_UNSEEN_LOGIT = -1e4


def _expand(
    coef: np.ndarray, intercept: np.ndarray, present: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    full_coef = np.zeros((n_classes, coef.shape[1]))
    full_intercept = np.full(n_classes, _UNSEEN_LOGIT)
    full_coef[present] = coef
    full_intercept[present] = intercept
    return full_coef, full_intercept


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return out
