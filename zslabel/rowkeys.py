"""One text form of a row's key wherever a key leaves zslabel and comes back.

A row is named by its value in the id column, or by its position (``zs_row``) when the job has
none. Keys leave in the review files and come back in exports that went through a browser and a
review tool. A JSON number above 2**53 comes back rounded from JavaScript (six 19-digit ids can
become one number), and text may come back in another Unicode normalization form. So zslabel
writes keys as strings, and every comparison is between :func:`row_key` forms: integers in
decimal, integral floats as integers, text (and bytes, decoded) in Unicode NFC. Keys read from
older review files, where a key was a JSON number, are compared the same way.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "EXACT_JSON_INTEGERS",
    "NO_ROW",
    "SEVERAL_ROWS",
    "key_strings",
    "match_keys",
    "match_positions",
    "row_key",
]

# Beyond this, a JSON number read by JavaScript (a browser, Label Studio's front end) loses digits.
EXACT_JSON_INTEGERS = 2**53
# What match_keys / match_positions give a key that names no row, or more than one.
NO_ROW = -1
SEVERAL_ROWS = -2


def row_key(value: object) -> str:
    """The text form of a row key: ``1234567890123456789``, ``7`` for 7.0, ``envío`` in NFC."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="backslashreplace")
    return unicodedata.normalize("NFC", str(value))


def key_strings(values: pa.Array) -> pa.Array:
    """:func:`row_key` of each value of an id column (null stays null), in Arrow where it can."""
    kind = values.type
    if pa.types.is_integer(kind):
        return pc.cast(values, pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.cast(pc.utf8_normalize(values, "NFC"), pa.string())
    return pa.array(
        [None if v is None else row_key(v) for v in values.to_pylist()], type=pa.string()
    )


def match_keys(keys: Sequence[str], batches: Iterable[tuple[int, pa.Array]]) -> np.ndarray:
    """For each of ``keys`` (row_key forms, distinct), the row whose key it is: its index, or
    NO_ROW, or SEVERAL_ROWS (two ids that differ only in normalization form, say).

    ``batches`` is the key column batch by batch with the row index of each batch's first row;
    memory grows with ``keys``, not with the rows.
    """
    found = np.full(len(keys), NO_ROW, dtype=np.int64)
    if not keys:
        return found
    wanted = pa.array(keys, type=pa.string())
    for start, values in batches:
        where = pc.fill_null(pc.index_in(key_strings(values), value_set=wanted), -1)
        positions = where.to_numpy(zero_copy_only=False)
        for row in np.flatnonzero(positions >= 0).tolist():
            k = int(positions[row])
            found[k] = start + row if found[k] == NO_ROW else SEVERAL_ROWS
    return found


def match_positions(keys: Sequence[str], num_rows: int) -> np.ndarray:
    """For each of ``keys``, the row it names when rows are keyed by position, else NO_ROW."""
    found = np.full(len(keys), NO_ROW, dtype=np.int64)
    for k, key in enumerate(keys):
        if key.isascii() and key.isdigit() and str(int(key)) == key and int(key) < num_rows:
            found[k] = int(key)
    return found
