"""Zero-shot labels from sentence-embedding similarity between texts and label descriptions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zslabel.cache import FeatureCache, cache_key
from zslabel.config import EmbeddingSourceSpec, Label
from zslabel.encoder import shared_encoder
from zslabel.models import resolve_model
from zslabel.sources.base import softmax


class EmbeddingSource:
    """Cosine similarity of each text to each label's descriptions, softmaxed over labels."""

    def __init__(
        self, spec: EmbeddingSourceSpec, labels: Sequence[Label], cache: FeatureCache
    ) -> None:
        assert spec.name is not None  # JobConfig names every source
        self.name = spec.name
        self.weight = spec.weight
        self.spec = spec
        self.labels = tuple(labels)
        self.model = resolve_model(spec.model)
        self.encoder = shared_encoder(
            self.model, spec.batch_size, spec.max_length, spec.pooling, spec.device
        )
        self._cache = cache
        self.prompts = [
            spec.template.format(label=label.name, description=description)
            for label in self.labels
            for description in label.descriptions
        ]
        self.examples = [
            (k, label.examples) for k, label in enumerate(self.labels) if label.examples
        ]
        # Column j of the reference matrix (prompts, then example prototypes) is label owner[j].
        self._owner = np.concatenate(
            [
                np.repeat(np.arange(len(self.labels)), [len(x.descriptions) for x in self.labels]),
                np.asarray([k for k, _ in self.examples], dtype=np.int64),
            ]
        )
        self._references: np.ndarray | None = None

    def cache_identity(self) -> dict[str, Any]:
        return {
            "kind": "embedding",
            "model": self.model.name,
            "weights_sha256": self.model.weights_sha256,
            "max_length": self.encoder.max_length,
            "pooling": self.encoder.pooling,
        }

    def featurize(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        return self.encoder.encode(texts, on_batch)

    def reference_embeddings(self) -> np.ndarray:
        """One row per prompt, then one prototype per label with examples (their mean, unit)."""
        if self._references is None:
            key = cache_key("prompts", self.cache_identity(), self.prompts, self.examples)
            self._references, _ = self._cache.get_or_compute(key, self._encode_references)
        return self._references

    def _encode_references(self) -> np.ndarray:
        rows = [self.encoder.encode(self.prompts)]
        for _, examples in self.examples:
            mean = self.encoder.encode(list(examples)).mean(axis=0)
            rows.append((mean / np.linalg.norm(mean))[None, :])
        return np.concatenate(rows).astype(np.float32)

    def similarities(self, features: np.ndarray) -> np.ndarray:
        """(n, k) cosine similarity of each text to each label (its references aggregated)."""
        per_prompt: np.ndarray = features @ self.reference_embeddings().T
        if len(self._owner) == len(self.labels):
            return per_prompt
        reduce = np.max if self.spec.aggregate == "max" else np.mean
        return np.stack(
            [reduce(per_prompt[:, self._owner == k], axis=1) for k in range(len(self.labels))],
            axis=1,
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return softmax(self.similarities(features) / self.spec.temperature)

    def provenance(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "embedding",
            "model": self.model.to_dict(),
            "template": self.spec.template,
            "prompts": {
                label.name: [
                    self.prompts[j]
                    for j in np.flatnonzero(self._owner == k)
                    if j < len(self.prompts)
                ]
                for k, label in enumerate(self.labels)
            },
            "examples_per_label": {self.labels[k].name: len(ex) for k, ex in self.examples},
            "aggregate": self.spec.aggregate,
            "temperature": self.spec.temperature,
            "max_length": self.encoder.max_length,
            "pooling": self.encoder.pooling,
            "weight": self.weight,
        }
