"""Write: stream every input row once more into the staged output files (labeled, abstained,
one file per split), then commit them atomically with the manifest and the documents.

Confidences and margins are recomputed here, shard by shard, from the same cached features and
combiner that the predict stage used, so no stage holds them for every row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from zslabel import columns
from zslabel.dataset import Shard
from zslabel.errors import OutputError
from zslabel.export import StagedOutput, TableWriter, filter_rows, split_file_name
from zslabel.images import NULL_IMAGE, UNREADABLE_IMAGE, image_ref
from zslabel.pipeline import prototypes
from zslabel.pipeline.clock import RunClock
from zslabel.pipeline.decisions import Selected
from zslabel.pipeline.features import load_features, source_probabilities
from zslabel.pipeline.memory import return_freed_memory
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.predict import predictions_of
from zslabel.pipeline.score import ShardScore
from zslabel.report import stage_documents
from zslabel.selection import ABSTAINED, ACCEPTED, HUMAN_REVIEW, INVALID, Selection, reason_code

LABELED = "labeled.parquet"
ABSTAINED_FILE = "abstained.parquet"
RUN_INFO = "run.json"
NOT_SCORED = "not_scored"


@dataclass
class RunResult:
    output_dir: Path
    manifest: dict[str, Any]
    run_info: dict[str, Any]

    @property
    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = self.manifest["counts"]
        return counts


@dataclass(frozen=True)
class ExportRecord:
    """What the manifest says about the export: each file's stats, the invalid rows' reasons
    (counted), and per class the mean confidence of its accepted rows (None: no such row)."""

    files: dict[str, Any]
    invalid_reasons: dict[str, int]
    mean_confidence_accepted: list[float | None]


class Exported(NamedTuple):
    record: ExportRecord
    staged: StagedOutput  # the files written and closed, not yet committed


class _Writers(NamedTuple):
    labeled: TableWriter
    abstained: TableWriter
    splits: list[TableWriter]


def export(
    plan: JobPlan, scores: Sequence[ShardScore], selected: Selected, run_id: str
) -> Exported:
    """Write every input row into the staged output files; on any error the staging folder is
    removed and the error raised again."""
    out = plan.config.output
    # A binary text column is written as text in CSV and JSONL, other bytes as base64.
    text_columns = [plan.config.input.text_column] if plan.reads_text else []
    staged = StagedOutput(plan.output_dir, run_id, text_columns)
    try:
        writers = _Writers(
            staged.open(LABELED, "parquet", plan.schema),
            staged.open(ABSTAINED_FILE, "parquet", plan.schema),
            [
                staged.open(split_file_name(name, out.format), out.format, plan.schema)
                for name in out.splits
            ],
        )
        invalid_reasons: Counter[str] = Counter()
        accepted_confidence = _ClassMeans(len(plan.label_names))
        for score in scores:
            _export_shard(plan, score, selected, writers, invalid_reasons, accepted_confidence)
        files = staged.close_tables()
        if selected.refinement is not None:
            carried = selected.refinement.prototypes
            files.update(prototypes.write(staged.staging, plan.label_names, carried))
    except BaseException:
        staged.abort()
        raise
    record = ExportRecord(files, dict(sorted(invalid_reasons.items())), accepted_confidence.means())
    return Exported(record, staged)


def _export_shard(
    plan: JobPlan,
    score: ShardScore,
    selected: Selected,
    writers: _Writers,
    invalid_reasons: Counter[str],
    accepted_confidence: _ClassMeans,
) -> None:
    """One shard's rows, batch by batch, into every file they belong in."""
    combiner, predictions, selection, split_index, *_ = selected
    split_labels = np.asarray([*plan.config.output.splits, None], dtype=object)
    per_source = source_probabilities(plan, score, selected.refinement)
    probs = combiner(per_source)
    confidences, margins = _recomputed(plan, probs, selection, score.shard)
    windows = [
        source.deciding_window(load_features(plan, plan.sources.index(source), score))
        for source in plan.window_sources
    ]
    first = score.shard.start_row
    offset = first
    text_reasons = _text_reasons(plan, score.shard, selection)
    for batch in plan.dataset.iter_batches(score.shard):
        rows = slice(offset, offset + batch.num_rows)
        reasons = selection.reasons(rows)
        status = selection.status[rows]
        for i in np.flatnonzero(status == INVALID):
            why = _invalid_reason(plan, batch, int(i), text_reasons.get(offset - first + int(i)))
            reasons[i] = why
            invalid_reasons[why] += 1
        local = slice(offset - first, rows.stop - first)
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
                    source_probs=[p[local] for p in per_source] if plan.shown_sources else [],
                    windows=[w[local] for w in windows],
                    label_names=plan.label_names,
                    assigned=assigned,
                ),
            ],
            schema=plan.schema,
        )
        writers.labeled.write(table)
        if (status == ABSTAINED).any():
            writers.abstained.write(filter_rows(table, pa.array(status == ABSTAINED)))
        for k, writer in enumerate(writers.splits):
            in_split = split_index[rows] == k
            if in_split.any():
                writer.write(filter_rows(table, pa.array(in_split)))
        offset += batch.num_rows
        # Arrow's allocator keeps freed blocks; without handing them back batch by batch,
        # fragmentation made peak memory grow with the number of rows.
        pa.default_memory_pool().release_unused()


