"""What the report plots, accumulated batch by batch from ``labeled.parquet``.

Only the ``zs_label``, ``zs_confidence`` and ``zs_status`` columns (and a gold column when asked)
are read, one record batch at a time, into fixed-size counters: memory stays bounded however big
the output is, and every figure is exact (no sampling, so reruns give the same bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.errors import InputError
from zslabel.labelnames import canonical_label, label_index

HISTOGRAM_BINS = 20
RELIABILITY_BINS = 10
# The coverage-accuracy curve is exact up to this confidence resolution.
CURVE_BINS = 1000
BATCH_ROWS = 16_384
OTHER = "(not a job label)"


@dataclass
class GoldStats:
    """Counters over the valid rows (accepted or abstained) that have a gold label."""

    labels: list[str]  # gold label names: the job's, then any others seen
    confusion: list[list[int]]  # accepted rows: [gold index][predicted index]
    curve_count: np.ndarray  # valid rows by confidence bin (CURVE_BINS)
    curve_correct: np.ndarray
    reliability_count: np.ndarray  # valid rows by confidence bin (RELIABILITY_BINS)
    reliability_confidence: np.ndarray  # sum of confidences
    reliability_correct: np.ndarray
    accepted_rows: int = 0
    accepted_correct: int = 0
    valid_rows: int = 0
    valid_correct: int = 0
    rows_with_gold: int = 0


@dataclass
class ReportStats:
    label_names: list[str]
    # [class][status 0 accepted / 1 abstained][bin]: counts of rows by top-label confidence.
    histograms: np.ndarray
    gold: GoldStats | None = None
    rows: int = 0
    status: dict[str, int] = field(default_factory=dict)


def collect(path: Path, label_names: Sequence[str], gold_column: str | None = None) -> ReportStats:
    """Stream ``path`` once and count what the report shows."""
    names = list(label_names)
    index = {name: k for k, name in enumerate(names)}
    try:
        # No read-ahead: pre-buffering whole column chunks costs tens of MB on a large output.
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the labeled rows ({exc})") from None
    wanted = [columns.LABEL, columns.CONFIDENCE, columns.STATUS]
    if gold_column is not None:
        if gold_column not in parquet.schema_arrow.names:
            raise InputError(
                f"{path}: gold column {gold_column!r} not found; columns are "
                f"{', '.join(parquet.schema_arrow.names)}"
            )
        wanted.append(gold_column)
    stats = ReportStats(names, np.zeros((len(names), 2, HISTOGRAM_BINS), dtype=np.int64))
    gold = _empty_gold(names) if gold_column is not None else None
    status_counts: dict[str, int] = {}
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        label = np.asarray(
            [index.get(v, -1) if v is not None else -1 for v in batch.column(0).to_pylist()],
            dtype=np.int64,
        )
        confidence = batch.column(1).to_numpy(zero_copy_only=False).astype(np.float64)
        status = np.asarray(batch.column(2).to_pylist(), dtype=object)
        for name, count in zip(*np.unique(status, return_counts=True), strict=True):
            status_counts[str(name)] = status_counts.get(str(name), 0) + int(count)
        stats.rows += batch.num_rows
        _count_histograms(stats.histograms, label, confidence, status)
        if gold is not None:
            _count_gold(gold, label, confidence, status, batch.column(3).to_pylist())
    stats.status = dict(sorted(status_counts.items()))
    stats.gold = gold
    return stats


def _bins(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins on [0, 1], the top bin including 1.0 (as calibration.py does)."""
    return np.clip((confidence * bins).astype(np.int64), 0, bins - 1)


def _count_histograms(
    histograms: np.ndarray, label: np.ndarray, confidence: np.ndarray, status: np.ndarray
) -> None:
    for s, name in enumerate(("accepted", "abstained")):
        rows = (status == name) & (label >= 0) & ~np.isnan(confidence)
        bins = _bins(confidence[rows], HISTOGRAM_BINS)
        np.add.at(histograms[:, s, :], (label[rows], bins), 1)  # a view: counts in place


