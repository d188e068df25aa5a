"""Sentence embeddings for the student, cached under the job's work folder.

Texts are encoded in blocks, each cached under a key of (model identity, pooling, length, the
block's texts), so a rerun of ``zslabel train`` (other rounds, another C) encodes nothing and an
interrupted one resumes at the first block not yet cached.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zslabel.cache import FeatureCache, cache_key
from zslabel.encoder import TextEncoder, shared_encoder
from zslabel.models import ResolvedModel

# Rows per cached block: about a minute of CPU encoding with the default model.
BLOCK_ROWS = 8192


def embedding_identity(encoder: TextEncoder) -> dict[str, Any]:
    """What a student's features depend on; recorded in a saved student and checked at predict."""
    return {
        "model": encoder.model.name,
        "origin": encoder.model.origin,
        "revision": encoder.model.revision,
        "weights_sha256": encoder.model.weights_sha256,
        "pooling": encoder.pooling,
        "max_length": encoder.max_length,
    }


def student_encoder(model: ResolvedModel, device: str = "auto") -> TextEncoder:
    return shared_encoder(model, None, None, "auto", device)


class CachedEmbedder:
    """Encode texts with ``encoder``; with a ``work_dir``, blocks are cached there."""

    def __init__(self, encoder: TextEncoder, work_dir: str | Path | None = None) -> None:
        self.encoder = encoder
        self.cache = None if work_dir is None else FeatureCache(Path(work_dir) / "features")
        self.identity = embedding_identity(encoder)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit-length embeddings of ``texts``."""
        if not texts:
            return np.zeros((0, self.encoder.dimension), dtype=np.float32)
        blocks = []
        for start in range(0, len(texts), BLOCK_ROWS):
            block = list(texts[start : start + BLOCK_ROWS])
            if self.cache is None:
                blocks.append(self.encoder.encode(block))
                continue
            key = cache_key("student-embeddings", self.identity, block)
            array, _ = self.cache.get_or_compute(key, functools.partial(self.encoder.encode, block))
            blocks.append(array)
        return np.concatenate(blocks).astype(np.float32, copy=False)
