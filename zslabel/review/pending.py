"""Reviews an incremental job's published versions have not applied yet.

A version labels its files once; reviews imported afterwards (``zslabel import-reviews``) name
rows of versions that are already written. The next run finds the versions holding such rows
and labels their files again into a new version, which applies the reviews
(:func:`zslabel.incremental.plan_increment`). A review is pending for a row of a version when
the row has the review's key and text, and is not already accepted with the review's label as
``human_review``. Keys are the id column's (:func:`~zslabel.rowkeys.row_key`); without an id
column, keys are row numbers of each version's own input, which name no row across versions,
so nothing is pending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from zslabel import columns
from zslabel.pipeline.write import LABELED
from zslabel.review.fields import same_text
from zslabel.review.store import Reviews
from zslabel.rowkeys import row_key
from zslabel.selection import HUMAN_REVIEW


def versions_with_pending_reviews(
    root: Path,
    versions: Sequence[Mapping[str, Any]],
    reviews: Reviews,
    label_names: Sequence[str],
    id_column: str | None,
    text_column: str | None,
) -> list[str]:
    """The ``dir`` of each of ``versions`` (index entries, oldest first) whose labeled rows
    include one a review names and the version has not applied. A version whose
    ``labeled.parquet`` cannot be read is left out (the next run labels it anew if its
    files change)."""
    if id_column is None or not reviews.keys:
        return []
    wanted = {
        key: (text, label_names[int(label)])
        for key, text, label in zip(reviews.keys, reviews.texts, reviews.label, strict=True)
    }
    pending = []
    for version in versions:
        path = root / str(version["dir"]) / LABELED
        try:
            if _has_pending(path, wanted, id_column, text_column):
                pending.append(str(version["dir"]))
        except (OSError, KeyError, ValueError):
            continue
    return pending


def _has_pending(
    path: Path,
    wanted: Mapping[str, tuple[str | None, str]],
    id_column: str,
    text_column: str | None,
) -> bool:
    names = [id_column, columns.STATUS, columns.REASON, columns.LABEL]
    if text_column is not None:
        names.append(text_column)
    file = pq.ParquetFile(path)
    for batch in file.iter_batches(columns=names):
        rows = batch.to_pydict()
        for i, value in enumerate(rows[id_column]):
            if value is None:
                continue
            found = wanted.get(row_key(value))
            if found is None:
                continue
            text, label = found
            if text_column is not None and not same_text(text, rows[text_column][i]):
                continue
            applied = rows[columns.REASON][i] == HUMAN_REVIEW and rows[columns.LABEL][i] == label
            if not applied:
                return True
    return False
