"""The protocol every labeling source follows.

Scoring is split in two so that the expensive half can be cached per shard:
``featurize`` runs the model (cached under ``cache_identity``), ``probabilities`` turns features
into class probabilities cheaply, so changing a label description, template or temperature
never re-runs the model on the texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np


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
