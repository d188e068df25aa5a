"""Reading an annotated Label Studio or Argilla export into one review per row key."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zslabel.errors import InputError
from zslabel.labelnames import describe_mismatch, label_index, lookup
from zslabel.review.argilla import from_argilla
from zslabel.review.fields import KEY_FIELD
from zslabel.review.label_studio import from_label_studio
from zslabel.review.store import Review
from zslabel.review.summary import SHARED_KEY, ImportSummary
from zslabel.rowkeys import EXACT_JSON_INTEGERS, row_key


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
            raw_key, text, answers = from_argilla(record)
        elif "data" in record:
            raw_key, text, answers = from_label_studio(record, source, where)
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
