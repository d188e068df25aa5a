"""A deterministic source with no model, for tests and ``--dry-run``.

Scores are a hash of the text, nudged towards any label whose name appears in the text, so that
dry runs produce plausible, repeatable labels in milliseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zslabel.config import FakeSourceSpec, Label
from zslabel.sources.base import sigmoid, softmax

NAME_BONUS = 3.0
MULTI_LABEL_CENTER = 2.5


class FakeSource:
    def __init__(
        self, spec: FakeSourceSpec, labels: Sequence[Label], *, multi_label: bool = False
    ) -> None:
        assert spec.name is not None  # JobConfig names every source
        self.name = spec.name
        self.weight = spec.weight
        self.multi_label = multi_label
        self.seed = spec.seed
        self.label_names = [label.name for label in labels]

    def cache_identity(self) -> dict[str, Any]:
        return {"kind": "fake", "seed": self.seed, "labels": self.label_names}

    def featurize(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        k = len(self.label_names)
        logits = np.empty((len(texts), k), dtype=np.float32)
        lowered = [name.lower().replace("_", " ") for name in self.label_names]
        for i, text in enumerate(texts):
            digest = hashlib.blake2b(f"{self.seed}\x00{text}".encode(), digest_size=2 * k).digest()
            noise = np.frombuffer(digest, dtype=np.uint16) / 65535.0
            bonus = [NAME_BONUS if name in text.lower() else 0.0 for name in lowered]
            logits[i] = noise * 2.0 + np.asarray(bonus)
        if on_batch is not None:
            on_batch(len(texts))
        return logits

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        if self.multi_label:
            # Noise alone (0-2) stays below 0.5; a label named in the text (+3) goes above.
            return sigmoid(features.astype(np.float64) - MULTI_LABEL_CENTER)
        return softmax(features.astype(np.float64))

    def provenance(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "fake", "seed": self.seed, "weight": self.weight}
