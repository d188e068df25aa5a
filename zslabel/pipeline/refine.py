"""Refine: move each embedding and CLIP source's label references toward its most confident
rows (:mod:`zslabel.refine`), where its spec asks for it. Cheap: reads cached features.

Sources with per-language templates are also counted here, the first stage that reads every
shard's features: the manifest's entry of each such source gets ``template_rows``, the rows of
each template's language and of ``other`` languages (scored with the fallback template)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zslabel.config import ClipSourceSpec, EmbeddingSourceSpec
from zslabel.pipeline import prototypes
from zslabel.pipeline.features import shard_features
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.score import ShardScore
from zslabel.refine import Prototypes, Refinement, refine_source
from zslabel.sources import EmbeddingSource
from zslabel.sources.clip import ClipSource


def refine(
    plan: JobPlan,
    scores: Sequence[ShardScore],
    earlier: Path | None = None,
    excluded: np.ndarray | None = None,
) -> Refinement:
    """Per source, its refined references (None where it is not refined); the record names
    each source with a refine key, with what refinement did or why it was skipped.

    ``earlier``: an incremental job's earlier version of the same settings, whose prototype rows
    (prototypes.parquet) each source adds to its own where its settings, the labels and the
    model are the same (:mod:`zslabel.pipeline.prototypes`); None for a plain job.
    ``excluded``: (n,) bool over the input's rows, rows no label's prototype may take (rows in
    languages no model covers, :mod:`zslabel.pipeline.row_languages`)."""
    version = None if earlier is None else prototypes.EarlierVersion(earlier, plan.output_dir)
    references: list[np.ndarray | None] = []
    record: dict[str, Any] = {}
    described: dict[str, dict[str, Any]] = {}
    kept: dict[str, Prototypes] = {}
    for i, (source, spec) in enumerate(zip(plan.sources, plan.config.sources, strict=True)):
        refined = None
        if isinstance(spec, EmbeddingSourceSpec | ClipSourceSpec) and spec.refine is not None:
            assert isinstance(source, EmbeddingSource | ClipSource)
            skipped = skip_reason(plan, source)
            if skipped is not None:
                record[source.name] = {"skipped": skipped}
            else:
                mark = prototypes.fingerprint(plan, i)
                carried, not_carried = None, None
                if version is not None:
                    dim = source.label_references()[0].shape[1]
                    carried, not_carried = version.rows_of(source.name, mark, plan.label_names, dim)
                shards = functools.partial(_features_without, plan, i, scores, excluded)
                result = refine_source(source, spec.refine, shards, plan.label_names, carried)
                refined, record[source.name] = result.references, result.record
                if carried is not None and "skipped" not in result.record:
                    result.record["earlier_versions"] = {"rows": int(carried.rows.sum())}
                elif not_carried is not None:
                    result.record["earlier_versions"] = {"not_carried": not_carried}
                if result.prototypes is not None:
                    kept[source.name] = Prototypes(
                        result.prototypes.sums, result.prototypes.rows, mark
                    )
        if isinstance(source, EmbeddingSource) and source.languages is not None:
            rows = _template_rows(source.languages.keys, shard_features(plan, i, scores))
            described[source.name] = {"template_rows": rows}
        references.append(refined)
    return Refinement(tuple(references), record, described, kept)


def _features_without(
    plan: JobPlan, index: int, scores: Sequence[ShardScore], excluded: np.ndarray | None
) -> Iterator[np.ndarray]:
    """Source ``index``'s features of each shard, NaN on the ``excluded`` rows (as rows that
    could not be scored, which refinement never ranks)."""
    start = 0
    for features in shard_features(plan, index, scores):
        if excluded is not None and excluded[start : start + len(features)].any():
            features = features.copy()
            features[excluded[start : start + len(features)]] = np.nan
        start += len(features)
        yield features


def _template_rows(keys: Sequence[str], shards: Iterable[np.ndarray]) -> dict[str, int]:
    """Rows per language key (``other``: any other language) from the slot that ends each
    row's features; rows without features (invalid texts) are not counted."""
    counts = np.zeros(len(keys) + 1, dtype=np.int64)
    for features in shards:
        slots = features.reshape(len(features), -1)[:, -1]
        counts += np.bincount(slots[~np.isnan(slots)].astype(np.int64), minlength=len(counts))
    return {name: int(n) for name, n in zip([*keys, "other"], counts, strict=True)}


def skip_reason(plan: JobPlan, source: EmbeddingSource | ClipSource) -> str | None:
    """Why a job's source with a refine key is not refined (None: it is, given enough rows)."""
    if plan.multi_label:
        return "multi-label job: refinement ranks rows by their single top label"
    if isinstance(source, EmbeddingSource) and source.chunks_long_texts:
        return "long_texts: chunk (window features) is not refined"
    return None
