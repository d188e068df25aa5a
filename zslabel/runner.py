"""Run a labeling job on one machine: shards -> cached features -> combine -> select -> export.

``LabelingJob`` exposes each step as a method taking plain values (a shard, a fingerprint), so
the Prefect flows can map ``score_shard`` over shards on any runner and call the global steps as
tasks; ``run_job`` wires the same steps in one process.
"""

from __future__ import annotations

import ctypes
import datetime
import functools
import hashlib
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from zslabel import columns
from zslabel.cache import FeatureCache, cache_key
from zslabel.calibration import (
    TemperatureScaler,
    expected_calibration_error,
    reliability_curve,
    small_gold_warning,
)
from zslabel.combine import Combiner, fit_combiner
from zslabel.config import ClipSourceSpec, EmbeddingSourceSpec, JobConfig, NliSourceSpec
from zslabel.dataset import InputDataset, Shard
from zslabel.diagnostics import source_diagnostics
from zslabel.errors import ConfigError, OutputError
from zslabel.export import StagedOutput, check_output_types, filter_rows, split_file_name
from zslabel.gold import load_gold
from zslabel.idcheck import check_unique_ids
from zslabel.images import NULL_IMAGE, UNREADABLE_IMAGE, image_ref
from zslabel.lock import run_lock
from zslabel.progress import Progress
from zslabel.redact import redact_value
from zslabel.refine import Refinement, refine_source
from zslabel.report import stage_documents
from zslabel.review import (
    MatchedReviews,
    apply_reviews,
    load_reviews,
    match_reviews,
    review_counts,
    review_gold,
)
from zslabel.selection import (
    ABSTAINED,
    ACCEPTED,
    HUMAN_REVIEW,
    INVALID,
    REASON_NAMES,
    STATUS_NAMES,
    Predictions,
    Selection,
    label_dtype,
    reason_code,
    select,
    thresholds,
)
from zslabel.sources import EmbeddingSource, NliSource, Source, build_source
from zslabel.sources.clip import ClipSource
from zslabel.sources.nli import shortlist_mask
from zslabel.splits import assign_splits_streamed
from zslabel.version import __version__

LABELED = "labeled.parquet"
ABSTAINED_FILE = "abstained.parquet"
RUN_INFO = "run.json"
NOT_SCORED = "not_scored"
MIN_CALIBRATION_ROWS = 2


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


@dataclass
class RunResult:
    output_dir: Path
    manifest: dict[str, Any]
    run_info: dict[str, Any]

    @property
    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = self.manifest["counts"]
        return counts


class Selected(NamedTuple):
    """The global decisions: how sources combine, every row's prediction, status and split.

    ``predictions.confidence`` and ``predictions.margin`` are empty: every decision that reads
    them is made, and the export recomputes them shard by shard from the combined probabilities
    (8 bytes a row less to hold).
    """

    combiner: Combiner
    predictions: Predictions
    selection: Selection
    split_index: np.ndarray
    diagnostics: dict[str, Any]
    # What became of the stored reviews (review_counts); None without any.
    reviews: dict[str, int] | None = None
    # The refined references the probabilities were computed with (LabelingJob.refine).
    refinement: Refinement | None = None


