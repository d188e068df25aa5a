"""Run a labeling job on one machine: shards -> cached features -> combine -> select -> export.

``LabelingJob`` exposes each step as a method taking plain values (a shard, a fingerprint), so
the Prefect flows can map ``score_shard`` over shards on any runner and call the global steps as
tasks; ``run_job`` wires the same steps in one process.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from zslabel import __version__, columns
from zslabel.cache import FeatureCache, cache_key
from zslabel.calibration import TemperatureScaler, expected_calibration_error, reliability_curve
from zslabel.combine import Combiner, fit_combiner
from zslabel.config import JobConfig, NliSourceSpec
from zslabel.dataset import InputDataset, Shard, text_status
from zslabel.diagnostics import source_diagnostics
from zslabel.errors import ConfigError, InputError, OutputError
from zslabel.export import StagedOutput, split_file_name
from zslabel.gold import load_gold
from zslabel.progress import Progress
from zslabel.selection import (
    ABSTAINED,
    ACCEPTED,
    INVALID,
    STATUS_NAMES,
    Predictions,
    Selection,
    select,
)
from zslabel.sources import EmbeddingSource, NliSource, Source, build_source
from zslabel.sources.nli import shortlist_mask
from zslabel.splits import assign_splits

LABELED = "labeled.parquet"
ABSTAINED_FILE = "abstained.parquet"
RUN_INFO = "run.json"
NOT_SCORED = "not_scored"
MIN_CALIBRATION_ROWS = 2


@dataclass(frozen=True)
class ShardScore:
    """What scoring one shard left behind: where its cached features are and whether they were."""

    shard: Shard
    fingerprint: str
    reused: bool


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
    """The global decisions: how sources combine, every row's prediction, status and split."""

    combiner: Combiner
    predictions: Predictions
    selection: Selection
    split_index: np.ndarray
    diagnostics: dict[str, Any]


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
        self.dataset = InputDataset(config.input, files)
        self.cache = FeatureCache(self.work_dir / "features")
        self.sources: list[Source] = [
            build_source(spec, config.labels, self.cache) for spec in config.sources
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
        )

    # -- per shard: the only expensive step -------------------------------------------------

    def score_shard(self, shard: Shard, on_rows: Callable[[int], None] | None = None) -> ShardScore:
        """Make sure every source's features for this shard are cached; compute what is not."""
        texts = self.dataset.read_texts(shard)
        advance = on_rows or (lambda rows: None)
        reused = True
        for i, source in enumerate(self.sources):
            key = self._feature_key(source, texts.fingerprint)
            if self.cache.has(key):
                advance(shard.num_rows)
                continue
            reused = False
            candidates = None
            if i in self._shortlists:
                # Sources are scored in order, so the shortlist source's features are cached.
                earlier, k = self._shortlists[i]
                shortlisted = self.sources[earlier]
                cached = self.cache.load(self._feature_key(shortlisted, texts.fingerprint))
                if cached is None:
                    raise OutputError(
                        f"{self.work_dir}: cached scores of source {shortlisted.name!r} for shard "
                        f"{shard.index} ({shard.path}) are missing or damaged; run again"
                    )
                valid = shortlisted.probabilities(cached[texts.valid_rows])
                candidates = shortlist_mask(valid, k)
            features = self._featurize(i, texts.texts, candidates, advance)
            full = np.full((shard.num_rows, *features.shape[1:]), np.nan, dtype=features.dtype)
            full[texts.valid_rows] = features
            self.cache.save(key, full)
            advance(len(texts.invalid))
        return ShardScore(shard, texts.fingerprint, reused)

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

    def source_probabilities(self, score: ShardScore) -> list[np.ndarray]:
        """Each source's (rows, classes) probabilities for a scored shard, from the cache."""
        return self._load_shard(score)[0]

    def _load_shard(self, score: ShardScore) -> tuple[list[np.ndarray], np.ndarray]:
        """Each source's probabilities, and which rows had a usable text.

        Features are NaN only on rows whose text could not be scored at all; a source that
        merely abstains (a rule that did not fire) has features there but NaN probabilities.
        """
        per_source = []
        has_text = np.zeros(score.shard.num_rows, dtype=bool)
        for source in self.sources:
            features = self._features(source, score)
            has_text |= ~np.isnan(features.reshape(len(features), -1)).all(axis=1)
            per_source.append(source.probabilities(features))
        return per_source, has_text

    def _features(self, source: Source, score: ShardScore) -> np.ndarray:
        features = self.cache.load(self._feature_key(source, score.fingerprint))
        if features is None:
            raise OutputError(
                f"{self.work_dir}: cached scores of shard {score.shard.index} "
                f"({score.shard.path}) are missing or damaged; run again to recompute them"
            )
        return features

    # -- global steps: cheap, need every row's prediction -----------------------------------

    def fit_combiner(self, sample: Callable[[], np.ndarray]) -> Combiner:
        calibrators, report = self.fit_calibration()
        return fit_combiner(
            self.config.combine.method,
            [s.weight for s in self.sources],
            sample,
            calibrators,
            report,
        )

    def fit_calibration(self) -> tuple[list[TemperatureScaler | None], dict[str, Any] | None]:
        """A temperature per source, fitted on the job's gold file, and what it changed."""
        spec = self.config.calibration
        if spec is None:
            return [None] * len(self.sources), None
        gold = load_gold(spec, self.label_names, self.config.input.text_column)
        fingerprint = cache_key("gold", gold.texts)
        scalers: list[TemperatureScaler | None] = []
        report: dict[str, Any] = {
            "gold": spec.gold,
            "rows": len(gold.texts),
            "skipped": gold.skipped,
        }
        gold_probs: list[np.ndarray] = []
        for i, source in enumerate(self.sources):
            candidates = None
            if i in self._shortlists:  # the same cascade as on the input rows
                earlier, k = self._shortlists[i]
                candidates = shortlist_mask(gold_probs[earlier], k)
            features, _ = self.cache.get_or_compute(
                cache_key("calibration", fingerprint, source.cache_identity()),
                functools.partial(self._featurize, i, gold.texts, candidates),
            )
            probs = source.probabilities(features)
            gold_probs.append(probs)
            scored = int((~np.isnan(probs).any(axis=1)).sum())
            if scored < MIN_CALIBRATION_ROWS:
                # A rule that fires on almost no gold row cannot be calibrated: leave it as is.
                scalers.append(None)
                report[source.name] = {"skipped": f"scored {scored} gold row(s), needs 2"}
                continue
            scaler = TemperatureScaler().fit(probs, gold.label)
            scalers.append(scaler)
            report[source.name] = {
                "temperature": round(scaler.temperature_, 4),
                "nll_before": round(scaler.nll_before_, 4),
                "nll_after": round(scaler.nll_after_, 4),
                # On the gold rows themselves: an optimistic estimate with a small gold file.
                "ece_before": _ece(probs, gold.label),
                "ece_after": _ece(scaler.transform(probs), gold.label),
                "reliability_after": _reliability(scaler.transform(probs), gold.label),
            }
        return scalers, report

    def _sample(self, scores: Sequence[ShardScore]) -> np.ndarray:
        """(rows, sources, classes) for at most combine.fit_rows rows spread over the input."""
        stride = max(1, math.ceil(self.dataset.num_rows / self.config.combine.fit_rows))
        parts = []
        for score in scores:
            start = score.shard.start_row
            keep = np.arange(-start % stride, score.shard.num_rows, stride)
            stacked = np.stack(self.source_probabilities(score), axis=1)
            parts.append(stacked[keep])
        return np.concatenate(parts)

    def predict(self, scores: Sequence[ShardScore], combiner: Combiner) -> Predictions:
        parts = []
        for score in scores:
            per_source, has_text = self._load_shard(score)
            parts.append(Predictions.from_probabilities(combiner(per_source), has_text))
        return Predictions.concatenate(parts)

    def diagnose(self, sample: Callable[[], np.ndarray], combiner: Combiner) -> dict[str, Any]:
        """Snorkel-style coverage, overlap, conflict and agreement of each source (on a sample)."""
        if len(self.sources) < 2:
            return {}
        rows = sample()
        combined = Predictions.from_probabilities(combiner(list(rows.transpose(1, 0, 2))))
        return {
            "rows": len(rows),
            "sources": source_diagnostics(rows, [s.name for s in self.sources], combined.label),
        }

    def select(self, predictions: Predictions) -> Selection:
        return select(predictions, self.config.selection, self.label_names)

    def assign_splits(self, predictions: Predictions, selection: Selection) -> np.ndarray:
        return assign_splits(
            predictions.label,
            selection.status == ACCEPTED,
            self._row_keys(),
            self.config.output.splits,
            self.config.output.seed,
        )

    def select_rows(self, scores: Sequence[ShardScore]) -> Selected:
        """Combine, predict, select and split every row: the cheap, global half of a run."""
        # The label model and the diagnostics read one row sample, drawn at most once.
        sample = functools.cache(lambda: self._sample(scores))
        combiner = self.fit_combiner(sample)
        predictions = self.predict(scores, combiner)
        selection = self.select(predictions)
        split_index = self.assign_splits(predictions, selection)
        return Selected(
            combiner, predictions, selection, split_index, self.diagnose(sample, combiner)
        )

    def write_outputs(
        self, scores: Sequence[ShardScore], selected: Selected, clock: RunClock
    ) -> RunResult:
        """Write every output file and commit them atomically, ``run.json`` from ``clock``."""
        exported, staged = self.export(scores, selected, clock.run_id)
        manifest = self.manifest(scores, selected, exported)
        clock.lap("export")
        run_info = clock.to_dict(scores)
        try:
            staged.commit(manifest, {RUN_INFO: run_info})
        except OSError as exc:
            staged.abort()
            raise OutputError(f"{self.output_dir}: cannot write outputs ({exc})") from None
        return RunResult(self.output_dir, manifest, run_info)

    def _row_keys(self) -> Sequence[object]:
        id_column = self.config.input.id_column
        if id_column is None:
            return range(self.dataset.num_rows)
        ids: list[object] = []
        for shard in self.dataset.shards:
            for batch in self.dataset.iter_batches(shard, [id_column]):
                ids.extend(batch.column(0).to_pylist())
        _check_ids(ids, id_column, self.config.input.path)
        return ids

    def export(
        self, scores: Sequence[ShardScore], selected: Selected, run_id: str
    ) -> tuple[dict[str, Any], StagedOutput]:
        """Stream every input row once more into the staged output files; return their stats."""
        combiner, predictions, selection, split_index, _ = selected
        out = self.config.output
        split_names = list(out.splits)
        staged = StagedOutput(self.output_dir, run_id)
        try:
            labeled = staged.open(LABELED, "parquet", self.schema)
            abstained = staged.open(ABSTAINED_FILE, "parquet", self.schema)
            split_writers = [
                staged.open(split_file_name(name, out.format), out.format, self.schema)
                for name in split_names
            ]
            split_labels = np.asarray([*split_names, None], dtype=object)
            invalid_reasons: Counter[str] = Counter()
            for score in scores:
                per_source = self.source_probabilities(score)
                probs = combiner(per_source)
                windows = [
                    source.deciding_window(self._features(source, score))
                    for source in self.window_sources
                ]
                offset = score.shard.start_row
                for batch in self.dataset.iter_batches(score.shard):
                    rows = slice(offset, offset + batch.num_rows)
                    reasons = list(selection.reason[rows])
                    text = batch.column(self.config.input.text_column).to_pylist()
                    status = selection.status[rows]
                    for i, value in enumerate(text):
                        if status[i] == INVALID:
                            # A usable text no source could score is rare (a model error).
                            why = text_status(value) or NOT_SCORED
                            reasons[i] = why
                            invalid_reasons[why] += 1
                    local = slice(offset - score.shard.start_row, rows.stop - score.shard.start_row)
                    table = pa.RecordBatch.from_arrays(
                        [
                            *batch.columns,
                            *columns.zs_arrays(
                                start_row=offset,
                                label=predictions.label[rows],
                                confidence=predictions.confidence[rows],
                                margin=predictions.margin[rows],
                                status=selection.status[rows],
                                reason=reasons,
                                split=split_labels[split_index[rows]],
                                probs=probs[local],
                                source_probs=[p[local] for p in per_source]
                                if self.shown_sources
                                else [],
                                windows=[w[local] for w in windows],
                                label_names=self.label_names,
                            ),
                        ],
                        schema=self.schema,
                    )
                    labeled.write(table)
                    if (status == ABSTAINED).any():
                        abstained.write(table.filter(pa.array(status == ABSTAINED)))
                    for k, writer in enumerate(split_writers):
                        in_split = split_index[rows] == k
                        if in_split.any():
                            writer.write(table.filter(pa.array(in_split)))
                    offset += batch.num_rows
            files = staged.close_tables()
        except BaseException:
            staged.abort()
            raise
        return {"files": files, "invalid_reasons": dict(sorted(invalid_reasons.items()))}, staged

    # -- the manifest --------------------------------------------------------------------------

    def manifest(
        self, scores: Sequence[ShardScore], selected: Selected, exported: dict[str, Any]
    ) -> dict[str, Any]:
        combiner, predictions, selection, split_index, diagnostics = selected
        status_counts = {
            name: int(np.sum(selection.status == code)) for code, name in enumerate(STATUS_NAMES)
        }
        classes = {}
        for k, name in enumerate(self.label_names):
            predicted = predictions.label == k
            accepted = predicted & (selection.status == ACCEPTED)
            classes[name] = {
                "accepted": int(accepted.sum()),
                "abstained": int(np.sum(predicted & (selection.status == ABSTAINED))),
                "mean_confidence_accepted": (
                    round(float(predictions.confidence[accepted].mean()), 4)
                    if accepted.any()
                    else None
                ),
            }
        abstain_reasons = Counter(r for r in selection.reason if r is not None)
        return {
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
                "abstain_reasons": dict(sorted(abstain_reasons.items())),
                "splits": {
                    name: int(np.sum(split_index == k))
                    for k, name in enumerate(self.config.output.splits)
                },
            },
            "files": exported["files"],
            "config": self.config.model_dump(mode="json"),
        }


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
    clock.lap("open")
    work = job.dataset.num_rows * len(job.sources)
    with Progress(work, "scoring", enabled=progress) as bar:
        scores = [job.score_shard(shard, bar.advance) for shard in job.dataset.shards]
    clock.lap("score")
    selected = job.select_rows(scores)
    clock.lap("select")
    return job.write_outputs(scores, selected, clock)


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


def _check_ids(ids: Sequence[object], column: str, origin: str) -> None:
    seen: dict[object, int] = {}
    for row, value in enumerate(ids):
        if value is None:
            raise InputError(f"{origin}: id column {column!r} is null at row {row}")
        if value in seen:
            raise InputError(
                f"{origin}: id column {column!r} has duplicate value {value!r} "
                f"(rows {seen[value]} and {row}); ids must be unique"
            )
        seen[value] = row


def _input_fingerprint(scores: Sequence[ShardScore]) -> str:
    digest = hashlib.sha256()
    for score in scores:
        digest.update(f"{score.shard.num_rows}:{score.fingerprint};".encode())
    return digest.hexdigest()
