"""Score one shard with every source and cache its features: the only expensive stage.

A shard whose features are cached under the same key (shard fingerprint, source identity) is
not scored again, which is how a repeated or crashed run resumes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from zslabel.cache import cache_key
from zslabel.dataset import Shard
from zslabel.errors import OutputError
from zslabel.pipeline import row_languages
from zslabel.pipeline.plan import JobPlan
from zslabel.sources import EmbeddingSource, NliSource, Source
from zslabel.sources.nli import shortlist_mask


@dataclass(frozen=True)
class ShardScore:
    """What scoring one shard left behind: where its cached features are and whether they were."""

    shard: Shard
    fingerprint: str  # of every input column the sources read
    reused: bool
    # Per input column read (the text column, image columns): its content fingerprint.
    columns: tuple[tuple[str, str], ...] = ()

    def fingerprint_of(self, column: str) -> str:
        return dict(self.columns).get(column, self.fingerprint)


class ShardInput(NamedTuple):
    """One input column of a shard as a source reads it."""

    values: Sequence[Any]  # texts, or image bytes / paths
    valid_rows: Sequence[int]
    fingerprint: str


def score_shard(
    plan: JobPlan, shard: Shard, on_rows: Callable[[int], None] | None = None
) -> ShardScore:
    """Make sure every source's features for ``shard`` are cached; compute what is not.

    ``on_rows`` is told how many rows each step finished (a progress bar). Raises OutputError
    when a shortlist source's cached features vanished while the shard was being scored.
    """
    inputs = read_inputs(plan, shard)
    advance = on_rows or (lambda rows: None)
    text = inputs.get(plan.config.input.text_column)
    if text is not None and plan.reads_text:
        row_languages.detect_shard(plan, shard, text.values, text.valid_rows, text.fingerprint)
    reused = True
    for i, source in enumerate(plan.sources):
        read = inputs[plan.columns[i]]
        key = feature_key(source, source_fingerprint(plan, i, lambda c: inputs[c].fingerprint))
        if plan.cache.has(key):
            advance(shard.num_rows)
            continue
        reused = False
        candidates = None
        if i in plan.shortlists:
            # Sources are scored in order, so the shortlist source's features are cached.
            earlier, k = plan.shortlists[i]
            shortlisted = plan.sources[earlier]
            cached = plan.cache.load(feature_key(shortlisted, read.fingerprint))
            if cached is None:
                raise OutputError(
                    f"{plan.work_dir}: cached scores of source {shortlisted.name!r} for shard "
                    f"{shard.index} ({shard.path}) are missing or damaged; run again"
                )
            valid = shortlisted.probabilities(cached[list(read.valid_rows)])
            candidates = shortlist_mask(valid, k)
        column = language_column(source)
        languages = None if column is None else [inputs[column].values[r] for r in read.valid_rows]
        features = featurize(plan, i, read.values, candidates, advance, languages)
        full = np.full((shard.num_rows, *features.shape[1:]), np.nan, dtype=features.dtype)
        full[list(read.valid_rows)] = features
        if isinstance(source, EmbeddingSource | NliSource):
            # Saved first: a cached shard always has its count (see truncated_texts).
            cut = source.count_truncated(read.values)
            plan.cache.save(truncated_key(key), np.asarray([cut], dtype=np.int64))
        plan.cache.save(key, full)
        advance(shard.num_rows - len(read.valid_rows))
    columns_read = tuple(sorted((name, read.fingerprint) for name, read in inputs.items()))
    return ShardScore(shard, _combined_fingerprint(columns_read), reused, columns_read)


def read_inputs(plan: JobPlan, shard: Shard) -> dict[str, ShardInput]:
    """Each input column the sources read, once per shard, by column name."""
    inputs: dict[str, ShardInput] = {}
    for column in dict.fromkeys(plan.columns):
        if column == plan.config.input.text_column and plan.reads_text:
            texts = plan.dataset.read_texts(shard)
            inputs[column] = ShardInput(texts.texts, texts.valid_rows, texts.fingerprint)
        else:
            images = plan.dataset.read_images(shard, column)
            inputs[column] = ShardInput(images.images, images.valid_rows, images.fingerprint)
    for column in dict.fromkeys(filter(None, map(language_column, plan.sources))):
        values = [v for b in plan.dataset.iter_batches(shard, [column]) for v in b[0].to_pylist()]
        fingerprint = cache_key("language-column", values)
        inputs[column] = ShardInput(values, range(len(values)), fingerprint)
    return inputs


def language_column(source: Source) -> str | None:
    """The input column that gives each row's language, for sources with per-language
    templates that read it (zslabel.sources.languages.TemplateLanguages)."""
    if isinstance(source, EmbeddingSource) and source.languages is not None:
        return source.languages.column
    return None


def source_fingerprint(plan: JobPlan, index: int, fingerprint_of: Callable[[str], str]) -> str:
    """What source ``index``'s features of a shard depend on: its column's fingerprint, and its
    language column's when it has one (``fingerprint_of``: a column's fingerprint)."""
    own = fingerprint_of(plan.columns[index])
    column = language_column(plan.sources[index])
    return own if column is None else cache_key("columns", own, column, fingerprint_of(column))


def featurize(
    plan: JobPlan,
    index: int,
    values: Sequence[Any],
    candidates: np.ndarray | None,
    on_batch: Callable[[int], None] | None = None,
    languages: Sequence[Any] | None = None,
) -> np.ndarray:
    """Source ``index``'s features of ``values`` (n rows); with ``candidates`` (an (n, k) bool
    shortlist mask, NLI sources only), only each row's candidate labels are scored; with
    ``languages`` (the rows' language column values), per-language templates use them."""
    source = plan.sources[index]
    if languages is not None:
        assert isinstance(source, EmbeddingSource)
        return source.featurize(values, on_batch, languages)
    if candidates is None:
        return source.featurize(values, on_batch)
    assert isinstance(source, NliSource)
    return source.featurize_candidates(values, candidates, on_batch)


def feature_key(source: Source, fingerprint: str) -> str:
    """The cache key of ``source``'s features of the input column with ``fingerprint``."""
    return cache_key("features", fingerprint, source.cache_identity())


def truncated_key(key: str) -> str:
    """The cache key of the truncated-text count saved beside the features under ``key``."""
    return cache_key("truncated", key)


@dataclass(frozen=True)
class ScoringRecord:
    """What the manifest says about scoring: the input's shards and fingerprint, and per
    text-model source how many texts were cut at its max_length (None: unknown, for shards
    cached before zslabel counted them)."""

    shards: int
    fingerprint: str
    truncated_texts: dict[str, int | None]


def scoring_record(plan: JobPlan, scores: Sequence[ShardScore]) -> ScoringRecord:
    """The record of every shard's scoring (reads only the small counts from the cache)."""
    counts: dict[str, int | None] = {}
    for i, source in enumerate(plan.sources):
        if not isinstance(source, EmbeddingSource | NliSource):
            continue
        total: int | None = 0
        for score in scores:
            key = feature_key(source, source_fingerprint(plan, i, score.fingerprint_of))
            saved = plan.cache.load(truncated_key(key))
            total = None if saved is None or total is None else total + int(saved[0])
        counts[source.name] = total
    return ScoringRecord(len(scores), _input_fingerprint(scores), counts)


def _combined_fingerprint(columns_read: tuple[tuple[str, str], ...]) -> str:
    """One column's fingerprint as it is (text-only jobs), several hashed together."""
    if len(columns_read) == 1:
        return columns_read[0][1]
    return cache_key("columns", [list(pair) for pair in columns_read])


def _input_fingerprint(scores: Sequence[ShardScore]) -> str:
    digest = hashlib.sha256()
    for score in scores:
        digest.update(f"{score.shard.num_rows}:{score.fingerprint};".encode())
    return digest.hexdigest()
