"""Run a labeling job on one machine: shards -> cached features -> combine -> select -> export.

``LabelingJob`` exposes each step as a method taking plain values (a shard, a fingerprint), so
the Prefect flows can map ``score_shard`` over shards on any runner and call the global steps as
tasks; ``run_job`` wires the same steps in one process.
"""

from __future__ import annotations

import datetime
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from zslabel import __version__, columns
from zslabel.cache import FeatureCache, cache_key
from zslabel.combine import weighted_mean
from zslabel.config import JobConfig
from zslabel.dataset import InputDataset, Shard, text_status
from zslabel.errors import InputError, OutputError
from zslabel.export import StagedOutput, split_file_name
from zslabel.progress import Progress
from zslabel.selection import ABSTAINED, ACCEPTED, STATUS_NAMES, Predictions, Selection, select
from zslabel.sources import Source, build_source
from zslabel.splits import assign_splits

LABELED = "labeled.parquet"
ABSTAINED_FILE = "abstained.parquet"
RUN_INFO = "run.json"


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


@dataclass
class _Timer:
    timings: dict[str, float] = field(default_factory=dict)

    def measure(self, name: str, start: float) -> None:
        self.timings[name] = round(time.perf_counter() - start, 3)


class LabelingJob:
    def __init__(self, config: JobConfig) -> None:
        self.config = config
        self.label_names = list(config.label_names)
        self.output_dir = Path(config.output.dir).expanduser()
        if self.output_dir.exists() and not self.output_dir.is_dir():
            raise OutputError(f"{self.output_dir}: output path exists and is not a folder")
        self.work_dir = Path(config.output.work_dir or self.output_dir / ".zslabel").expanduser()
        self.dataset = InputDataset(config.input)
        self.schema = columns.output_schema(
            self.dataset.schema, self.label_names, config.input.path
        )
        self.cache = FeatureCache(self.work_dir / "features")
        self.sources: list[Source] = [
            build_source(spec, config.labels, self.cache) for spec in config.sources
        ]

    # -- per shard: the only expensive step -------------------------------------------------

    def score_shard(self, shard: Shard, on_rows: Callable[[int], None] | None = None) -> ShardScore:
        """Make sure every source's features for this shard are cached; compute what is not."""
        texts = self.dataset.read_texts(shard)
        advance = on_rows or (lambda rows: None)
        reused = True
        for source in self.sources:
            key = self._feature_key(source, texts.fingerprint)
            if self.cache.load(key) is not None:
                advance(shard.num_rows)
                continue
            reused = False
            features = source.featurize(texts.texts, advance)
            full = np.full((shard.num_rows, features.shape[1]), np.nan, dtype=features.dtype)
            full[texts.valid_rows] = features
            self.cache.save(key, full)
            advance(len(texts.invalid))
        return ShardScore(shard, texts.fingerprint, reused)

    def _feature_key(self, source: Source, fingerprint: str) -> str:
        return cache_key("features", fingerprint, source.cache_identity())

    def shard_probabilities(self, score: ShardScore) -> np.ndarray:
        """Combined (rows, classes) probabilities of a scored shard, from its cached features."""
        per_source = []
        for source in self.sources:
            features = self.cache.load(self._feature_key(source, score.fingerprint))
            if features is None:
                raise OutputError(
                    f"{self.work_dir}: cached scores of shard {score.shard.index} "
                    f"({score.shard.path}) vanished; run again to recompute them"
                )
            per_source.append(source.probabilities(features))
        return weighted_mean(per_source, [s.weight for s in self.sources])

    # -- global steps: cheap, need every row's prediction -----------------------------------

    def predict(self, scores: Sequence[ShardScore]) -> Predictions:
        return Predictions.concatenate(
            [Predictions.from_probabilities(self.shard_probabilities(s)) for s in scores]
        )

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
        self,
        scores: Sequence[ShardScore],
        predictions: Predictions,
        selection: Selection,
        split_index: np.ndarray,
        run_id: str,
    ) -> tuple[dict[str, Any], StagedOutput]:
        """Stream every input row once more into the staged output files; return their stats."""
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
                probs = self.shard_probabilities(score)
                offset = score.shard.start_row
                for batch in self.dataset.iter_batches(score.shard):
                    rows = slice(offset, offset + batch.num_rows)
                    reasons = list(selection.reason[rows])
                    text = batch.column(self.config.input.text_column).to_pylist()
                    for i, value in enumerate(text):
                        why = text_status(value)
                        if why is not None:
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
                                label_names=self.label_names,
                            ),
                        ],
                        schema=self.schema,
                    )
                    labeled.write(table)
                    status = selection.status[rows]
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
        self,
        scores: Sequence[ShardScore],
        predictions: Predictions,
        selection: Selection,
        split_index: np.ndarray,
        exported: dict[str, Any],
    ) -> dict[str, Any]:
        status_counts = {
            name: int(np.sum(selection.status == code)) for code, name in enumerate(STATUS_NAMES)
        }
        classes = {
            name: {
                status: int(np.sum((predictions.label == k) & (selection.status == code)))
                for code, status in enumerate(STATUS_NAMES[:2])
            }
            for k, name in enumerate(self.label_names)
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
            "combine": "single" if len(self.sources) == 1 else "weighted_mean",
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


def run_job(config: JobConfig, *, progress: bool = False) -> RunResult:
    """Label ``config.input`` into ``config.output.dir``; rerunning reuses cached scores."""
    started = datetime.datetime.now(datetime.UTC)
    run_id = uuid.uuid4().hex[:12]
    timer = _Timer()
    t0 = time.perf_counter()
    job = LabelingJob(config)
    timer.measure("open", t0)

    t = time.perf_counter()
    work = job.dataset.num_rows * len(job.sources)
    with Progress(work, "scoring", enabled=progress) as bar:
        scores = [job.score_shard(shard, bar.advance) for shard in job.dataset.shards]
    timer.measure("score", t)

    t = time.perf_counter()
    predictions = job.predict(scores)
    selection = job.select(predictions)
    split_index = job.assign_splits(predictions, selection)
    timer.measure("select", t)

    t = time.perf_counter()
    exported, staged = job.export(scores, predictions, selection, split_index, run_id)
    manifest = job.manifest(scores, predictions, selection, split_index, exported)
    timer.measure("export", t)
    timer.measure("total", t0)
    reused = sum(s.reused for s in scores)
    run_info = {
        "run_id": run_id,
        "started_at": started.isoformat(timespec="seconds"),
        "timings_s": timer.timings,
        "shards": {"total": len(scores), "reused": reused, "scored": len(scores) - reused},
    }
    try:
        staged.commit(manifest, {RUN_INFO: run_info})
    except OSError as exc:
        staged.abort()
        raise OutputError(f"{job.output_dir}: cannot write outputs ({exc})") from None
    return RunResult(job.output_dir, manifest, run_info)


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
