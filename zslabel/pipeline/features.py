"""Read scored shards back from the feature cache, as features or as probabilities.

Every stage after scoring reads the cache through here, shard by shard, so no stage holds
every row's features at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from zslabel.config import ClipSourceSpec, EmbeddingSourceSpec
from zslabel.errors import OutputError
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.score import ShardScore, feature_key, source_fingerprint
from zslabel.refine import Refinement
from zslabel.sources import EmbeddingSource
from zslabel.sources.clip import ClipSource


def load_features(plan: JobPlan, index: int, score: ShardScore) -> np.ndarray:
    """Source ``index``'s cached features of a scored shard, (rows, ...) with NaN rows where
    the row could not be scored. Raises OutputError when the cache entry is missing or damaged."""
    source = plan.sources[index]
    fingerprint = source_fingerprint(plan, index, score.fingerprint_of)
    features = plan.cache.load(feature_key(source, fingerprint))
    if features is None:
        raise OutputError(
            f"{plan.work_dir}: cached scores of shard {score.shard.index} "
            f"({score.shard.path}) are missing or damaged; run again to recompute them"
        )
    return features


def shard_features(plan: JobPlan, index: int, scores: Sequence[ShardScore]) -> Iterator[np.ndarray]:
    """Source ``index``'s features of each shard in turn."""
    for score in scores:
        yield load_features(plan, index, score)


def probabilities(
    plan: JobPlan, index: int, features: np.ndarray, refinement: Refinement | None
) -> np.ndarray:
    """Source ``index``'s (rows, classes) probabilities from its features, with its refined
    references (scored at the source's temperature times ``refine.temperature_scale``) if
    ``refinement`` has any for it."""
    source = plan.sources[index]
    references = None if refinement is None else refinement.of(index)
    if references is None:
        return source.probabilities(features)
    spec = plan.config.sources[index]
    assert isinstance(source, EmbeddingSource | ClipSource)
    assert isinstance(spec, EmbeddingSourceSpec | ClipSourceSpec)
    assert spec.refine is not None
    return source.probabilities(
        features, references, temperature_scale=spec.refine.temperature_scale
    )


def source_probabilities(
    plan: JobPlan, score: ShardScore, refinement: Refinement | None = None
) -> list[np.ndarray]:
    """Each source's (rows, classes) probabilities for a scored shard, from the cache."""
    return load_shard(plan, score, refinement)[0]


def load_shard(
    plan: JobPlan, score: ShardScore, refinement: Refinement | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each source's probabilities, and which rows had a usable input ((rows,) bool).

    Features are NaN only on rows whose text could not be scored at all; a source that
    merely abstains (a rule that did not fire) has features there but NaN probabilities.
    """
    per_source = []
    has_text = np.zeros(score.shard.num_rows, dtype=bool)
    for i in range(len(plan.sources)):
        features = load_features(plan, i, score)
        has_text |= ~np.isnan(features.reshape(len(features), -1)).all(axis=1)
        per_source.append(probabilities(plan, i, features, refinement))
    return per_source, has_text
