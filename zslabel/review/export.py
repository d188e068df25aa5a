"""The review files a run writes: which labeled rows go to people, most useful first.

Which rows: the abstained ones, and accepted ones whose sources' top labels differ; never rows
already labeled by people, nor invalid ones. In which order: by a priority score, highest first,
ties to the lower row number (:func:`review_priority`). How many: every such row, or the
``review.limit`` most useful; the manifest entries of both files count the rows left out.

Memory stays bounded on any output size: a first streamed pass keeps only each candidate's
position, row number and priority in numpy arrays (with a limit, only the best rows so far);
a second pass turns the chosen rows into tasks and records batch by batch and spills them to
temporary files, which are then copied into the review files in priority order.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.export import file_sha256, filter_rows
from zslabel.review.argilla import argilla_record
from zslabel.review.fields import (
    ARGILLA_FILE,
    HUMAN_REVIEW,
    LABEL_STUDIO_CONFIG_FILE,
    LABEL_STUDIO_FILE,
    as_text,
)
from zslabel.review.label_studio import label_studio_task, labeling_config
from zslabel.rowkeys import row_key

# Rows read at a time; each row for review becomes a Python dict of every column (~2 KB).
BATCH_ROWS = 2048
# Decimals of the priority written and sorted on: what a reader sees is the order.
PRIORITY_DECIMALS = 4


def review_priority(margin: np.ndarray, rarity: np.ndarray) -> np.ndarray:
    """The priority of rows for review, ``(n,)`` floats in [0, 2], higher first:
    ``(1 - margin) * (1 + rarity)``, rounded to four decimals.

    ``margin`` (n,) is the top label's probability minus the runner-up's (``zs_margin``; in
    multi-label jobs the smallest distance of a label to its threshold), clipped to [0, 1], NaN
    taken as 0 (nothing separates the labels). Margin sampling (Scheffer, Decomain and Wrobel
    2001; Settles 2009, "Active Learning Literature Survey", section 3.1) asks people first about
    the rows whose top two labels are closest. ``rarity`` (n,) in [0, 1] is ``1 - accepted /
    most accepted`` of the row's predicted class (:func:`class_rarity`): a class with few
    accepted rows has its rows promoted, up to twice the score, so that its labels get checked
    before those of classes that already have plenty.
    """
    closeness = 1.0 - np.clip(np.nan_to_num(margin, nan=0.0), 0.0, 1.0)
    priority: np.ndarray = np.round(closeness * (1.0 + rarity), PRIORITY_DECIMALS)
    return priority


def class_rarity(manifest: Mapping[str, Any], names: list[str]) -> np.ndarray:
    """``(k + 1,)``: each label's rarity from the manifest's accepted counts, then 0 for rows
    without a job label (index -1)."""
    classes = manifest.get("counts", {}).get("classes", {})
    accepted = np.asarray(
        [float((classes.get(name) or {}).get("accepted", 0)) for name in names], dtype=np.float64
    )
    most = accepted.max(initial=0.0)
    rarity = 1.0 - accepted / most if most > 0 else np.zeros(len(names))
    with_none: np.ndarray = np.r_[rarity, 0.0]
    return with_none


@dataclass(frozen=True)
class ReviewOrder:
    """The rows chosen for review: ``positions`` (m,) in the file, in review order, and
    ``priority`` (m,) of each; ``candidates``: how many rows qualified before the limit."""

    positions: np.ndarray
    priority: np.ndarray
    candidates: int


def write_review_files(folder: Path, manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Write both review files from ``folder/labeled.parquet``, most useful rows first, and the
    Label Studio labeling config; return their manifest entries: ``rows`` written,
    ``candidates`` (rows that qualified), ``left_out`` (beyond ``review.limit``) and ``limit``.
    """
    # No read-ahead: the default pre-buffers whole column chunks, tens of MB on a large output.
    labeled = pq.ParquetFile(folder / "labeled.parquet", pre_buffer=False)
    names = labeled.schema_arrow.names
    config = manifest["config"]["input"]
    id_column = config.get("id_column")
    # An image-only job (CLIP sources) may have no text column: its rows go out without text.
    text_column = config["text_column"] if config["text_column"] in names else None
    sources = [
        (s["name"], *columns.source_columns(s["name"]))
        for s in manifest["sources"]
        if columns.source_columns(s["name"])[0] in names
    ]
    labels = [label["name"] for label in manifest["labels"]]
    limit = (manifest["config"].get("review") or {}).get("limit")
    order = _review_order(labeled, sources, class_rarity(manifest, labels), labels, limit)
    wanted = list(
        dict.fromkeys(
            [
                *([text_column] if text_column else []),
                *([id_column] if id_column else []),
                columns.ROW,
                columns.LABEL,
                columns.CONFIDENCE,
                columns.STATUS,
                columns.REASON,
                *(c for _, label_col, conf_col in sources for c in (label_col, conf_col)),
            ]
        )
    )
    method = str(manifest.get("combine", {}).get("method", "combined"))
    studio_path, argilla_path = folder / LABEL_STUDIO_FILE, folder / ARGILLA_FILE
    count = len(order.positions)
    with Spill(folder, count) as studio_spill, Spill(folder, count) as argilla_spill:
        for rank, row, priority in _chosen_rows(labeled, wanted, order):
            # A string always: a JSON number above 2**53 comes back rounded from a browser.
            key = row_key(row[id_column] if id_column else row[columns.ROW])
            text = as_text(row[text_column]) if text_column else ""
            studio_spill.put(rank, label_studio_task(row, key, text, sources, method, priority))
            argilla_spill.put(rank, argilla_record(row, key, text, method, priority))
        with open(studio_path, "wb") as studio, open(argilla_path, "wb") as argilla:
            studio.write(b"[")
            for rank, task in enumerate(studio_spill.in_order()):
                studio.write(b",\n" if rank else b"\n")
                studio.write(task)
            studio.write(b"\n]\n" if count else b"]\n")
            for record in argilla_spill.in_order():
                argilla.write(record + b"\n")
    config_path = folder / LABEL_STUDIO_CONFIG_FILE
    config_path.write_text(labeling_config(labels), encoding="utf-8", newline="\n")
    counts = {"rows": count, "candidates": order.candidates, "left_out": order.candidates - count}
    return {
        ARGILLA_FILE: {**counts, "limit": limit, "sha256": file_sha256(argilla_path)},
        LABEL_STUDIO_FILE: {**counts, "limit": limit, "sha256": file_sha256(studio_path)},
        LABEL_STUDIO_CONFIG_FILE: {"sha256": file_sha256(config_path)},
    }