def commit(
    plan: JobPlan,
    staged: StagedOutput,
    manifest: dict[str, Any],
    clock: RunClock,
    scores: Sequence[ShardScore],
) -> RunResult:
    """Stage the documents rendered from ``manifest`` (review files, report.html, README.md)
    and commit every file atomically, ``run.json`` from ``clock``. Raises OutputError when the
    output folder cannot be written; the staging folder is removed on any error."""
    return_freed_memory()  # before the review files and the report read the output back
    try:
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
        raise OutputError(f"{plan.output_dir}: cannot write outputs ({exc})") from None
    return RunResult(plan.output_dir, manifest, run_info)


def _recomputed(
    plan: JobPlan, probs: np.ndarray, selection: Selection, shard: Shard
) -> tuple[np.ndarray, np.ndarray]:
    """A shard's confidences and margins (float32) as ``predict`` computed them from the
    same probabilities; a row a person labeled has 1.0 for both, as ``apply_reviews`` set."""
    again = predictions_of(plan, probs)
    confidences, margins = again.confidence.astype(np.float32), again.margin.astype(np.float32)
    rows = slice(shard.start_row, shard.start_row + shard.num_rows)
    reviewed = selection.reason_code[rows] == reason_code(HUMAN_REVIEW)
    confidences[reviewed] = margins[reviewed] = 1.0
    return confidences, margins


def _text_reasons(plan: JobPlan, shard: Shard, selection: Selection) -> dict[int, str]:
    """Why a shard's unusable texts are unusable, by row within the shard; read again only
    for a shard with invalid rows, from the stored values (the batches the export writes
    have U+FFFD where a text was not UTF-8)."""
    rows = slice(shard.start_row, shard.start_row + shard.num_rows)
    if not plan.reads_text or not (selection.status[rows] == INVALID).any():
        return {}
    return plan.dataset.read_texts(shard).invalid


def _invalid_reason(plan: JobPlan, batch: pa.RecordBatch, row: int, text_reason: str | None) -> str:
    """Why no source could score a row: its text (``text_reason``), else its image, else
    the model."""
    if text_reason is not None:
        return text_reason
    for column in plan.columns:
        if column != plan.config.input.text_column or not plan.reads_text:
            value = image_ref(batch.column(column)[row].as_py(), None)
            return NULL_IMAGE if value is None else UNREADABLE_IMAGE
    # A usable text no source could score is rare (a model error).
    return NOT_SCORED


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
