"""``zslabel import-reviews``: human labels from review exports into the job's work folder.

Every review is checked against the rows of the output folder it was exported from before it is
stored. A review is stored only when its key names exactly one row there and, where the export
carries the text, a row with that text; the others are counted and named, never stored (a review
of no row is never applied, and it would still have been calibration gold). Keys are compared in
their :func:`~zslabel.rowkeys.row_key` form and labels in their
:func:`~zslabel.labelnames.canonical_label` form.

Records of one file that share a key are one row exported twice when their texts agree (their
answers are counted together, like several annotators of one task), and no single row when they
do not (keys that were JSON numbers above 2**53 and came back rounded from a browser).
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.errors import InputError, OutputError
from zslabel.export import MANIFEST
from zslabel.incremental import INDEX, read_index
from zslabel.labelnames import describe_mismatch, label_index, lookup
from zslabel.review import (
    KEY_FIELD,
    QUESTION,
    REVIEWS_FILE,
    REVIEWS_SCHEMA,
    TEXT_FIELD,
    Review,
    read_store,
    same_text,
)
from zslabel.rowkeys import EXACT_JSON_INTEGERS, NO_ROW, match_keys, row_key

__all__ = [
    "NO_ROW_WITH_KEY",
    "OTHER_TEXT",
    "SEVERAL_ROWS_WITH_KEY",
    "SHARED_KEY",
    "ImportSummary",
    "import_reviews",
    "read_review_file",
]

# Why a review is not stored (the keys of ImportSummary.unmatched).
NO_ROW_WITH_KEY = "no row has this key"
OTHER_TEXT = "the row with this key has another text"
SEVERAL_ROWS_WITH_KEY = "several rows have this key"
SHARED_KEY = "records with different texts share this key"
LABELED = "labeled.parquet"
BATCH_ROWS = 65_536


@dataclass
class ImportSummary:
    """What an import read, matched and stored."""

    path: Path = Path()  # the store
    checked: tuple[Path, ...] = ()  # the labeled files whose rows the keys were checked against
    rows: int = 0  # their rows
    matched: int = 0  # reviews whose key names exactly one row: stored
    stored: int = 0  # rows those reviews name (of two reviews of one row, the later file's wins)
    total: int = 0  # reviews in the store afterwards
    duplicate: int = 0  # records with the key of an earlier record of the same file
    skipped: Counter[str] = field(default_factory=Counter)  # why records gave no label
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # why -> keys not stored
    numeric_keys: set[str] = field(default_factory=set)  # keys read as JSON numbers >= 2**53

    @property
    def unmatched_count(self) -> int:
        return sum(len(keys) for keys in self.unmatched.values())

    @property
    def rounded_keys(self) -> int:
        """Unmatched reviews whose key a browser may have rounded (a JSON number >= 2**53)."""
        return sum(key in self.numeric_keys for keys in self.unmatched.values() for key in keys)

    def set_apart(self, why: str, key: str) -> None:
        self.unmatched.setdefault(why, []).append(key)


# -- reading an export ------------------------------------------------------------------------


@dataclass
class _Row:
    """The records of one file that share a key."""

    text: str | None = None
    texts: set[str] = field(default_factory=set)
    answers: list[str] = field(default_factory=list)


def read_review_file(
    path: str | Path, label_names: Sequence[str], summary: ImportSummary | None = None
) -> list[Review]:
    """Human labels from a Label Studio JSON export or an Argilla JSON / JSONL export.

    Records without a (submitted, not cancelled) answer are skipped and counted in ``summary``;
    so are rows whose annotators disagree without a majority. Records that share a key are
    counted as duplicates: with one text their answers count together, with different texts the
    key names no single row and is set apart in ``summary.unmatched``. A label that is not one of
    ``label_names`` is an error naming the file and the record.
    """
    source = Path(path)
    summary = summary if summary is not None else ImportSummary()
    index = label_index(label_names)
    by_key: dict[str, _Row] = {}
    for where, record in _records(source):
        if not isinstance(record, Mapping):
            raise InputError(f"{source}: {where}: expected a JSON object, got {record!r:.60}")
        if "fields" in record:
            raw_key, text, answers = _from_argilla(record)
        elif "data" in record:
            raw_key, text, answers = _from_label_studio(record, source, where)
        else:
            raise InputError(
                f"{source}: {where}: neither a Label Studio task ('data') nor an Argilla record "
                "('fields')"
            )
        if raw_key is None:
            raise InputError(
                f"{source}: {where}: no '{KEY_FIELD}' to match the row; import files that "
                "zslabel exported (review.label_studio.json, review.argilla.jsonl)"
            )
        key = row_key(raw_key)
        if isinstance(raw_key, int | float) and abs(raw_key) >= EXACT_JSON_INTEGERS:
            summary.numeric_keys.add(key)
        labels = [_job_label(answer, index, label_names, source, where, key) for answer in answers]
        if not labels:
            summary.skipped["no answer"] += 1
        row = by_key.get(key)
        if row is None:
            row = by_key[key] = _Row()
        else:
            summary.duplicate += 1
        if text is not None:
            row.text = text if row.text is None else row.text
            row.texts.add(unicodedata.normalize("NFC", text))
        row.answers.extend(labels)
    reviews = []
    for key, row in by_key.items():
        if not row.answers:
            continue
        if len(row.texts) > 1:
            summary.set_apart(SHARED_KEY, key)
            continue
        ranked = Counter(row.answers).most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            summary.skipped["annotators disagree"] += 1
            continue
        reviews.append(Review(key, row.text, ranked[0][0]))
    return reviews


def _job_label(
    answer: str,
    index: Mapping[str, int],
    label_names: Sequence[str],
    source: Path,
    where: str,
    key: str,
) -> str:
    """The job's spelling of ``answer``; an error naming the record when it is no job label."""
    k = lookup(answer, index)
    if k is None:
        why = describe_mismatch(answer, label_names)
        raise InputError(
            f"{source}: {where} (row key {key!r}): label {answer!r} is not a label of the job "
            f"({', '.join(label_names)})" + (f": {why}" if why else "")
        )
    return label_names[k]


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) for a JSON list or JSON-lines file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the review file ({exc})") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        for i, record in enumerate(records):
            yield f"record {i}", record
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}: line {number}: not valid JSON ({exc})") from None