def _review_order(
    labeled: pq.ParquetFile,
    sources: list[tuple[str, str, str]],
    rarity: np.ndarray,
    labels: list[str],
    limit: int | None,
) -> ReviewOrder:
    """Pass one: the rows for review (:func:`_for_review`), their priorities and their order."""
    has_margin = columns.MARGIN in labeled.schema_arrow.names
    wanted = [
        columns.ROW,
        columns.LABEL,
        *([columns.MARGIN] if has_margin else []),
        columns.STATUS,
        columns.REASON,
        *(label_col for _, label_col, _ in sources),
    ]
    value_set = pa.array(labels, pa.string())
    # Per batch: positions, row numbers, priorities; joined once (or when pruned), not per batch.
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    held, candidates, offset = 0, 0, 0
    for batch in labeled.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        chosen = _for_review(batch, [label_col for _, label_col, _ in sources])
        chosen = chosen.to_numpy(zero_copy_only=False)
        label = pc.fill_null(pc.index_in(batch.column(columns.LABEL), value_set=value_set), -1)
        margin = (
            batch.column(columns.MARGIN).to_numpy(zero_copy_only=False).astype(np.float64)
            if has_margin
            else np.full(batch.num_rows, np.nan)
        )
        classes = label.to_numpy(zero_copy_only=False).astype(np.int64)
        priority = review_priority(margin[chosen], rarity[classes[chosen]])
        rows = batch.column(columns.ROW).to_numpy(zero_copy_only=False).astype(np.int64)
        positions = offset + np.flatnonzero(chosen)
        parts.append((positions, rows[chosen], priority))
        held += len(positions)
        candidates += len(positions)
        offset += batch.num_rows
        if limit is not None and held > 2 * limit + BATCH_ROWS:
            parts = [_best(parts, limit)]  # bounded memory: the rest can never make the cut
            held = len(parts[0][0])
    positions, _, priority = _best(parts, limit)
    return ReviewOrder(positions, priority, candidates)


