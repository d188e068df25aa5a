"""The job's stored reviews, ``reviews.parquet`` in its work folder: reading and merging."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel.errors import InputError, OutputError
from zslabel.labelnames import describe_mismatch, label_index, lookup
from zslabel.rowkeys import row_key

REVIEWS_FILE = "reviews.parquet"
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


def store_reviews(path: Path, kept: Mapping[str, dict[str, Any]]) -> int:
    """Merge ``kept`` (store rows by row key, in import order) into the store at ``path``;
    return how many reviews the store holds afterwards.

    A row reviewed again takes the newer label. The store is replaced in one step, so a failed
    write leaves the old one.
    """
    stored = read_store(path).to_pylist() if path.is_file() else []
    if not kept:
        return len(stored)
    merged = {row_key(old["key"]): {**old, "key": row_key(old["key"])} for old in stored}
    for key, review_row in kept.items():
        merged.pop(key, None)  # re-insert: the newest review comes last
        merged[key] = review_row
    table = pa.Table.from_pylist(list(merged.values()), schema=REVIEWS_SCHEMA)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{REVIEWS_FILE}.tmp")
    try:
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot store the reviews ({exc})") from None
    return int(table.num_rows)
