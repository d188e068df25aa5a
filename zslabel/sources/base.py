"""The protocol every labeling source follows.

Scoring is split in two so that the expensive half can be cached per shard:
``featurize`` runs the model (cached under ``cache_identity``), ``probabilities`` turns features
into class probabilities cheaply, so changing a label description, template or temperature
never re-runs the model on the texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from zslabel.config import Label


class Source(Protocol):
    name: str
    weight: float

    def cache_identity(self) -> dict[str, Any]:
        """Everything ``featurize``'s output depends on, as JSON-able values."""
        ...

    def featurize(
        self, texts: Sequence[str], /, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """The expensive part: an (n, f) float array for n texts (or images: see clip)."""
        ...

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, k) class probabilities, rows summing to 1 (multi-label jobs: independent per
        label, NaN for labels the source abstains on); NaN feature rows give NaN rows."""
        ...

    def provenance(self) -> dict[str, Any]:
        """What the manifest records about this source (model identity, template, ...)."""
        ...


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    probs: np.ndarray = exp / np.sum(exp, axis=1, keepdims=True)
    return probs


def independent_probabilities(
    similarities: np.ndarray, temperature: float, within: float, center: float | None
) -> np.ndarray:
    """Multi-label probabilities from (n, k) similarities: 0.5 at ``center``, or, without one,
    at ``within`` below each row's best similarity (so the best label is always above 0.5)."""
    if center is None:
        with np.errstate(invalid="ignore"):
            best = np.max(np.where(np.isnan(similarities), -np.inf, similarities), axis=1)
        reference = best[:, None] - within
    else:
        reference = np.full((len(similarities), 1), center)
    return sigmoid((similarities - reference) / temperature)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Independent per-label probabilities (multi-label mode); NaN stays NaN."""
    with np.errstate(over="ignore"):
        probs: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
    return probs


def label_prompts(template: str, labels: Sequence[Label]) -> tuple[list[str], np.ndarray]:
    """One prompt per (label, description), and which label each belongs to (its owner)."""
    prompts = [
        template.format(label=label.name, description=description)
        for label in labels
        for description in label.descriptions
    ]
    owner = np.repeat(np.arange(len(labels)), [len(label.descriptions) for label in labels])
    return prompts, owner


def aggregate_per_label(
    values: np.ndarray, owner: np.ndarray, n_labels: int, how: str
) -> np.ndarray:
    """(n, columns) -> (n, n_labels): each label's columns (``owner``) reduced by max or mean.

    NaN cells are left out; a label with no non-NaN column in a row is NaN there.
    """
    if len(owner) == n_labels:
        return values
    scored = ~np.isnan(values)
    per_label = np.empty((len(values), n_labels))
    for k in range(n_labels):
        columns = owner == k
        own, present = values[:, columns], scored[:, columns]
        count = present.sum(axis=1)
        if how == "max":
            reduced = np.where(present, own, -np.inf).max(axis=1)
        else:
            total = np.where(present, own, 0.0).sum(axis=1)
            reduced = np.divide(total, count, out=np.zeros(len(total)), where=count > 0)
        per_label[:, k] = np.where(count > 0, reduced, np.nan)
    return per_label
