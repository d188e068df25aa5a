"""The review loop: rows for people to check out, their labels back in, and into the next run.

1. A labeling run writes the abstained rows and the accepted rows whose sources disagree as
   import files for Label Studio (``review.label_studio.json``: tasks with the predictions as
   pre-annotations) and Argilla 2.x (``review.argilla.jsonl``: records with suggestions). Each
   names its row by the row key (the id column's value when the job has one, else the row number
   ``zs_row``) as a string in ``zs_key``: see :mod:`zslabel.rowkeys`.
2. ``zslabel import-reviews`` (:mod:`zslabel.review_import`) reads the annotated export of either
   tool, checks each key against the rows of the output folder, and stores the labels of the
   reviews that name exactly one row in the job's work folder (``reviews.parquet``).
3. The next run matches the stored reviews to its rows by key (:func:`match_reviews`): those of
   rows in its input are gold for calibration (:func:`review_gold`) and fixed labels
   (:func:`apply_reviews` turns each reviewed row into an accepted row with the human label,
   confidence 1.0 and reason ``human_review``); the others are counted, never used.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.dataset import text_status
from zslabel.errors import InputError
from zslabel.export import file_sha256, filter_rows
from zslabel.gold import GoldSet
from zslabel.labelnames import describe_mismatch, label_index, lookup
from zslabel.rowkeys import match_keys, match_positions, row_key
from zslabel.selection import ACCEPTED, INVALID, Predictions, Selection, reason_code

__all__ = [
    "ARGILLA_FILE",
    "HUMAN_REVIEW",
    "KEY_FIELD",
    "LABEL_STUDIO_FILE",
    "REVIEWS_FILE",
    "MatchedReviews",
    "Review",
    "Reviews",
    "apply_reviews",
    "load_reviews",
    "match_reviews",
    "read_store",
    "review_counts",
    "review_gold",
    "same_text",
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
    key: str  # a row_key form
    text: str | None
    label: str  # a label name of the job, as the job spells it


@dataclass(frozen=True)
class Reviews:
    """Human labels by row key; ``label`` holds class indices of the job's labels."""

    keys: list[str]
    texts: list[str | None]
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class MatchedReviews:
    """The stored reviews of rows in a run's input: ``rows`` their row indices (ascending) and
    ``reviews`` the same reviews in that order. ``stored`` counts every stored review, so
    ``unmatched`` are those whose key names no row (or several) of this input."""

    rows: np.ndarray
    reviews: Reviews
    stored: int

    @property
    def unmatched(self) -> int:
        return self.stored - len(self.reviews)


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
            # A string always: a JSON number above 2**53 comes back rounded from a browser.
            key = row_key(row[id_column] if id_column else row[columns.ROW])
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
        # filter_rows: a string_view text column cannot be filtered as it is.
        yield from filter_rows(batch, pc.and_(wanted_rows, not_reviewed)).to_pylist()


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
    key: str,
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