def _from_label_studio(
    task: Mapping[str, Any], path: Path, where: str
) -> tuple[object, str | None, list[str]]:
    data = task.get("data") or {}
    answers = []
    for annotation in task.get("annotations") or []:
        if not isinstance(annotation, Mapping) or annotation.get("was_cancelled"):
            continue
        choices = [
            result
            for result in annotation.get("result") or []
            if isinstance(result, Mapping) and result.get("type") == "choices"
        ]
        # Our control is "label"; a project set up with another name has one choices control.
        named = [r for r in choices if r.get("from_name") == QUESTION] or choices[:1]
        for result in named:
            picked = (result.get("value") or {}).get("choices") or []
            if len(picked) != 1:
                raise InputError(
                    f"{path}: {where}: expected one choice per annotation, got {picked!r}"
                )
            answers.append(str(picked[0]))
    return data.get(KEY_FIELD), _text(data.get(TEXT_FIELD)), answers


def _from_argilla(record: Mapping[str, Any]) -> tuple[object, str | None, list[str]]:
    metadata = record.get("metadata") or {}
    key = metadata.get(KEY_FIELD, record.get("id"))
    responses = (record.get("responses") or {}).get(QUESTION) or []
    answers = []
    for response in responses:
        if not isinstance(response, Mapping) or response.get("value") is None:
            continue
        # Exports of newer Argilla versions carry a status: drafts and discards are no answer.
        if response.get("status", "submitted") != "submitted":
            continue
        value = response["value"]
        answers.append(str(value[0]) if isinstance(value, list) and len(value) == 1 else str(value))
    return key, _text((record.get("fields") or {}).get(TEXT_FIELD)), answers


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# -- checking keys against the output folder's rows -------------------------------------------


@dataclass(frozen=True)
class _Labeled:
    """One labeled file of the output folder and the columns that identify its rows."""

    path: Path
    key_column: str  # the id column, else zs_row
    text_column: str | None
    rows: int


def _labeled_files(output_dir: Path) -> list[_Labeled]:
    """The output folder's labeled rows; for an incremental job's folder, every version's."""
    if not (output_dir / MANIFEST).is_file() and (output_dir / INDEX).is_file():
        versions = read_index(output_dir)["versions"]
        if versions:
            return [_labeled(output_dir / str(version["dir"])) for version in versions]
    return [_labeled(output_dir)]


