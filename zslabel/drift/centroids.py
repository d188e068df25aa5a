"""Per-class embedding centroids, from features a run already has in its cache.

Drift never runs a model: a version's centroids are computed by the run that labeled it (its
features are cached then) and recorded in its drift.json; two versions that both recorded them
can be compared later, by the flow or by ``zslabel diff``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from zslabel.pipeline.plan import JobPlan
    from zslabel.pipeline.score import ShardScore


def class_centroids(
    batches: Iterable[tuple[np.ndarray, np.ndarray]], label_names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Each class's centroid: the mean of its rows' L2-normalised embeddings.

    ``batches`` yields (features, labels) pairs: (n, d) float embeddings (rows of NaN where a
    row had no text) and (n,) int label codes into ``label_names`` (negative: no label). Only
    one (k, d) sum is held, however many batches. Returns {class: (d,) float64 centroid} for
    the classes with at least one row.
    """
    sums: np.ndarray | None = None
    counts = np.zeros(len(label_names), dtype=np.int64)
    for features, labels in batches:
        features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        keep = (labels >= 0) & ~np.isnan(features).any(axis=1)
        rows, codes = features[keep], labels[keep]
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        rows = rows / np.where(norms > 0, norms, 1.0)
        if sums is None:
            sums = np.zeros((len(label_names), features.shape[1]))
        np.add.at(sums, codes, rows)
        counts += np.bincount(codes, minlength=len(label_names))
    if sums is None:
        return {}
    return {name: sums[k] / counts[k] for k, name in enumerate(label_names) if counts[k] > 0}


def centroids_from_cache(
    plan: JobPlan, scores: Sequence[ShardScore], labels: np.ndarray
) -> dict[str, np.ndarray] | None:
    """Class centroids of a run's first embedding source, read shard by shard from its cached
    features; ``labels`` is the (rows,) int label code of every input row in input order
    (negative where none). None when the job has no embedding source. Raises OutputError
    (zslabel.pipeline.features) when a shard's features are missing from the cache."""
    from zslabel.pipeline.features import shard_features
    from zslabel.sources import EmbeddingSource

    index = next(
        (i for i, source in enumerate(plan.sources) if isinstance(source, EmbeddingSource)), None
    )
    if index is None:
        return None
    bounds = np.cumsum([0, *(score.shard.num_rows for score in scores)])
    pairs = (
        (features, labels[start:stop])
        for features, start, stop in zip(
            shard_features(plan, index, scores), bounds[:-1], bounds[1:], strict=True
        )
    )
    return class_centroids(pairs, plan.label_names)
