"""The job's stored reviews: where they are kept, reading and merging.

A job file keeps its reviews beside itself (``review.store``, default ``<job>.reviews.parquet``:
:func:`zslabel.config.review.job_review_store`), read by every output of the job; a job without
a file (the quick form) in its output's work folder, ``reviews.parquet``. That is also where
every job kept them before: such a store (the old place) is read while the job's own store does
not exist yet.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel.atomic import temporary_beside
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
class StoreChoice:
    """Which review store a run reads: ``read`` (None: none exists); ``store``, where the job
    keeps its reviews; ``old_place``, the output's ``<work>/reviews.parquet`` when that is
    not ``store``."""

    read: Path | None
    store: Path
    old_place: Path | None

    @property
    def from_old_place(self) -> bool:
        """The reviews come from the old place, to be moved to ``store``."""
        return self.read is not None and self.read == self.old_place

    @property
    def ignored(self) -> Path | None:
        """A store at the old place that is not read, since the job's own store exists."""
        if self.old_place is None or self.read != self.store or not self.old_place.is_file():
            return None
        return self.old_place


def choose_store(job_store: str | Path | None, work_dir: str | Path) -> StoreChoice:
    """The store a run of a job with store ``job_store`` (``review.store``; None for the
    quick form) and work folder ``work_dir`` reads: the job's, else one at the old place."""
    old = Path(work_dir).expanduser() / REVIEWS_FILE
    if job_store is None:
        return StoreChoice(read=old if old.is_file() else None, store=old, old_place=None)
    store = Path(job_store).expanduser()
    if _same_file(store, old):
        return StoreChoice(read=store if store.is_file() else None, store=store, old_place=None)
    read = store if store.is_file() else old if old.is_file() else None
    return StoreChoice(read=read, store=store, old_place=old)


def store_path(where: str | Path) -> Path:
    """The store file ``where`` names: a ``.parquet`` file, or a folder holding
    ``reviews.parquet`` (a work folder, as older callers pass)."""
    path = Path(where).expanduser()
    return path if path.suffix == ".parquet" else path / REVIEWS_FILE


def stored_count(path: Path) -> int | None:
    """How many reviews the store at ``path`` holds (one row per key), from its footer;
    None when it cannot be read."""
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, ValueError):
        return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


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


def load_reviews(where: str | Path, label_names: Sequence[str]) -> Reviews | None:
    """The reviews in the store ``where`` names (:func:`store_path`), or None when there are
    none. Raises InputError when the store cannot be read or names a label not in
    ``label_names``.

    Keys are compared in their :func:`~zslabel.rowkeys.row_key` form and labels in their
    :func:`~zslabel.labelnames.canonical_label` form, also in stores older zslabel versions
    wrote; of two reviews of one key the later (newer) one is kept.
    """
    path = store_path(where)
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
    write leaves the old one; imports into one folder take turns (a lock on the folder), so
    that two at once cannot drop each other's reviews. Raises OutputError when the folder
    cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot store the reviews ({exc}){_WHERE_ELSE}") from None
    with _folder_lock(path.parent):
        stored = read_store(path).to_pylist() if path.is_file() else []
        if not kept:
            return len(stored)
        merged = {row_key(old["key"]): {**old, "key": row_key(old["key"])} for old in stored}
        for key, review_row in kept.items():
            merged.pop(key, None)  # re-insert: the newest review comes last
            merged[key] = review_row
        table = pa.Table.from_pylist(list(merged.values()), schema=REVIEWS_SCHEMA)
        temporary = None
        try:
            temporary = temporary_beside(path)
            pq.write_table(table, temporary, compression="zstd")
            os.replace(temporary, path)
        except OSError as exc:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            raise OutputError(f"{path}: cannot store the reviews ({exc}){_WHERE_ELSE}") from None
    return int(table.num_rows)


def move_store(old: Path, store: Path) -> int:
    """Move the store at the old place ``old`` (an output's work folder) to the job's store
    ``store``, which does not exist yet: written there in one step, then ``old`` removed.
    Returns how many reviews moved. Raises InputError / OutputError when either fails."""
    rows = read_store(old).to_pylist()
    moved = store_reviews(store, {row_key(r["key"]): {**r, "key": row_key(r["key"])} for r in rows})
    old.unlink(missing_ok=True)
    return moved


_WHERE_ELSE = "; set review.store in the job file to a folder you can write"


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``folder`` itself (no lock file beside the job file)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot store the reviews ({exc}){_WHERE_ELSE}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock
