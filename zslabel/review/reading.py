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
from zslabel.labelnames import (
    canonical_label,
    case_folded_label,
    describe_mismatch,
    label_index,
    lookup,
)
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
    path: str | Path,
    label_names: Sequence[str],
    summary: ImportSummary | None = None,
    *,
    skip_invalid: bool = False,
) -> list[Review]:
    """Human labels from a Label Studio JSON export or an Argilla JSON / JSONL export.

    Records without a (submitted, not cancelled) answer are skipped and counted in ``summary``
    (an annotation with no result and one with an empty choice list alike); so are rows whose
    annotators disagree without a majority. Records that share a key are counted as
    duplicates: with one text their answers count together, with different texts the key names
    no single row and is set apart in ``summary.unmatched``. An answer that names a job label in
    other letter case (``Software`` for ``software``: a project whose labeling config was typed
    by hand) counts as that label, in ``summary.case_folded``.

    Raises InputError listing every invalid record of the file at once (a label that is not one
    of ``label_names``, several choices in one annotation, no row key), each named by its
    position, Label Studio task id and row key; with ``skip_invalid`` they are left out instead,
    counted in ``summary.skipped`` and listed in ``summary.invalid``.
    """
    source = Path(path)
    summary = summary if summary is not None else ImportSummary()
    labels = _JobLabels.of(label_names)
    by_key: dict[str, _Row] = {}
    problems: list[str] = []
    for where, record in _records(source):
        try:
            key, text, answers = _read_record(source, where, record, labels, summary)
        except InputError as exc:
            problems.append(str(exc).removeprefix(f"{source}: "))
            continue
        if not answers:
            summary.skipped["no answer"] += 1
        row = by_key.get(key)
        if row is None:
            row = by_key[key] = _Row()
        else:
            summary.duplicate += 1
        if text is not None:
            row.text = text if row.text is None else row.text
            row.texts.add(unicodedata.normalize("NFC", text))
        row.answers.extend(answers)
    if problems and not skip_invalid:
        raise invalid_records(f"{source}: ", problems)
    if problems:
        summary.skipped["invalid"] += len(problems)
        summary.invalid.extend(f"{source}: {problem}" for problem in problems)
    return _reviews(by_key, summary)


# Invalid records an error lists; the rest are counted.
MAX_LISTED = 20


def invalid_records(prefix: str, problems: Sequence[str]) -> InputError:
    """The error that lists ``problems`` (invalid records), after ``prefix`` (a file, or none
    when the problems name their files)."""
    shown = "\n  ".join(problems[:MAX_LISTED])
    more = f"\n  and {len(problems) - MAX_LISTED:,} more" if len(problems) > MAX_LISTED else ""
    return InputError(
        f"{prefix}{len(problems):,} invalid record(s), nothing imported:\n  {shown}{more}\n"
        "Fix them in the review tool (or the file), or import the other records with "
        "--skip-invalid"
    )


@dataclass(frozen=True)
class _JobLabels:
    names: tuple[str, ...]
    index: Mapping[str, int]  # canonical name -> class
    folded: Mapping[str, str | None]  # folded name -> name; None where several fold alike

    @classmethod
    def of(cls, label_names: Sequence[str]) -> _JobLabels:
        folded: dict[str, str | None] = {}
        for name in label_names:
            key = case_folded_label(name)
            folded[key] = None if key in folded else name
        return cls(tuple(label_names), label_index(label_names), folded)


def _read_record(
    source: Path,
    where: str,
    record: Any,
    labels: _JobLabels,
    summary: ImportSummary,
) -> tuple[str, str | None, list[str]]:
    """One record's row key, text and answers in the job's spelling; InputError naming the
    record (and its Label Studio task id) when it cannot be read."""
    if not isinstance(record, Mapping):
        raise InputError(f"{source}: {where}: expected a JSON object, got {record!r:.60}")
    if "fields" not in record and "data" not in record:
        raise InputError(
            f"{source}: {where}: neither a Label Studio task ('data') nor an Argilla record "
            "('fields')"
        )
    if "data" in record and isinstance(record.get("id"), int | str):
        where = f"{where} (task id {record['id']})"
    try:
        if "fields" in record:
            raw_key, text, answers = from_argilla(record)
        else:
            raw_key, text, answers = from_label_studio(record, source, where)
    except InputError:
        raise
    except ValueError as exc:  # an answer the export cannot mean (from_argilla)
        raise InputError(f"{source}: {where}: {exc}") from None
    except (AttributeError, TypeError) as exc:  # a field of another shape
        raise InputError(f"{source}: {where}: cannot read the record ({exc})") from None
    if raw_key is None:
        raise InputError(
            f"{source}: {where}: no '{KEY_FIELD}' to match the row; import files that "
            "zslabel exported (review.label_studio.json, review.argilla.jsonl)"
        )
    key = row_key(raw_key)
    if isinstance(raw_key, int | float) and abs(raw_key) >= EXACT_JSON_INTEGERS:
        summary.numeric_keys.add(key)
    named = f"{source}: {where} (row key {key!r})"
    read = [_job_label(answer, labels, named) for answer in answers]
    for answer, label in zip(answers, read, strict=True):
        if lookup(answer, labels.index) is None:  # read in the job's letter case
            summary.case_folded[f"{canonical_label(answer)} -> {label}"] += 1
    return key, text, read


def _reviews(by_key: Mapping[str, _Row], summary: ImportSummary) -> list[Review]:
    """One review per key with answers: the majority label; keys of several texts and ties
    between annotators are set apart or skipped, in ``summary``."""
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


def _job_label(answer: str, labels: _JobLabels, where: str) -> str:
    """The job's spelling of ``answer`` (letter case aside where that names one label); an
    error naming the record when it is no job label."""
    k = lookup(answer, labels.index)
    if k is not None:
        return labels.names[k]
    key = case_folded_label(answer)
    name = labels.folded.get(key)
    if name is not None:
        return name
    if key in labels.folded:
        alike = [n for n in labels.names if case_folded_label(n) == key]
        raise InputError(
            f"{where}: label {answer!r} is, letter case aside, several labels of the job "
            f"({', '.join(alike)}): answer with the job's spelling"
        )
    why = describe_mismatch(answer, labels.names)
    raise InputError(
        f"{where}: label {answer!r} is not a label of the job "
        f"({', '.join(labels.names)})" + (f": {why}" if why else "")
    )


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
