"""The review loop: rows for people to check out, their labels back in, and into the next run.

1. A labeling run writes the abstained rows and the accepted rows whose sources disagree as
   import files for Label Studio (``review.label_studio.json``: tasks with the predictions as
   pre-annotations) and Argilla 2.x (``review.argilla.jsonl``: records with suggestions).
2. ``zslabel import-reviews`` reads the annotated export of either tool and stores the human
   labels in the job's work folder (``reviews.parquet``), keyed by the row key: the id column's
   value when the job has one, else the row number ``zs_row``.
3. The next run uses them as calibration gold and as fixed labels: :func:`apply_reviews` turns
   every reviewed row into an accepted row with the human label, confidence 1.0 and reason
   ``human_review``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.dataset import text_status
from zslabel.errors import InputError, OutputError
from zslabel.export import file_sha256
from zslabel.gold import GoldSet
from zslabel.selection import ACCEPTED, INVALID, Predictions, Selection, reason_code

__all__ = [
    "ARGILLA_FILE",
    "HUMAN_REVIEW",
    "LABEL_STUDIO_FILE",
    "REVIEWS_FILE",
    "ImportSummary",
    "Review",
    "Reviews",
    "apply_reviews",
    "import_reviews",
    "load_reviews",
    "read_review_file",
    "review_gold",
    "write_review_files",
]

LABEL_STUDIO_FILE = "review.label_studio.json"
ARGILLA_FILE = "review.argilla.jsonl"
REVIEWS_FILE = "reviews.parquet"
HUMAN_REVIEW = "human_review"
# Names in the review tools: the Label Studio control / Argilla question, and the text field.
QUESTION = "label"
TEXT_FIELD = "text"
KEY_FIELD = "zs_key"
# Rows read at a time; each row for review becomes a Python dict of every column (~2 KB).
BATCH_ROWS = 2048
REVIEWS_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("label", pa.string(), nullable=False),
        pa.field("file", pa.string()),
    ]
)


@dataclass(frozen=True)
class Review:
    key: str
    text: str | None
    label: str


@dataclass(frozen=True)
class Reviews:
    """Human labels by row key; ``label`` holds class indices of the job's labels."""

    keys: list[str]
    texts: list[str | None]
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class ImportSummary:
    stored: int = 0  # reviews taken from the file
    total: int = 0  # reviews in the store afterwards
    skipped: Counter[str] = field(default_factory=Counter)  # why records gave no label
    path: Path = Path()


# -- 1. export --------------------------------------------------------------------------------