def _argilla_record(row: Mapping[str, Any], key: str, text: str, method: str) -> dict[str, Any]:
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
        "id": key,
        "fields": {TEXT_FIELD: text},
        # Argilla metadata values are terms or numbers: a missing reason is left out.
        "metadata": {
            name: value
            for name, value in (
                (KEY_FIELD, key),
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


# -- 3. use -----------------------------------------------------------------------------------


def read_store(path: Path) -> pa.Table:
    """The stored reviews as written by ``zslabel import-reviews``."""
    try:
        return pq.read_table(path, schema=REVIEWS_SCHEMA)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the stored reviews ({exc})") from None


def load_reviews(work_dir: str | Path, label_names: Sequence[str]) -> Reviews | None:
    """The stored reviews of a job, or None when there are none.

    Keys are compared in their :func:`~zslabel.rowkeys.row_key` form and labels in their
    :func:`~zslabel.labelnames.canonical_label` form, also in stores older zslabel versions
    wrote; of two reviews of one key the later (newer) one is kept.
    """
    path = Path(work_dir) / REVIEWS_FILE
    if not path.is_file():
        return None
    table = read_store(path)
    if table.num_rows == 0:
        return None
    index = label_index(label_names)
    latest: dict[str, tuple[str | None, int]] = {}
    for key, text, label in zip(
        table.column("key").to_pylist(),
        table.column("text").to_pylist(),
        table.column("label").to_pylist(),
        strict=True,
    ):
        k = lookup(label, index)
        if k is None:
            why = describe_mismatch(label, label_names)
            raise InputError(
                f"{path}: the review of row key {key!r} says {label!r}, which is no longer a "
                f"label of the job ({', '.join(label_names)})"
                + (f": {why}" if why else "")
                + "; re-import or delete the file"
            )
        canonical = row_key(key)
        latest.pop(canonical, None)  # re-insert: the newest review comes last
        latest[canonical] = (text, k)
    return Reviews(
        keys=list(latest),
        texts=[text for text, _ in latest.values()],
        label=np.asarray([k for _, k in latest.values()], dtype=np.int64),
    )


def match_reviews(
    reviews: Reviews,
    row_keys: int | Iterable[tuple[int, pa.Array]],
    row_texts: Callable[[np.ndarray], Sequence[object]] | None = None,
) -> MatchedReviews:
    """The reviews whose key names exactly one row of a run's input, with those rows.

    ``row_keys`` is the number of rows when rows are keyed by position (no id column), else the
    id column batch by batch with the row index of each batch's first row. ``row_texts`` gives
    the text of each of some rows (ascending); a review whose row has another text than the one
    reviewed (row numbers of an input that changed since) is no review of that row.
    """
    if isinstance(row_keys, int):
        found = match_positions(reviews.keys, row_keys)
    else:
        found = match_keys(reviews.keys, row_keys)
    matched = np.flatnonzero(found >= 0)
    matched = matched[np.argsort(found[matched], kind="stable")]
    if row_texts is not None and len(matched):
        texts = row_texts(found[matched])
        same = [same_text(reviews.texts[i], text) for i, text in zip(matched, texts, strict=True)]
        matched = matched[np.asarray(same, dtype=bool)]
    return MatchedReviews(
        rows=found[matched],
        reviews=Reviews(
            keys=[reviews.keys[i] for i in matched.tolist()],
            texts=[reviews.texts[i] for i in matched.tolist()],
            label=reviews.label[matched],
        ),
        stored=len(reviews),
    )


def same_text(reviewed: str | None, value: object) -> bool:
    """Whether a review's text, as the review files wrote it, is a row's text ``value`` (compared
    in NFC); a review without a text is taken as of any."""
    if reviewed is None:
        return True
    return unicodedata.normalize("NFC", reviewed) == unicodedata.normalize("NFC", _as_text(value))


def apply_reviews(
    predictions: Predictions, selection: Selection, reviewed: MatchedReviews | None
) -> tuple[Predictions, Selection]:
    """Reviewed rows become accepted with the human label, confidence 1.0 and reason
    ``human_review``; other rows are left alone.

    Invalid rows stay invalid: there is no text to train on.
    """
    if reviewed is None or len(reviewed.reviews) == 0:
        return predictions, selection
    keep = selection.status[reviewed.rows] != INVALID
    rows, labels = reviewed.rows[keep], reviewed.reviews.label[keep]
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


def review_counts(reviewed: MatchedReviews | None, selection: Selection) -> dict[str, int] | None:
    """What became of the stored reviews in a run, for the manifest's ``counts.reviews``: how
    many are stored, applied, of invalid rows (left invalid) and of no row of the input."""
    if reviewed is None:
        return None
    invalid = int(np.count_nonzero(selection.status[reviewed.rows] == INVALID))
    return {
        "stored": reviewed.stored,
        "applied": len(reviewed.rows) - invalid,
        "invalid_rows": invalid,
        "unmatched": reviewed.unmatched,
    }


def review_gold(gold: GoldSet | None, reviews: Reviews | None) -> GoldSet | None:
    """The calibration gold file's rows plus the reviewed rows that have a text; ``reviews``
    should be those of rows in the input (:attr:`MatchedReviews.reviews`).

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
