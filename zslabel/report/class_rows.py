"""The example rows the report shows for each class, picked in two streamed passes.

Per class: the most and the least confident accepted rows, and the most confident abstained rows
(what the selection set aside although the model leaned to the class), each with its runner-up
label. The first pass reads only the row number, label, confidence, status and reason columns,
one record batch at a time, and keeps at most ``shown`` candidates per class and kind in numpy
arrays; the second reads the texts and label scores of the few picked rows only. Memory stays
bounded by the batch size and the number of classes, however big the output is; ties are broken
by row number, so a rerun picks the same rows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.errors import InputError
from zslabel.export import filter_rows
from zslabel.review.fields import HUMAN_REVIEW, as_text

SHOWN_ROWS = 5
# Characters of a text shown in the report; the rest is replaced by an ellipsis.
SHOWN_CHARS = 200
BATCH_ROWS = 16_384
KINDS = ("most_confident", "least_confident", "abstained")


@dataclass(frozen=True)
class ExampleRow:
    """One row as the report shows it; ``margin`` is the top label's probability minus the
    runner-up's (None where the row has no per-label scores)."""

    row: int
    key: str
    text: str
    confidence: float
    runner_up: str | None = None
    margin: float | None = None
    reason: str | None = None


@dataclass
class ClassRows:
    most_confident: list[ExampleRow] = field(default_factory=list)
    least_confident: list[ExampleRow] = field(default_factory=list)
    abstained: list[ExampleRow] = field(default_factory=list)


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` on one line (runs of whitespace as one space), cut to at most ``limit``
    characters plus an ellipsis.

    The cut never splits a user-perceived character: it moves back over combining marks,
    variation selectors, emoji modifiers and zero-width joiners (Unicode UAX #29's extend and
    ZWJ rules, in their common cases), so an accent or an emoji sequence is kept whole or left
    out whole.
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = limit
    while cut > 0 and (_extends(flat[cut]) or flat[cut - 1] == "\u200d"):
        cut -= 1
    return flat[:cut].rstrip() + "\u2026"


def _extends(char: str) -> bool:
    """Whether ``char`` belongs to the character before it (so a cut must not fall before it)."""
    code = ord(char)
    return (
        unicodedata.category(char) in {"Mn", "Me", "Mc"}
        or char == "\u200d"
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences
    )


def pick_class_rows(
    path: Path,
    label_names: Sequence[str],
    text_column: str | None,
    id_column: str | None = None,
    shown: int = SHOWN_ROWS,
) -> dict[str, ClassRows]:
    """The example rows of each class in ``label_names`` (a class without rows is left out).

    Rows labeled by people (reason ``human_review``) are no example of the model's confidence
    and are left out of the accepted examples. Raises InputError when ``path`` cannot be read.
    """
    names = list(label_names)
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the labeled rows ({exc})") from None
    kept = _candidates(parquet, names, shown)
    picked = np.unique(np.concatenate([rows for _, _, rows in kept.values()]))
    details = _details(parquet, names, picked, text_column, id_column)
    result: dict[str, ClassRows] = {}
    for kind, (classes, _, rows) in kept.items():
        for k, row in zip(classes.tolist(), rows.tolist(), strict=True):
            getattr(result.setdefault(names[k], ClassRows()), kind).append(details[row])
    return {name: result[name] for name in names if name in result}


Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]  # class index, sort key, row number


def _candidates(parquet: pq.ParquetFile, names: list[str], shown: int) -> dict[str, Candidates]:
    """Pass one: per kind, the first ``shown`` rows of each class by (key, row number)."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64))
    kept = dict.fromkeys(KINDS, empty)
    value_set = pa.array(names, pa.string())
    wanted = [columns.ROW, columns.LABEL, columns.CONFIDENCE, columns.STATUS, columns.REASON]
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        label = pc.fill_null(pc.index_in(batch.column(1), value_set=value_set), -1)
        classes = label.to_numpy(zero_copy_only=False).astype(np.int64)
        confidence = batch.column(2).to_numpy(zero_copy_only=False).astype(np.float64)
        status = batch.column(3)
        accepted = pc.equal(status, "accepted").to_numpy(zero_copy_only=False)
        abstained = pc.equal(status, "abstained").to_numpy(zero_copy_only=False)
        by_people = pc.fill_null(pc.equal(batch.column(4), HUMAN_REVIEW), False)
        usable = (classes >= 0) & ~np.isnan(confidence)
        model_accepted = accepted & ~by_people.to_numpy(zero_copy_only=False) & usable
        rows = batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
        for kind, mask, key in (
            ("most_confident", model_accepted, -confidence),
            ("least_confident", model_accepted, confidence),
            ("abstained", abstained & usable, -confidence),
        ):
            old = kept[kind]
            kept[kind] = _first_per_class(
                np.r_[old[0], classes[mask]],
                np.r_[old[1], key[mask]],
                np.r_[old[2], rows[mask]],
                shown,
            )
    return kept


def _first_per_class(
    classes: np.ndarray, key: np.ndarray, rows: np.ndarray, shown: int
) -> Candidates:
    """The ``shown`` smallest (key, row) of each class, ordered by class, key, row."""
    order = np.lexsort((rows, key, classes))
    classes, key, rows = classes[order], key[order], rows[order]
    starts = np.r_[0, np.flatnonzero(np.diff(classes)) + 1] if classes.size else np.zeros(0, int)
    rank = np.arange(classes.size) - np.repeat(starts, np.diff(np.r_[starts, classes.size]))
    keep = rank < shown
    return classes[keep], key[keep], rows[keep]


def _details(
    parquet: pq.ParquetFile,
    names: list[str],
    picked: np.ndarray,
    text_column: str | None,
    id_column: str | None,
) -> dict[int, ExampleRow]:
    """Pass two: the text, key, confidence and runner-up of each picked row."""
    if picked.size == 0:
        return {}
    present = set(parquet.schema_arrow.names)
    scores = [columns.score_column(n) for n in names if columns.score_column(n) in present]
    wanted = list(
        dict.fromkeys(
            [
                columns.ROW,
                columns.LABEL,
                columns.CONFIDENCE,
                columns.REASON,
                *(c for c in (text_column, id_column) if c is not None and c in present),
                *scores,
            ]
        )
    )
    value_set = pa.array(picked, pa.int64())
    details: dict[int, ExampleRow] = {}
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        mask = pc.is_in(batch.column(columns.ROW), value_set=value_set)
        for record in filter_rows(batch, mask).to_pylist():
            details[int(record[columns.ROW])] = _example(
                record, names, text_column, id_column, scores
            )
    return details


def _example(
    record: dict[str, Any],
    names: list[str],
    text_column: str | None,
    id_column: str | None,
    scores: list[str],
) -> ExampleRow:
    row = int(record[columns.ROW])
    key = record.get(id_column) if id_column else None
    value = record.get(text_column) if text_column else None
    # An image or other binary cell has no text to show: its size stands in.
    text = f"({len(value):,} bytes)" if isinstance(value, bytes) else shorten(as_text(value))
    label = record[columns.LABEL]
    # The runner-up: the best score of another label, ties to the label listed first.
    ranked = sorted(
        (-float(record[c]), k)
        for k, (n, c) in enumerate(zip(names, map(columns.score_column, names), strict=True))
        if c in scores and record[c] is not None and n != label
    )
    runner_up, margin = None, None
    own = record.get(columns.score_column(label)) if label is not None else None
    if ranked and own is not None:
        runner_up, margin = names[ranked[0][1]], float(own) + ranked[0][0]
    return ExampleRow(
        row=row,
        key=str(row if key is None else key),
        text=text,
        confidence=float(record[columns.CONFIDENCE]),
        runner_up=runner_up,
        margin=margin,
        reason=record[columns.REASON],
    )