def write_review_files(folder: Path, manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Write both review files from ``folder/labeled.parquet``; return their manifest entries.

    Streams the labeled rows batch by batch, reading only the columns the files need.
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
    rows = 0
    with (
        open(studio_path, "w", encoding="utf-8", newline="\n") as studio,
        open(argilla_path, "w", encoding="utf-8", newline="\n") as argilla,
    ):
        studio.write("[")
        for row in _rows_for_review(labeled, wanted, sources):
            key = row[id_column] if id_column else row[columns.ROW]
            key = key if isinstance(key, int | str) else str(key)
            text = _as_text(row[text_column]) if text_column else ""
            if rows:
                studio.write(",")
            studio.write("\n")
            _dump(studio, _label_studio_task(row, key, text, sources, method))
            _dump(argilla, _argilla_record(row, key, text, method))
            argilla.write("\n")
            rows += 1
        studio.write("\n]\n" if rows else "]\n")
    return {
        ARGILLA_FILE: {"rows": rows, "sha256": file_sha256(argilla_path)},
        LABEL_STUDIO_FILE: {"rows": rows, "sha256": file_sha256(studio_path)},
    }


def _rows_for_review(
    labeled: pq.ParquetFile, wanted: list[str], sources: list[tuple[str, str, str]]
) -> Iterator[dict[str, Any]]:
    """Abstained rows, and accepted ones whose sources' top labels differ; never reviewed ones.

    Rows are picked with Arrow compute first, so only the rows written out become Python
    objects (texts included): the labeled file may be large, the review set is a fraction.
    """
    for batch in labeled.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        status = batch.column(columns.STATUS)
        conflict = pa.array(np.zeros(batch.num_rows, dtype=bool))
        labels = [batch.column(label_col) for _, label_col, _ in sources]
        for i, first in enumerate(labels):
            for second in labels[i + 1 :]:
                differ = pc.not_equal(first, second)  # null where either abstained
                conflict = pc.or_(conflict, pc.fill_null(differ, False))
        wanted_rows = pc.or_(
            pc.equal(status, "abstained"), pc.and_(pc.equal(status, "accepted"), conflict)
        )
        not_reviewed = pc.fill_null(pc.not_equal(batch.column(columns.REASON), HUMAN_REVIEW), True)
        yield from batch.filter(pc.and_(wanted_rows, not_reviewed)).to_pylist()


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _dump(handle: IO[str], payload: Any) -> None:
    handle.write(json.dumps(payload, ensure_ascii=False, sort_keys=True))


def _score(value: object) -> float | None:
    return None if value is None else round(float(str(value)), 4)


def _label_studio_task(
    row: Mapping[str, Any],
    key: object,
    text: str,
    sources: list[tuple[str, str, str]],
    method: str,
) -> dict[str, Any]:
    """A Label Studio task: ``data`` for a ``<Text name="text" value="$text"/>`` and a
    ``<Choices name="label" toName="text">`` control, with one prediction per verdict."""

    def prediction(version: str, label: str, score: object) -> dict[str, Any]:
        return {
            "model_version": version,
            "score": _score(score),
            "result": [
                {
                    "from_name": QUESTION,
                    "to_name": TEXT_FIELD,
                    "type": "choices",
                    "value": {"choices": [label]},
                }
            ],
        }

    predictions = []
    if row[columns.LABEL] is not None:
        predictions.append(
            prediction(f"zslabel-{method}", row[columns.LABEL], row[columns.CONFIDENCE])
        )
    for name, label_col, conf_col in sources:
        if row[label_col] is not None:
            predictions.append(prediction(f"zslabel-{name}", row[label_col], row[conf_col]))
    return {
        "data": {
            TEXT_FIELD: text,
            KEY_FIELD: key,
            "zs_row": row[columns.ROW],
            "zs_status": row[columns.STATUS],
            "zs_reason": row[columns.REASON],
        },
        "predictions": predictions,
    }


def _argilla_record(row: Mapping[str, Any], key: object, text: str, method: str) -> dict[str, Any]:
    """An Argilla 2.x record as ``Record.to_dict`` writes it (``Record.from_dict`` reads it) for
    a dataset with a text field ``text`` and a label question ``label``."""
    suggestions = {}
    if row[columns.LABEL] is not None:
        suggestions[QUESTION] = {
            "value": row[columns.LABEL],
            "score": _score(row[columns.CONFIDENCE]),
            "agent": f"zslabel-{method}",
        }
    return {
        "id": str(key),
        "fields": {TEXT_FIELD: text},
        # Argilla metadata values are terms or numbers: a missing reason is left out.
        "metadata": {
            name: value
            for name, value in (
                (KEY_FIELD, str(key)),
                ("zs_row", row[columns.ROW]),
                ("zs_status", row[columns.STATUS]),
                ("zs_reason", row[columns.REASON]),
            )
            if value is not None
        },
        "suggestions": suggestions,
        "responses": {},
        "vectors": {},
    }


# -- 2. import --------------------------------------------------------------------------------


def read_review_file(
    path: str | Path, label_names: Sequence[str], summary: ImportSummary | None = None
) -> list[Review]:
    """Human labels from a Label Studio JSON export or an Argilla JSON / JSONL export.

    Records without a (submitted, not cancelled) answer are skipped and counted in ``summary``;
    so are records whose annotators disagree without a majority. A label that is not one of
    ``label_names`` is an error naming the file and the record.
    """
    source = Path(path)
    summary = summary if summary is not None else ImportSummary()
    known = set(label_names)
    reviews: dict[str, Review] = {}
    for where, record in _records(source):
        if not isinstance(record, Mapping):
            raise InputError(f"{source}: {where}: expected a JSON object, got {record!r:.60}")
        if "fields" in record:
            key, text, answers = _from_argilla(record)
        elif "data" in record:
            key, text, answers = _from_label_studio(record, source, where)
        else:
            raise InputError(
                f"{source}: {where}: neither a Label Studio task ('data') nor an Argilla record "
                "('fields')"
            )
        if key is None:
            raise InputError(
                f"{source}: {where}: no '{KEY_FIELD}' to match the row; import files that "
                "zslabel exported (review.label_studio.json, review.argilla.jsonl)"
            )
        unknown = sorted({a for a in answers if a not in known})
        if unknown:
            raise InputError(
                f"{source}: {where} (row key {key!r}): label {unknown[0]!r} is not a label of "
                f"the job ({', '.join(label_names)})"
            )
        if not answers:
            summary.skipped["no answer"] += 1
            continue
        ranked = Counter(answers).most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            summary.skipped["annotators disagree"] += 1
            continue
        reviews[key] = Review(key, text, ranked[0][0])
    summary.stored += len(reviews)
    return list(reviews.values())


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


def _key(value: object) -> str | None:
    return None if value is None else str(value)


def _from_label_studio(
    task: Mapping[str, Any], path: Path, where: str
) -> tuple[str | None, str | None, list[str]]:
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
    return _key(data.get(KEY_FIELD)), data.get(TEXT_FIELD), answers


def _from_argilla(record: Mapping[str, Any]) -> tuple[str | None, str | None, list[str]]:
    metadata = record.get("metadata") or {}
    key = _key(metadata.get(KEY_FIELD, record.get("id")))
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
    return key, (record.get("fields") or {}).get(TEXT_FIELD), answers


def import_reviews(
    files: Sequence[str | Path], work_dir: str | Path, label_names: Sequence[str]
) -> ImportSummary:
    """Read review exports and merge their labels into ``work_dir/reviews.parquet``.

    A row reviewed again takes the newer label (files later in ``files`` win).
    """
    summary = ImportSummary(path=Path(work_dir) / REVIEWS_FILE)
    new: list[tuple[Review, str]] = []
    for path in files:
        new.extend((review, str(path)) for review in read_review_file(path, label_names, summary))
    merged: dict[str, dict[str, Any]] = {}
    if summary.path.is_file():
        for row in _read_store(summary.path).to_pylist():
            merged[row["key"]] = row
    for review, origin in new:
        merged.pop(review.key, None)  # re-insert: the newest review comes last
        merged[review.key] = {
            "key": review.key,
            "text": review.text,
            "label": review.label,
            "file": origin,
        }
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


def _read_store(path: Path) -> pa.Table:
    try:
        return pq.read_table(path, schema=REVIEWS_SCHEMA)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the stored reviews ({exc})") from None


# -- 3. use -----------------------------------------------------------------------------------


def load_reviews(work_dir: str | Path, label_names: Sequence[str]) -> Reviews | None:
    """The stored reviews of a job, or None when there are none."""
    path = Path(work_dir) / REVIEWS_FILE
    if not path.is_file():
        return None
    table = _read_store(path)
    if table.num_rows == 0:
        return None
    index = {name: k for k, name in enumerate(label_names)}
    labels = table.column("label").to_pylist()
    keys = table.column("key").to_pylist()
    for key, label in zip(keys, labels, strict=True):
        if label not in index:
            raise InputError(
                f"{path}: the review of row key {key!r} says {label!r}, which is no longer a "
                f"label of the job ({', '.join(label_names)}); re-import or delete the file"
            )
    return Reviews(
        keys=keys,
        texts=table.column("text").to_pylist(),
        label=np.asarray([index[label] for label in labels], dtype=np.int64),
    )


def apply_reviews(
    predictions: Predictions,
    selection: Selection,
    row_keys: Callable[[], Sequence[object]],
    reviews: Reviews | None,
) -> tuple[Predictions, Selection]:
    """Reviewed rows become accepted with the human label, confidence 1.0 and reason
    ``human_review``; other rows, and reviews of rows not in the input, are left alone.

    ``row_keys`` is called only when there are reviews (reading an id column costs a pass over
    the input). Invalid rows stay invalid: there is no text to train on.
    """
    if reviews is None or len(reviews) == 0:
        return predictions, selection
    rows, labels = _reviewed_rows(row_keys(), reviews)
    keep = selection.status[rows] != INVALID
    rows, labels = rows[keep], labels[keep]
    label = predictions.label.copy()
    confidence = predictions.confidence.copy()
    margin = predictions.margin.copy()
    status = selection.status.copy()
    reason = selection.reason_code.copy()
    label[rows] = labels
    confidence[rows] = 1.0
    margin[rows] = 1.0
    status[rows] = ACCEPTED
    reason[rows] = reason_code(HUMAN_REVIEW)
    assigned = predictions.assigned
    if assigned is not None:
        # Multi-label jobs: a review names one label, which becomes the row's whole label set.
        assigned = assigned.copy()
        assigned[rows] = False
        assigned[rows, labels] = True
    return (
        replace(predictions, label=label, confidence=confidence, margin=margin, assigned=assigned),
        replace(selection, status=status, reason_code=reason),
    )


def _reviewed_rows(keys: Sequence[object], reviews: Reviews) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the reviewed rows and their human labels."""
    by_key = dict(zip(reviews.keys, reviews.label.tolist(), strict=True))
    if isinstance(keys, range):
        # Row numbers: look each review up directly instead of walking every row.
        found = [(int(k), label) for k, label in by_key.items() if k.isdigit() and int(k) in keys]
    else:
        found = [(i, by_key[str(k)]) for i, k in enumerate(keys) if str(k) in by_key]
    found.sort()
    rows = np.asarray([i for i, _ in found], dtype=np.int64)
    return rows, np.asarray([label for _, label in found], dtype=np.int64)


def review_gold(gold: GoldSet | None, reviews: Reviews | None) -> GoldSet | None:
    """The calibration gold file's rows plus the reviewed rows that have a text.

    None when there is nothing, or too little (fewer than 2 rows) to fit a temperature on
    reviews alone.
    """
    texts = list(gold.texts) if gold is not None else []
    labels = list(gold.label.tolist()) if gold is not None else []
    skipped = gold.skipped if gold is not None else 0
    if reviews is not None:
        for text, label in zip(reviews.texts, reviews.label.tolist(), strict=True):
            if text is None or text_status(text) is not None:
                skipped += 1
                continue
            texts.append(text)
            labels.append(label)
    if gold is None and len(texts) < 2:
        return None
    return GoldSet(texts, np.asarray(labels, dtype=np.int64), skipped)
