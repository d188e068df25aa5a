"""Check that an id column is unique and never null, in memory that does not grow with the rows.

A dict of every id costs about 150 bytes a row (a million ids: ~150 MB). Instead each id is
hashed to 64 bits and (hash, row) pairs are spilled to bucket files on disk by the hash's top
bits; each bucket is then sorted alone, so memory is bounded by one bucket. Equal hashes are only
candidates: their values are read back and compared, so a hash collision never rejects a
dataset. The error is the one a row-by-row scan would raise first: the earliest null, or the
earliest row whose id was seen before, naming that earlier row.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from zslabel.errors import InputError

# Rows per bucket on average: 2**18 (hash, row) pairs are 4 MiB to sort.
BUCKET_ROWS = 1 << 18
_PAIR = np.dtype([("hash", "<u8"), ("row", "<i8")])

# Batches of the id column with the global row of their first value, in row order.
IdBatches = Callable[[], Iterable[tuple[int, pa.Array]]]


def check_unique_ids(
    batches: IdBatches,
    num_rows: int,
    column: str,
    origin: str,
    scratch: Path,
    locate: Callable[[int], tuple[str, int]] | None = None,
) -> None:
    """Raise InputError naming the first null id or the first repeated one (and its first row).

    ``locate``: a row's file and its row in that file, for an input of several files: the
    error names them too, as a user can look them up."""
    buckets = max(1, math.ceil(num_rows / BUCKET_ROWS))
    first_null: int | None = None
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="ids-") as folder:
        paths = [Path(folder) / f"{b}.bin" for b in range(buckets)]
        handles = [open(path, "wb") for path in paths]  # noqa: SIM115 - closed below
        try:
            for start, values in batches():
                nulls = np.flatnonzero(np.asarray(values.is_null()))
                if len(nulls) and first_null is None:
                    first_null = start + int(nulls[0])
                pairs = np.empty(len(values), dtype=_PAIR)
                pairs["hash"] = hash_values(values.to_pylist())
                pairs["row"] = np.arange(start, start + len(values))
                if len(nulls):
                    pairs = np.delete(pairs, nulls)
                owner = _bucket(pairs["hash"], buckets)
                for b in np.unique(owner):
                    pairs[owner == b].tofile(handles[b])
        finally:
            for handle in handles:
                handle.close()
        candidates = np.concatenate([_repeated_rows(path) for path in paths])
    repeat = _first_repeat(batches, candidates)
    if first_null is not None and (repeat is None or first_null < repeat[2]):
        where = f": {_in_file(locate(first_null))}" if locate else ""
        raise InputError(
            f"{origin}: id column {column!r} is null at row {first_null} (counting from 0{where})"
        )
    if repeat is not None:
        value, first, row = repeat
        files = (locate(first), locate(row)) if locate else None
        where = f": {_in_file(files[0])} and {_in_file(files[1])}" if files else ""
        across = files is not None and files[0][0] != files[1][0]
        raise InputError(
            f"{origin}: id column {column!r} has duplicate value {value!r} "
            f"(rows {first} and {row}, counting from 0{where}); ids must be unique"
            + (
                " across the files read together (a run over the whole folder, or an "
                "incremental job after a settings change, reads every file: remove the older "
                "copy of a record sent twice)"
                if across
                else ""
            )
        )


def _in_file(place: tuple[str, int]) -> str:
    return f"row {place[1]} of {place[0]}"


def hash_values(values: list[object]) -> np.ndarray:
    """64-bit hashes of values by their text (None hashes like any other value; callers skip it)."""
    digest = hashlib.blake2b
    return np.fromiter(
        (int.from_bytes(digest(str(v).encode(), digest_size=8).digest(), "little") for v in values),
        np.uint64,
        len(values),
    )


def _bucket(hashes: np.ndarray, buckets: int) -> np.ndarray:
    return (hashes >> np.uint64(40)) % np.uint64(buckets)


def _repeated_rows(path: Path) -> np.ndarray:
    """Rows of the bucket whose hash occurs more than once."""
    pairs = np.fromfile(path, dtype=_PAIR)
    if len(pairs) < 2:
        return np.zeros(0, dtype=np.int64)
    hashes = np.sort(pairs["hash"])
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    return np.asarray(pairs["row"][np.isin(pairs["hash"], repeated)], dtype=np.int64)


def _first_repeat(batches: IdBatches, candidates: np.ndarray) -> tuple[object, int, int] | None:
    """(value, its first row, the earliest row repeating an earlier value) among candidates."""
    if len(candidates) == 0:
        return None
    seen: dict[object, int] = {}
    for row, value in _values_at(batches, np.sort(candidates)):
        if value in seen:  # rows come in order: the first repeat found is the earliest
            return value, seen[value], row
        seen[value] = row
    return None  # only hash collisions


def _values_at(batches: IdBatches, rows: np.ndarray) -> Iterator[tuple[int, object]]:
    for start, values in batches():
        local = rows[(rows >= start) & (rows < start + len(values))] - start
        if len(local):
            picked = values.take(pa.array(local)).to_pylist()
            yield from zip((int(r) + start for r in local), picked, strict=True)