def _empty_gold(names: list[str]) -> GoldStats:
    return GoldStats(
        labels=list(names),
        confusion=[[0] * len(names) for _ in names],
        curve_count=np.zeros(CURVE_BINS, dtype=np.int64),
        curve_correct=np.zeros(CURVE_BINS, dtype=np.int64),
        reliability_count=np.zeros(RELIABILITY_BINS, dtype=np.int64),
        reliability_confidence=np.zeros(RELIABILITY_BINS, dtype=np.float64),
        reliability_correct=np.zeros(RELIABILITY_BINS, dtype=np.int64),
    )


def _count_gold(
    gold: GoldStats,
    label: np.ndarray,
    confidence: np.ndarray,
    status: np.ndarray,
    values: list[object],
) -> None:
    known = label_index(gold.labels)
    truth = np.full(len(values), -1, dtype=np.int64)
    for i, value in enumerate(values):
        if value is None:
            continue
        name = canonical_label(str(value))  # as evaluate compares them
        if name not in known:
            # Gold labels the job does not know still count, as always-wrong rows.
            known[name] = len(gold.labels)
            gold.labels.append(name)
            gold.confusion.append([0] * len(gold.confusion[0]))
        truth[i] = known[name]
    has_gold = truth >= 0
    gold.rows_with_gold += int(has_gold.sum())
    valid = has_gold & ((status == "accepted") | (status == "abstained")) & (label >= 0)
    correct = valid & (truth == label)
    accepted = valid & (status == "accepted")
    gold.valid_rows += int(valid.sum())
    gold.valid_correct += int(correct.sum())
    gold.accepted_rows += int(accepted.sum())
    gold.accepted_correct += int((accepted & correct).sum())
    for t, p in zip(truth[accepted], label[accepted], strict=True):
        gold.confusion[int(t)][int(p)] += 1
    conf = confidence[valid]
    ok = correct[valid].astype(np.int64)
    np.add.at(gold.curve_count, _bins(conf, CURVE_BINS), 1)
    np.add.at(gold.curve_correct, _bins(conf, CURVE_BINS), ok)
    bins = _bins(conf, RELIABILITY_BINS)
    np.add.at(gold.reliability_count, bins, 1)
    np.add.at(gold.reliability_confidence, bins, conf)
    np.add.at(gold.reliability_correct, bins, ok)


def coverage_accuracy(gold: GoldStats, max_points: int = 200) -> tuple[list[float], list[float]]:
    """Accuracy of the most confident valid rows against the share of rows kept, high to low."""
    count = gold.curve_count[::-1]
    correct = gold.curve_correct[::-1]
    nonempty = count > 0
    kept = np.cumsum(count)[nonempty]
    right = np.cumsum(correct)[nonempty]
    if kept.size == 0:
        return [], []
    step = max(1, int(np.ceil(kept.size / max_points)))
    pick = np.unique(np.r_[np.arange(0, kept.size, step), kept.size - 1])
    coverage = kept[pick] / kept[-1]
    accuracy = right[pick] / kept[pick]
    return [float(round(c, 4)) for c in coverage], [float(round(a, 4)) for a in accuracy]


def reliability(gold: GoldStats) -> dict[str, list[float] | list[int]]:
    """The reliability-diagram points of the valid rows, in calibration.py's format."""
    nonempty = gold.reliability_count > 0
    count = gold.reliability_count[nonempty]
    return {
        "mean_confidence": [
            float(round(c, 4)) for c in gold.reliability_confidence[nonempty] / count
        ],
        "accuracy": [float(round(a, 4)) for a in gold.reliability_correct[nonempty] / count],
        "count": [int(c) for c in count],
    }


def expected_calibration_error(gold: GoldStats) -> float | None:
    count = gold.reliability_count
    if count.sum() == 0:
        return None
    nonempty = count > 0
    gaps = np.abs(
        gold.reliability_confidence[nonempty] / count[nonempty]
        - gold.reliability_correct[nonempty] / count[nonempty]
    )
    return round(float(np.sum(gaps * count[nonempty]) / count.sum()), 4)


def macro_f1(confusion: Sequence[Sequence[int]], n_predicted: int) -> float | None:
    """Macro-F1 over classes present in gold or predictions (as zslabel.evaluate counts it)."""
    f1s = []
    for k in range(n_predicted):  # the job's labels; unknown gold rows count as errors only
        tp = confusion[k][k]
        actual = sum(confusion[k])
        predicted = sum(row[k] for row in confusion)
        if not actual and not predicted:
            continue
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return round(float(np.mean(f1s)), 4) if f1s else None