def _best(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], limit: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions, row numbers and priorities in review order (priority high to low, then row
    number), the first ``limit`` only when one is given."""
    positions, rows, priority = (
        np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, dtype=dtype)
        for i, dtype in enumerate((np.int64, np.int64, np.float64))
    )
    order = np.lexsort((rows, -priority))[:limit]
    return positions[order], rows[order], priority[order]


def _for_review(batch: pa.RecordBatch, source_labels: list[str]) -> pa.Array:
    """Abstained rows, and accepted ones whose sources' top labels differ; never reviewed ones."""
    status = batch.column(columns.STATUS)
    conflict = pa.array(np.zeros(batch.num_rows, dtype=bool))
    labels = [batch.column(label_col) for label_col in source_labels]
    for i, first in enumerate(labels):
        for second in labels[i + 1 :]:
            differ = pc.not_equal(first, second)  # null where either abstained
            conflict = pc.or_(conflict, pc.fill_null(differ, False))
    wanted_rows = pc.or_(
        pc.equal(status, "abstained"), pc.and_(pc.equal(status, "accepted"), conflict)
    )
    not_reviewed = pc.fill_null(pc.not_equal(batch.column(columns.REASON), HUMAN_REVIEW), True)
    return pc.fill_null(pc.and_(wanted_rows, not_reviewed), False)


def _chosen_rows(
    labeled: pq.ParquetFile, wanted: list[str], order: ReviewOrder
) -> Iterator[tuple[int, dict[str, Any], float]]:
    """Pass two: (rank in review order, row, priority) of every chosen row, in file order.

    Only the chosen rows become Python objects (texts included): the labeled file may be
    large, the review set is a fraction of it.
    """
    by_position = np.argsort(order.positions, kind="stable")
    positions = order.positions[by_position]
    offset = 0
    for batch in labeled.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        lo, hi = np.searchsorted(positions, [offset, offset + batch.num_rows])
        if hi > lo:
            mask = np.zeros(batch.num_rows, dtype=bool)
            mask[positions[lo:hi] - offset] = True
            # filter_rows: a string_view text column cannot be filtered as it is.
            rows = filter_rows(batch, pa.array(mask)).to_pylist()
            for rank, row in zip(by_position[lo:hi].tolist(), rows, strict=True):
                yield rank, row, float(order.priority[rank])
        offset += batch.num_rows


class Spill:
    """JSON documents put in any order, read back in rank order: written one after another to
    an unnamed temporary file, with each one's offset and length by rank (numpy, 16 bytes a
    document), then read back one by one."""

    def __init__(self, folder: Path, count: int) -> None:
        # Closed by __exit__: a Spill is only used as a context manager.
        self._handle = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115
        self._at = np.zeros((count, 2), dtype=np.int64)
        self._end = 0

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def put(self, rank: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        self._handle.write(data)
        self._at[rank] = (self._end, len(data))
        self._end += len(data)

    def in_order(self) -> Iterator[bytes]:
        self._handle.flush()
        # pread, not a memory map: mapped pages would count as this process's memory.
        fd = self._handle.fileno()
        for chunk in range(0, len(self._at), BATCH_ROWS):
            for start, length in self._at[chunk : chunk + BATCH_ROWS].tolist():
                yield os.pread(fd, length, start)