@dataclass
class RunClock:
    """A run's identity and stopwatch; what ``run.json`` records."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )
    timings_s: dict[str, float] = field(default_factory=dict)
    _start: float = field(default_factory=time.perf_counter)
    _last: float = field(default_factory=time.perf_counter)

    def lap(self, name: str) -> None:
        """Record the time since the previous lap under ``name``."""
        now = time.perf_counter()
        self.timings_s[name] = round(self.timings_s.get(name, 0.0) + now - self._last, 3)
        self._last = now

    def to_dict(self, scores: Sequence[ShardScore]) -> dict[str, Any]:
        reused = sum(s.reused for s in scores)
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "timings_s": {**self.timings_s, "total": round(time.perf_counter() - self._start, 3)},
            "shards": {"total": len(scores), "reused": reused, "scored": len(scores) - reused},
        }


class LabelingJob:
    def __init__(self, config: JobConfig, files: Collection[str] | None = None) -> None:
        self.config = config
        self.label_names = list(config.label_names)
        self.output_dir = Path(config.output.dir).expanduser()
        if self.output_dir.exists() and not self.output_dir.is_dir():
            raise OutputError(f"{self.output_dir}: output path exists and is not a folder")
        self.work_dir = Path(config.output.work_dir or self.output_dir / ".zslabel").expanduser()
        _check_output_outside_input(config.input.path, self.output_dir)
        image_columns = sorted({s.column for s in config.sources if isinstance(s, ClipSourceSpec)})
        self.reads_text = any(not isinstance(s, ClipSourceSpec) for s in config.sources)
        self.dataset = InputDataset(
            config.input, files, needs_text=self.reads_text, image_columns=image_columns
        )
        self.cache = FeatureCache(self.work_dir / "features")
        self.multi_label = config.multi_label
        self.sources: list[Source] = [
            build_source(spec, config.labels, self.cache, multi_label=self.multi_label)
            for spec in config.sources
        ]
        # The input column each source reads: the text column, or an image column.
        self._columns = [
            spec.column if isinstance(spec, ClipSourceSpec) else config.input.text_column
            for spec in config.sources
        ]
        self._shortlists = self._link_shortlists()
        # Each source's own verdict is kept beside the combined one when there are several.
        self.shown_sources = [s.name for s in self.sources] if len(self.sources) > 1 else []
        self.window_sources = [
            s for s in self.sources if isinstance(s, EmbeddingSource) and s.chunks_long_texts
        ]
        self.schema = columns.output_schema(
            self.dataset.schema,
            self.label_names,
            self.shown_sources,
            [s.name for s in self.window_sources],
            config.input.path,
            multi_label=self.multi_label,
        )
        # A column the output format cannot hold is refused now, not after scoring.
        check_output_types(self.schema, config.output.format, config.input.path)

    # -- per shard: the only expensive step -------------------------------------------------

    def score_shard(self, shard: Shard, on_rows: Callable[[int], None] | None = None) -> ShardScore:
        """Make sure every source's features for this shard are cached; compute what is not."""
        inputs = self._read_inputs(shard)
        advance = on_rows or (lambda rows: None)
        reused = True
        for i, source in enumerate(self.sources):
            read = inputs[self._columns[i]]
            key = self._feature_key(source, read.fingerprint)
            if self.cache.has(key):
                advance(shard.num_rows)
                continue
            reused = False
            candidates = None
            if i in self._shortlists:
                # Sources are scored in order, so the shortlist source's features are cached.
                earlier, k = self._shortlists[i]
                shortlisted = self.sources[earlier]
                cached = self.cache.load(self._feature_key(shortlisted, read.fingerprint))
                if cached is None:
                    raise OutputError(
                        f"{self.work_dir}: cached scores of source {shortlisted.name!r} for shard "
                        f"{shard.index} ({shard.path}) are missing or damaged; run again"
                    )
                valid = shortlisted.probabilities(cached[list(read.valid_rows)])
                candidates = shortlist_mask(valid, k)
            features = self._featurize(i, read.values, candidates, advance)
            full = np.full((shard.num_rows, *features.shape[1:]), np.nan, dtype=features.dtype)
            full[list(read.valid_rows)] = features
            if isinstance(source, EmbeddingSource | NliSource):
                # Saved first: a cached shard always has its count (see truncated_texts).
                cut = source.count_truncated(read.values)
                self.cache.save(_truncated_key(key), np.asarray([cut], dtype=np.int64))
            self.cache.save(key, full)
            advance(shard.num_rows - len(read.valid_rows))
        columns_read = tuple(sorted((name, read.fingerprint) for name, read in inputs.items()))
        return ShardScore(shard, _combined_fingerprint(columns_read), reused, columns_read)

    def _read_inputs(self, shard: Shard) -> dict[str, ShardInput]:
        """Each input column the sources read, once per shard."""
        inputs: dict[str, ShardInput] = {}
        for column in dict.fromkeys(self._columns):
            if column == self.config.input.text_column and self.reads_text:
                texts = self.dataset.read_texts(shard)
                inputs[column] = ShardInput(texts.texts, texts.valid_rows, texts.fingerprint)
            else:
                images = self.dataset.read_images(shard, column)
                inputs[column] = ShardInput(images.images, images.valid_rows, images.fingerprint)
        return inputs

    def _link_shortlists(self) -> dict[int, tuple[int, int]]:
        """Source index -> (index of its shortlist source, k), for sources with a shortlist."""
        names = [source.name for source in self.sources]
        links = {}
        for i, spec in enumerate(self.config.sources):
            if isinstance(spec, NliSourceSpec) and spec.shortlist is not None:
                source = self.sources[i]
                assert isinstance(source, NliSource)
                earlier = names.index(spec.shortlist.source)  # JobConfig checked it is earlier
                source.shortlist_from(self.sources[earlier])
                links[i] = (earlier, spec.shortlist.k)
        return links

    def _featurize(
        self,
        index: int,
        texts: Sequence[str],
        candidates: np.ndarray | None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Source ``index``'s features; with a shortlist, only each text's ``candidates``."""
        source = self.sources[index]
        if candidates is None:
            return source.featurize(texts, on_batch)
        assert isinstance(source, NliSource)
        return source.featurize_candidates(texts, candidates, on_batch)

    def _feature_key(self, source: Source, fingerprint: str) -> str:
        return cache_key("features", fingerprint, source.cache_identity())

    def truncated_texts(self, scores: Sequence[ShardScore]) -> dict[str, int | None]:
        """Per text-model source, how many texts were cut at its max_length (None: unknown,
        for shards cached before zslabel counted them)."""
        counts: dict[str, int | None] = {}
        for source in self.sources:
            if not isinstance(source, EmbeddingSource | NliSource):
                continue
            total: int | None = 0
            for score in scores:
                key = self._feature_key(source, score.fingerprint_of(self.config.input.text_column))
                saved = self.cache.load(_truncated_key(key))
                total = None if saved is None or total is None else total + int(saved[0])
            counts[source.name] = total
        return counts

    def source_probabilities(
        self, score: ShardScore, refinement: Refinement | None = None
    ) -> list[np.ndarray]:
        """Each source's (rows, classes) probabilities for a scored shard, from the cache
        (with ``refinement``'s references for the sources it refined)."""
        return self._load_shard(score, refinement)[0]

    def _load_shard(
        self, score: ShardScore, refinement: Refinement | None = None
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Each source's probabilities, and which rows had a usable text.

        Features are NaN only on rows whose text could not be scored at all; a source that
        merely abstains (a rule that did not fire) has features there but NaN probabilities.
        """
        per_source = []
        has_text = np.zeros(score.shard.num_rows, dtype=bool)
        for i, source in enumerate(self.sources):
            features = self._features(source, score)
            has_text |= ~np.isnan(features.reshape(len(features), -1)).all(axis=1)
            per_source.append(self._probabilities(i, features, refinement))
        return per_source, has_text

    def _probabilities(
        self, index: int, features: np.ndarray, refinement: Refinement | None
    ) -> np.ndarray:
        """Source ``index``'s probabilities, from its refined references if it has any."""
        source = self.sources[index]
        references = None if refinement is None else refinement.of(index)
        if references is None:
            return source.probabilities(features)
        assert isinstance(source, EmbeddingSource | ClipSource)
        return source.probabilities(features, references)

    # -- refinement: cheap, reads every shard's cached features ---------------------------------

    def refine(self, scores: Sequence[ShardScore]) -> Refinement:
        """Each embedding and CLIP source's label references moved toward its most confident
        rows (zslabel.refine), where its spec asks for it; sources it cannot refine are
        recorded with the reason."""
        references: list[np.ndarray | None] = []
        record: dict[str, Any] = {}
        for source, spec in zip(self.sources, self.config.sources, strict=True):
            refined = None
            if isinstance(spec, EmbeddingSourceSpec | ClipSourceSpec) and spec.refine is not None:
                assert isinstance(source, EmbeddingSource | ClipSource)
                skipped = self._refine_skipped(source)
                if skipped is not None:
                    record[source.name] = {"skipped": skipped}
                else:
                    shards = functools.partial(self._shard_features, source, scores)
                    refined, record[source.name] = refine_source(
                        source, spec.refine, shards, self.label_names
                    )
            references.append(refined)
        return Refinement(tuple(references), record)

    def _refine_skipped(self, source: EmbeddingSource | ClipSource) -> str | None:
        if self.multi_label:
            return "multi-label job: refinement ranks rows by their single top label"
        if isinstance(source, EmbeddingSource) and source.chunks_long_texts:
            return "long_texts: chunk (window features) is not refined"
        return None

    def _shard_features(self, source: Source, scores: Sequence[ShardScore]) -> Iterator[np.ndarray]:
        for score in scores:
            yield self._features(source, score)

    def _features(self, source: Source, score: ShardScore) -> np.ndarray:
        column = self._columns[self.sources.index(source)]
        features = self.cache.load(self._feature_key(source, score.fingerprint_of(column)))
        if features is None:
            raise OutputError(
                f"{self.work_dir}: cached scores of shard {score.shard.index} "
                f"({score.shard.path}) are missing or damaged; run again to recompute them"
            )
        return features

    # -- global steps: cheap, need every row's prediction -----------------------------------

    def fit_combiner(
        self,
        sample: Callable[[], np.ndarray],
        reviewed: MatchedReviews | None = None,
        refinement: Refinement | None = None,
    ) -> Combiner:
        calibrators, report = self.fit_calibration(reviewed, refinement)
        decider = self.config.combine.source
        return fit_combiner(
            self.config.combine.method,
            [s.weight for s in self.sources],
            sample,
            calibrators,
            report,
            decider=0 if decider is None else [s.name for s in self.sources].index(decider),
            multi_label=self.multi_label,
            prior_accuracy=self.config.combine.prior_accuracy,
        )

    def fit_calibration(
        self, reviewed: MatchedReviews | None = None, refinement: Refinement | None = None
    ) -> tuple[list[TemperatureScaler | None], dict[str, Any] | None]:
        """A temperature per source, fitted on the job's gold file and the reviews of the input's
        rows (``reviewed``: :meth:`matched_reviews`), and what it changed."""
        spec = self.config.calibration
        # Human reviews are gold too (temperatures are single-label only, like calibration); a
        # stored review that names no row of the input never calibrates.
        reviews = None if self.config.multi_label or reviewed is None else reviewed.reviews
        given = (
            None
            if spec is None
            else load_gold(spec, self.label_names, self.config.input.text_column)
        )
        gold = review_gold(given, reviews)
        if gold is None:
            return [None] * len(self.sources), None
        fingerprint = cache_key("gold", gold.texts)
        scalers: list[TemperatureScaler | None] = []
        report: dict[str, Any] = {
            "gold": None if spec is None else spec.gold,
            "rows": len(gold.texts),
            "skipped": gold.skipped,
            **({"reviews": len(reviews)} if reviews else {}),
        }
        gold_probs: list[np.ndarray] = []
        for i, source in enumerate(self.sources):
            if isinstance(source, ClipSource):
                # The gold file holds texts: an image source has nothing to be calibrated on.
                scalers.append(None)
                gold_probs.append(np.full((len(gold.texts), len(self.label_names)), np.nan))
                report[source.name] = {"skipped": "an image source; the gold file holds texts"}
                continue
            candidates = None
            if i in self._shortlists:  # the same cascade as on the input rows
                earlier, k = self._shortlists[i]
                candidates = shortlist_mask(gold_probs[earlier], k)
            features, _ = self.cache.get_or_compute(
                cache_key("calibration", fingerprint, source.cache_identity()),
                functools.partial(self._featurize, i, gold.texts, candidates),
            )
            probs = self._probabilities(i, features, refinement)
            gold_probs.append(probs)
            scored = int((~np.isnan(probs).any(axis=1)).sum())
            # Each source's empirical accuracy where it scored a gold row (diagnostics).
            accuracy = _gold_accuracy(probs, gold.label)
            if scored < MIN_CALIBRATION_ROWS:
                # A rule that fires on almost no gold row cannot be calibrated: leave it as is.
                scalers.append(None)
                report[source.name] = {
                    "skipped": f"scored {scored} gold row(s), needs 2",
                    "gold_accuracy": accuracy,
                }
                continue
            scaler = TemperatureScaler().fit(probs, gold.label)
            scalers.append(scaler)
            report[source.name] = {
                "gold_accuracy": accuracy,
                "temperature": round(scaler.temperature_, 4),
                "gold_rows": scaler.n_rows_,
                "nll_before": round(scaler.nll_before_, 4),
                "nll_after": round(scaler.nll_after_, 4),
                # On the gold rows themselves: an optimistic estimate with a small gold file.
                "ece_before": _ece(probs, gold.label),
                "ece_after": _ece(scaler.transform(probs), gold.label),
                "reliability_after": _reliability(scaler.transform(probs), gold.label),
            }
            # Few gold rows: the fit is shrunk toward T = 1, and the run says so.
            warning = small_gold_warning(source.name, scaler.n_rows_)
            if warning is not None:
                report.setdefault("warnings", []).append(warning)
        return scalers, report

    def _sample(
        self, scores: Sequence[ShardScore], refinement: Refinement | None = None
    ) -> np.ndarray:
        """(rows, sources, classes) for at most combine.fit_rows rows spread over the input."""
        stride = max(1, math.ceil(self.dataset.num_rows / self.config.combine.fit_rows))
        parts = []
        for score in scores:
            start = score.shard.start_row
            keep = np.arange(-start % stride, score.shard.num_rows, stride)
            stacked = np.stack(self.source_probabilities(score, refinement), axis=1)
            parts.append(stacked[keep])
        return np.concatenate(parts)

    def predict(
        self,
        scores: Sequence[ShardScore],
        combiner: Combiner,
        refinement: Refinement | None = None,
    ) -> Predictions:
        """Every row's prediction, shard by shard into arrays allocated once: concatenating
        per-shard parts held every row twice at the end."""
        if not scores:
            return Predictions.concatenate([])
        total = sum(score.shard.num_rows for score in scores)
        whole: Predictions | None = None
        start = 0
        for score in scores:
            per_source, has_text = self._load_shard(score, refinement)
            part = self._predictions(combiner(per_source), has_text)
            if whole is None:
                whole = _allocate_like(part, total, label_dtype(len(self.label_names)))
            rows = slice(start, start + score.shard.num_rows)
            for name in PREDICTION_ARRAYS:
                target = getattr(whole, name)
                if target is not None:
                    target[rows] = getattr(part, name)
            start = rows.stop
        assert whole is not None
        return whole

    def _predictions(self, probs: np.ndarray, has_text: np.ndarray | None = None) -> Predictions:
        if self.multi_label:
            cut = thresholds(self.config.selection, self.label_names)
            return Predictions.from_independent(probs, cut, has_text)
        return Predictions.from_probabilities(probs, has_text)

    def diagnose(self, sample: Callable[[], np.ndarray], combiner: Combiner) -> dict[str, Any]:
        """Snorkel-style coverage, overlap, conflict and agreement of each source (on a sample)."""
        if len(self.sources) < 2:
            return {}
        rows = sample()
        combined = self._predictions(combiner(list(rows.transpose(1, 0, 2))))
        if self.multi_label:
            # Diagnostics compare top labels: a source scored a row if it scored any label.
            some = ~np.isnan(rows).all(axis=2, keepdims=True)
            rows = np.where(some, np.nan_to_num(rows), np.nan)
        per_source = source_diagnostics(rows, [s.name for s in self.sources], combined.label)
        calibration = combiner.calibration or {}
        for name, figures in per_source.items():
            # Gold never reaches the input rows; the calibration file is where it exists.
            figures["accuracy"] = calibration.get(name, {}).get("gold_accuracy")
        described: dict[str, Any] = {"rows": len(rows), "sources": per_source}
        if calibration:
            described["accuracy_on"] = f"the {calibration['rows']} calibration gold rows"
        return described

    def select(self, predictions: Predictions) -> Selection:
        return select(predictions, self.config.selection, self.label_names)

    def assign_splits(self, predictions: Predictions, selection: Selection) -> np.ndarray:
        # Keys are streamed batch by batch: a list of every id would grow with the input.
        self._check_ids()
        return assign_splits_streamed(
            predictions.label,
            selection.status == ACCEPTED,
            self._key_batches(),
            self.config.output.splits,
            self.config.output.seed,
        )

    def _id_batches(self) -> Iterator[tuple[int, pa.Array]]:
        """The id column batch by batch, with each batch's first row; ids must be configured."""
        id_column = self.config.input.id_column
        assert id_column is not None
        for shard in self.dataset.shards:
            start = shard.start_row
            for batch in self.dataset.iter_batches(shard, [id_column]):
                yield start, batch.column(0)
                start += batch.num_rows

    def _key_batches(self) -> Iterator[tuple[int, Sequence[object]]]:
        """Each row's split key (its id, else its position), batch by batch."""
        if self.config.input.id_column is None:
            for shard in self.dataset.shards:
                yield shard.start_row, range(shard.start_row, shard.start_row + shard.num_rows)
            return
        for start, ids in self._id_batches():
            yield start, ids.to_pylist()

    def _check_ids(self) -> None:
        """Unique, non-null ids, checked on disk (work_dir) in memory flat in the row count."""
        id_column = self.config.input.id_column
        if id_column is not None:
            check_unique_ids(
                self._id_batches,
                self.dataset.num_rows,
                id_column,
                self.config.input.path,
                self.work_dir,
            )

    def select_rows(self, scores: Sequence[ShardScore]) -> Selected:
        """Combine, predict, select and split every row: the cheap, global half of a run."""
        refinement = self.refine(scores)
        # The label model and the diagnostics read one row sample, drawn at most once.
        sample = functools.cache(lambda: self._sample(scores, refinement))
        # Stored reviews (zslabel import-reviews) of this input's rows: gold and fixed labels.
        reviewed = self.matched_reviews()
        combiner = self.fit_combiner(sample, reviewed, refinement)
        predictions = self.predict(scores, combiner, refinement)
        _return_freed_memory()
        selection = self.select(predictions)
        # Rows a person labeled are accepted with that label.
        predictions, selection = apply_reviews(predictions, selection, reviewed)
        _return_freed_memory()
        split_index = self.assign_splits(predictions, selection)
        # Every decision is made: confidence and margin are only written now, and the export
        # recomputes them from the same probabilities, so they are not kept.
        predictions = replace(
            predictions,
            confidence=np.empty(0, dtype=np.float32),
            margin=np.empty(0, dtype=np.float32),
        )
        _return_freed_memory()
        return Selected(
            combiner,
            predictions,
            selection,
            split_index,
            self.diagnose(sample, combiner),
            review_counts(reviewed, selection),
            refinement,
        )

    def write_outputs(
        self, scores: Sequence[ShardScore], selected: Selected, clock: RunClock
    ) -> RunResult:
        """Write every output file and commit them atomically, ``run.json`` from ``clock``."""
        exported, staged = self.export(scores, selected, clock.run_id)
        manifest = self.manifest(scores, selected, exported)
        _return_freed_memory()  # before the review files and the report read the output back
        try:
            # Review files, report.html and README.md: staged, so committed with the data.
            manifest["files"].update(stage_documents(staged.staging, manifest))
        except BaseException:
            staged.abort()
            raise
        clock.lap("export")
        run_info = clock.to_dict(scores)
        try:
            staged.commit(manifest, {RUN_INFO: run_info})
        except OSError as exc:
            staged.abort()
            raise OutputError(f"{self.output_dir}: cannot write outputs ({exc})") from None
        return RunResult(self.output_dir, manifest, run_info)

    def matched_reviews(self) -> MatchedReviews | None:
        """The stored reviews matched to this input's rows by key and text; None without reviews
        (and then no pass over the id column)."""
        reviews = load_reviews(self.work_dir, self.label_names)
        if reviews is None:
            return None
        texts = self._texts_at if self.reads_text else None
        if self.config.input.id_column is None:
            return match_reviews(reviews, self.dataset.num_rows, texts)
        self._check_ids()
        return match_reviews(reviews, self._id_batches(), texts)

    def _texts_at(self, rows: np.ndarray) -> list[object]:
        """The text column at ``rows`` (ascending), read only in shards that hold one of them."""
        texts: list[object] = []
        for shard in self.dataset.shards:
            start = shard.start_row
            if not np.any((rows >= start) & (rows < start + shard.num_rows)):
                continue
            for batch in self.dataset.iter_batches(shard, [self.config.input.text_column]):
                mine = rows[(rows >= start) & (rows < start + batch.num_rows)] - start
                texts.extend(batch.column(0).take(pa.array(mine)).to_pylist())
                start += batch.num_rows
        return texts

    def export(
        self, scores: Sequence[ShardScore], selected: Selected, run_id: str
    ) -> tuple[dict[str, Any], StagedOutput]:
        """Stream every input row once more into the staged output files; return their stats."""
        combiner, predictions, selection, split_index, *_ = selected
        out = self.config.output
        split_names = list(out.splits)
        # A binary text column is written as text in CSV and JSONL, other bytes as base64.
        text_columns = [self.config.input.text_column] if self.reads_text else []
        staged = StagedOutput(self.output_dir, run_id, text_columns)
        try:
            labeled = staged.open(LABELED, "parquet", self.schema)
            abstained = staged.open(ABSTAINED_FILE, "parquet", self.schema)
            split_writers = [
                staged.open(split_file_name(name, out.format), out.format, self.schema)
                for name in split_names
            ]
            split_labels = np.asarray([*split_names, None], dtype=object)
            invalid_reasons: Counter[str] = Counter()
            accepted_confidence = _ClassMeans(len(self.label_names))
            for score in scores:
                per_source = self.source_probabilities(score, selected.refinement)
                probs = combiner(per_source)
                confidences, margins = self._recomputed(probs, selection, score.shard)
                windows = [
                    source.deciding_window(self._features(source, score))
                    for source in self.window_sources
                ]
                offset = score.shard.start_row
                text_reasons = self._text_reasons(score.shard, selection)
                for batch in self.dataset.iter_batches(score.shard):
                    rows = slice(offset, offset + batch.num_rows)
                    reasons = selection.reasons(rows)
                    status = selection.status[rows]
                    for i in np.flatnonzero(status == INVALID):
                        where = offset - score.shard.start_row + int(i)
                        why = self._invalid_reason(batch, int(i), text_reasons.get(where))
                        reasons[i] = why
                        invalid_reasons[why] += 1
                    local = slice(offset - score.shard.start_row, rows.stop - score.shard.start_row)
                    assigned = None if predictions.assigned is None else predictions.assigned[rows]
                    accepted_confidence.add(
                        predictions.label[rows], assigned, status == ACCEPTED, confidences[local]
                    )
                    table = pa.RecordBatch.from_arrays(
                        [
                            *batch.columns,
                            *columns.zs_arrays(
                                start_row=offset,
                                label=predictions.label[rows],
                                confidence=confidences[local],
                                margin=margins[local],
                                status=selection.status[rows],
                                reason=reasons,
                                split=split_labels[split_index[rows]],
                                probs=probs[local],
                                source_probs=[p[local] for p in per_source]
                                if self.shown_sources
                                else [],
                                windows=[w[local] for w in windows],
                                label_names=self.label_names,
                                assigned=assigned,
                            ),
                        ],
                        schema=self.schema,
                    )
                    labeled.write(table)
                    if (status == ABSTAINED).any():
                        abstained.write(filter_rows(table, pa.array(status == ABSTAINED)))
                    for k, writer in enumerate(split_writers):
                        in_split = split_index[rows] == k
                        if in_split.any():
                            writer.write(filter_rows(table, pa.array(in_split)))
                    offset += batch.num_rows
                    # Arrow's allocator keeps freed blocks; without handing them back batch by
                    # batch, fragmentation made peak memory grow with the number of rows.
                    pa.default_memory_pool().release_unused()
            files = staged.close_tables()
        except BaseException:
            staged.abort()
            raise
        return {
            "files": files,
            "invalid_reasons": dict(sorted(invalid_reasons.items())),
            "mean_confidence_accepted": accepted_confidence.means(),
        }, staged

    def _recomputed(
        self, probs: np.ndarray, selection: Selection, shard: Shard
    ) -> tuple[np.ndarray, np.ndarray]:
        """A shard's confidences and margins (float32) as ``predict`` computed them from the
        same probabilities; a row a person labeled has 1.0 for both, as ``apply_reviews`` set."""
        again = self._predictions(probs)
        confidences, margins = again.confidence.astype(np.float32), again.margin.astype(np.float32)
        rows = slice(shard.start_row, shard.start_row + shard.num_rows)
        reviewed = selection.reason_code[rows] == reason_code(HUMAN_REVIEW)
        confidences[reviewed] = margins[reviewed] = 1.0
        return confidences, margins

    def _text_reasons(self, shard: Shard, selection: Selection) -> dict[int, str]:
        """Why a shard's unusable texts are unusable, by row within the shard; read again only
        for a shard with invalid rows, from the stored values (the batches the export writes
        have U+FFFD where a text was not UTF-8)."""
        rows = slice(shard.start_row, shard.start_row + shard.num_rows)
        if not self.reads_text or not (selection.status[rows] == INVALID).any():
            return {}
        return self.dataset.read_texts(shard).invalid

    def _invalid_reason(self, batch: pa.RecordBatch, row: int, text_reason: str | None) -> str:
        """Why no source could score a row: its text (``text_reason``), else its image, else
        the model."""
        if text_reason is not None:
            return text_reason
        for column in self._columns:
            if column != self.config.input.text_column or not self.reads_text:
                value = image_ref(batch.column(column)[row].as_py(), None)
                return NULL_IMAGE if value is None else UNREADABLE_IMAGE
        # A usable text no source could score is rare (a model error).
        return NOT_SCORED

    # -- the manifest --------------------------------------------------------------------------

    def manifest(
        self, scores: Sequence[ShardScore], selected: Selected, exported: dict[str, Any]
    ) -> dict[str, Any]:
        combiner, predictions, selection, split_index, diagnostics, reviews, refinement = selected
        status_counts = {
            name: int(np.sum(selection.status == code)) for code, name in enumerate(STATUS_NAMES)
        }
        classes = {}
        for k, name in enumerate(self.label_names):
            predicted = (
                predictions.label == k
                if predictions.assigned is None
                else predictions.assigned[:, k]
            )
            accepted = predicted & (selection.status == ACCEPTED)
            mean = exported["mean_confidence_accepted"][k]
            classes[name] = {
                "accepted": int(accepted.sum()),
                "abstained": int(np.sum(predicted & (selection.status == ABSTAINED))),
                "mean_confidence_accepted": None if mean is None else round(mean, 4),
            }
        # Accepted rows may carry a reason too (human_review): counted apart. Counted by code,
        # one reason at a time: a Python pair per row grew with the input.
        abstain_reasons: dict[str, int] = {}
        accept_reasons: dict[str, int] = {}
        for code, why in enumerate(REASON_NAMES):
            if why is None:
                continue
            has_reason = selection.reason_code == code
            for status, counted in ((ABSTAINED, abstain_reasons), (ACCEPTED, accept_reasons)):
                n = int(np.count_nonzero(has_reason & (selection.status == status)))
                if n:
                    counted[why] = n
        # Redacted as a whole: paths with credentials appear in the config, the calibration
        # report and the sources, and the card and report are rendered from this.
        described: dict[str, Any] = redact_value(
            {
                "zslabel_version": __version__,
                "input": {
                    "path": self.config.input.path,
                    "columns": self.dataset.column_names,
                    "rows": self.dataset.num_rows,
                    "shards": len(scores),
                    "fingerprint": _input_fingerprint(scores),
                },
                "labels": [label.model_dump(mode="json") for label in self.config.labels],
                "sources": [source.provenance() for source in self.sources],
                # Only for jobs that ask for it, so that other manifests keep their bytes.
                **({"refinement": refinement.record} if refinement and refinement.record else {}),
                "combine": combiner.describe(),
                "source_diagnostics": diagnostics,
                "selection": {
                    **self.config.selection.model_dump(mode="json"),
                    "class_confidence_cutoffs": selection.class_cutoffs,
                },
                "counts": {
                    "rows": self.dataset.num_rows,
                    "status": status_counts,
                    "classes": classes,
                    "invalid_reasons": exported["invalid_reasons"],
                    "truncated_texts": self.truncated_texts(scores),
                    "abstain_reasons": dict(sorted(abstain_reasons.items())),
                    "accepted_reasons": dict(sorted(accept_reasons.items())),
                    # Stored reviews: applied, of invalid rows, of no row of the input.
                    **({"reviews": reviews} if reviews else {}),
                    "splits": {
                        name: int(np.sum(split_index == k))
                        for k, name in enumerate(self.config.output.splits)
                    },
                },
                "files": exported["files"],
                "config": self.config.model_dump(mode="json"),
            }
        )
        return described


def run_job(
    config: JobConfig, *, progress: bool = False, files: Collection[str] | None = None
) -> RunResult:
    """Label ``config.input`` (or only ``files`` of it) into ``config.output.dir``.

    Rerunning reuses cached scores. Incremental jobs go through
    :func:`zslabel.incremental.run_incremental`, which calls this for each new version.
    """
    if config.incremental:
        raise ConfigError(
            "this job is incremental: run it with zslabel.run_incremental, "
            "'zslabel label' or 'zslabel run'"
        )
    clock = RunClock()
    job = LabelingJob(config, files)
    # One run at a time per output folder; taken once the job is known to be valid, so that a
    # bad job leaves no lock or folder behind.
    with run_lock(job.output_dir, job.work_dir):
        clock.lap("open")
        work = job.dataset.num_rows * len(job.sources)
        with Progress(work, "scoring", enabled=progress) as bar:
            scores = [job.score_shard(shard, bar.advance) for shard in job.dataset.shards]
        clock.lap("score")
        selected = job.select_rows(scores)
        clock.lap("select")
        return job.write_outputs(scores, selected, clock)


# Predictions' per-row arrays (``assigned`` is None in single-label jobs).
PREDICTION_ARRAYS = ("label", "confidence", "margin", "has_text", "assigned")


class _ClassMeans:
    """Per class, the mean confidence of its accepted rows, added batch by batch."""

    def __init__(self, classes: int) -> None:
        self.sums = np.zeros(classes, dtype=np.float64)
        self.counts = np.zeros(classes, dtype=np.int64)

    def add(
        self,
        label: np.ndarray,
        assigned: np.ndarray | None,
        accepted: np.ndarray,
        confidence: np.ndarray,
    ) -> None:
        """``assigned``: a multi-label job's (rows, k) label sets, which count for each label."""
        for k in range(len(self.sums)):
            mine = accepted & (label == k if assigned is None else assigned[:, k])
            self.sums[k] += confidence[mine].sum(dtype=np.float64)
            self.counts[k] += int(mine.sum())

    def means(self) -> list[float | None]:
        return [
            float(total / count) if count else None
            for total, count in zip(self.sums, self.counts, strict=True)
        ]


def _allocate_like(part: Predictions, rows: int, label: np.dtype[Any]) -> Predictions:
    """Empty Predictions of ``rows`` rows with ``part``'s dtypes and row shapes, but labels as
    ``label``: a class index fits in a byte or two, and int64 cost 8 bytes for every row."""

    def like(array: np.ndarray, dtype: np.dtype[Any] | None = None) -> np.ndarray:
        return np.empty((rows, *array.shape[1:]), dtype or array.dtype)

    assigned = None if part.assigned is None else like(part.assigned)
    return Predictions(
        like(part.label, label),
        like(part.confidence),
        like(part.margin),
        like(part.has_text),
        assigned,
    )


def _libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``; None where the C library has none (macOS, musl)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _libc_malloc_trim()


def _return_freed_memory() -> None:
    """Hand memory freed by a global step back to the operating system.

    Each global step frees temporaries as large as a column of every row. glibc kept those
    pages (its mmap threshold rises to the size of the largest freed block, so later ones come
    from the heap), and Arrow's allocator cannot reuse them: measured at 1M rows, 20-30 MiB more
    at the export and report peaks, growing with the input. ``malloc_trim`` releases free pages
    anywhere in the heap; Arrow's pool keeps its own until ``release_unused``.
    """
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _gold_accuracy(probs: np.ndarray, gold: np.ndarray) -> float | None:
    """Top-label accuracy on the gold rows a source scored; None when it scored none."""
    scored = ~np.isnan(probs).any(axis=1) & (gold >= 0)
    if not scored.any():
        return None
    return round(float(np.mean(probs[scored].argmax(axis=1) == gold[scored])), 4)


def _ece(probs: np.ndarray, gold: np.ndarray) -> float:
    scored = ~np.isnan(probs).any(axis=1)
    correct = probs[scored].argmax(axis=1) == gold[scored]
    return round(expected_calibration_error(probs[scored].max(axis=1), correct), 4)


def _reliability(probs: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    scored = ~np.isnan(probs).any(axis=1)
    correct = probs[scored].argmax(axis=1) == gold[scored]
    return reliability_curve(probs[scored].max(axis=1), correct)


def _check_output_outside_input(input_path: str, output_dir: Path) -> None:
    """Outputs inside an input folder would be read back as input on the next run."""
    if "://" in input_path:
        return
    source = Path(input_path).expanduser().resolve()
    if source.is_dir() and output_dir.resolve().is_relative_to(source):
        raise ConfigError(
            f"output folder {output_dir} is inside the input folder {source}: the next run would "
            "read the outputs as input; choose an output folder outside it"
        )


def _truncated_key(feature_key: str) -> str:
    return cache_key("truncated", feature_key)


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
