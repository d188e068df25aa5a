"""Which texts of the input can be scored: a shard's text column split into valid texts and the
reasons (invalid-row ``zs_reason`` values) of the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from zslabel.errors import InputError
from zslabel.input_open import first_line
from zslabel.utf8 import text_values

# Why a row cannot be labeled; these become ``zs_reason`` of invalid rows.
NULL_TEXT = "null_text"
EMPTY_TEXT = "empty_text"
INVALID_UTF8 = "invalid_utf8"


@dataclass(frozen=True)
class ShardTexts:
    """The text column of one shard, split into what can be scored and why the rest cannot."""

    texts: list[str]  # the valid texts, in row order
    valid_rows: list[int]  # their positions within the shard
    invalid: dict[int, str]  # position -> reason
    fingerprint: str  # content hash of the shard's texts: what its scores depend on


def shard_texts(batches: Iterable[pa.RecordBatch], path: str) -> ShardTexts:
    """The texts of one shard of file ``path``, read as ``batches`` of its text column alone."""
    digest = hashlib.blake2b(digest_size=16)
    texts: list[str] = []
    valid_rows: list[int] = []
    invalid: dict[int, str] = {}
    position = 0
    for batch in batches:
        try:
            values = text_values(batch.column(0))
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path}: cannot read rows ({first_line(exc)})") from None
        for value in values:
            digest.update(_framed(value))
            reason = text_status(value)
            if reason or value is None:
                invalid[position] = reason or NULL_TEXT
            else:
                texts.append(value.decode() if isinstance(value, bytes) else value)
                valid_rows.append(position)
            position += 1
    return ShardTexts(texts, valid_rows, invalid, digest.hexdigest())


def _framed(value: str | bytes | None) -> bytes:
    """Length-prefixed bytes, so that ("ab", "c") and ("a", "bc") hash differently."""
    if value is None:
        return b"\xff" * 8
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return len(raw).to_bytes(8, "little") + raw


def text_status(value: str | bytes | None) -> str | None:
    """Why a text cannot be scored (an invalid-row reason), or None when it can."""
    if value is None:
        return NULL_TEXT
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return INVALID_UTF8
    if not value.strip():
        return EMPTY_TEXT
    return None