def _labeled(folder: Path) -> _Labeled:
    manifest_path = folder / MANIFEST
    try:
        config = json.loads(manifest_path.read_text(encoding="utf-8"))["config"]["input"]
        id_column, text_column = config.get("id_column"), config.get("text_column")
    except FileNotFoundError:
        raise InputError(
            f"{manifest_path}: not found; reviews are checked against the rows of the output "
            "folder they were exported from: run the job first, or give that folder with --out"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{manifest_path}: not a zslabel manifest ({exc})") from None
    path = folder / LABELED
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the labeled rows ({exc})") from None
    names = parquet.schema_arrow.names
    key_column = id_column or columns.ROW
    if key_column not in names:
        raise InputError(f"{path}: no column {key_column!r} to match the review keys with")
    return _Labeled(
        path,
        key_column,
        text_column if text_column in names else None,
        parquet.metadata.num_rows,
    )


def _find_rows(labeled: Sequence[_Labeled], keys: list[str]) -> dict[str, list[tuple[int, int]]]:
    """For each key found: the (labeled file, row) of each row it names (row SEVERAL_ROWS where
    it names several rows of one file); keys of no row are left out."""
    hits: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for f, part in enumerate(labeled):
        found = match_keys(keys, _key_batches(part))
        for k in np.flatnonzero(found != NO_ROW).tolist():
            hits[keys[k]].append((f, int(found[k])))
    return hits


def _key_batches(part: _Labeled) -> Iterator[tuple[int, pa.Array]]:
    parquet = pq.ParquetFile(part.path, pre_buffer=False)
    start = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[part.key_column]):
        yield start, batch.column(0)
        start += batch.num_rows


def _row_texts(part: _Labeled, rows: Sequence[int]) -> dict[int, object]:
    """The text of each of ``rows`` of one labeled file, reading only row groups that hold one."""
    if part.text_column is None or not rows:
        return {}
    parquet = pq.ParquetFile(part.path, pre_buffer=False)
    ends = np.cumsum(
        [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)]
    )
    wanted: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        wanted[int(np.searchsorted(ends, row, side="right"))].append(row)
    texts: dict[int, object] = {}
    for group, in_group in sorted(wanted.items()):
        first = int(ends[group - 1]) if group else 0
        values = parquet.read_row_group(group, columns=[part.text_column]).column(0)
        for row in in_group:
            texts[row] = values[row - first].as_py()
    return texts


# -- storing ----------------------------------------------------------------------------------


def import_reviews(
    files: Sequence[str | Path],
    work_dir: str | Path,
    label_names: Sequence[str],
    *,
    output_dir: str | Path,
) -> ImportSummary:
    """Read review exports, check them against ``output_dir``'s labeled rows, and merge the
    labels of the reviews that name exactly one row into ``work_dir/reviews.parquet``.

    A row reviewed again takes the newer label (files later in ``files`` win). Reviews that name
    no row, or several, or a row with another text are not stored: ``unmatched`` says which and
    why.
    """
    labeled = _labeled_files(Path(output_dir))
    summary = ImportSummary(
        path=Path(work_dir) / REVIEWS_FILE,
        checked=tuple(part.path for part in labeled),
        rows=sum(part.rows for part in labeled),
    )
    new: list[tuple[Review, str]] = []
    for path in files:
        new.extend((review, str(path)) for review in read_review_file(path, label_names, summary))
    found = _find_rows(labeled, list(dict.fromkeys(review.key for review, _ in new)))
    rows_of: dict[int, list[int]] = defaultdict(list)
    for f, row in (where for hits in found.values() for where in hits):
        if row >= 0:
            rows_of[f].append(row)
    texts = {f: _row_texts(labeled[f], sorted(rows)) for f, rows in rows_of.items()}
    kept: dict[str, dict[str, Any]] = {}
    for review, origin in new:
        hits = found.get(review.key, [])
        # Where the key names rows of several versions, the one with the review's text is it.
        same = [
            (f, row)
            for f, row in hits
            if row >= 0
            and (labeled[f].text_column is None or same_text(review.text, texts[f][row]))
        ]
        if not hits:
            summary.set_apart(NO_ROW_WITH_KEY, review.key)
        elif len(same) > 1 or (not same and any(row < 0 for _, row in hits)):
            summary.set_apart(SEVERAL_ROWS_WITH_KEY, review.key)
        elif not same:
            summary.set_apart(OTHER_TEXT, review.key)
        else:
            summary.matched += 1
            kept.pop(review.key, None)
            kept[review.key] = {
                "key": review.key,
                "text": review.text,
                "label": review.label,
                "file": origin,
            }
    summary.stored = len(kept)
    stored = read_store(summary.path).to_pylist() if summary.path.is_file() else []
    if not kept:
        summary.total = len(stored)
        return summary
    merged = {row_key(old["key"]): {**old, "key": row_key(old["key"])} for old in stored}
    for key, review_row in kept.items():
        merged.pop(key, None)  # re-insert: the newest review comes last
        merged[key] = review_row
    table = pa.Table.from_pylist(list(merged.values()), schema=REVIEWS_SCHEMA)
    summary.path.parent.mkdir(parents=True, exist_ok=True)
    temporary = summary.path.with_name(f".{REVIEWS_FILE}.tmp")
    try:
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, summary.path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{summary.path}: cannot store the reviews ({exc})") from None
    summary.total = table.num_rows
    return summary
