"""How every column type is written in the text formats: CSV cells and JSON lines.

Parquet holds any Arrow type as it is. CSV cells hold text, and JSON has no bytes, timestamps or
decimals, so the ``csv`` and ``jsonl`` writers encode values by one rule per type, the same in
both formats and inside nested values:

- list, large / fixed-size list, struct: a JSON array or object (in a CSV cell, its JSON text,
  e.g. ``["a", "b"]``); null stays null, an empty list is ``[]``.
- map: a JSON object, keys as text, in their stored order (a key repeated in one map: the last
  value wins).
- binary: base64 (RFC 4648, standard alphabet, padded). The job's text column, when binary, is
  written as UTF-8 text instead (bytes that do not decode become U+FFFD; those rows are invalid).
- timestamp: RFC 3339 text in the column's zone with its offset (``2024-03-01T09:30:00+01:00``),
  with the digits of its unit; a timestamp without a zone has no offset.
- date and time: ISO 8601 text; duration: the integer count of its unit.
- decimal: JSON text that keeps every digit (``"1.50"``); in CSV the digits as they are.
- float: NaN and infinities are null in JSON (a CSV cell of a float column keeps nan / inf).
- dictionary: its values, by their own rule; uuid: canonical text; other extension types: their
  storage type's rule.

Column types that cannot be stored in Parquet (unions, intervals, run-end encoded arrays) never
come from an input; :func:`check_writable` refuses any type without a rule when a job loads.

The type families are in :mod:`zslabel.cell_types`, the single-type encodings in
:mod:`zslabel.cell_encodings`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zslabel.cell_encodings import base64_text, decimal_text, rfc3339, utf8_text, uuid_text
from zslabel.cell_types import is_binary, is_list, is_nested, is_plain, is_type, is_uuid
from zslabel.cell_types import viewless as viewless  # where export.py finds it

TEXT_FORMATS = ("csv", "jsonl")
# The manifest's names for what a text file did to a column (see encodings()).
JSON, BASE64, UTF8, RFC3339, ISO8601, TEXT, UUID = (
    "json",
    "base64",
    "utf-8",
    "rfc3339",
    "iso8601",
    "text",
    "uuid",
)

Finisher = Callable[[Any], Any]


class UnwritableTypeError(TypeError):
    """A column type with no rule for the text formats."""


# -- CSV: every column becomes a type Arrow's CSV writer takes --------------------------------


def csv_column(array: pa.Array, is_text: bool = False) -> pa.Array:
    """``array`` as a column Arrow's CSV writer writes by the rules above."""
    t = array.type
    if pa.types.is_dictionary(t):
        return csv_column(array.dictionary_decode(), is_text)
    if is_uuid(t):
        return uuid_text(array)
    if isinstance(t, pa.BaseExtensionType):
        return csv_column(array.storage, is_text)
    if is_type("string_view", t):
        return array.cast(pa.string())
    if pa.types.is_float16(t):
        return array.cast(pa.float32())  # exact; the CSV writer has no half floats
    if is_binary(t):
        return utf8_text(array) if is_text else base64_text(array)
    if pa.types.is_timestamp(t):
        return rfc3339(array)
    if pa.types.is_decimal(t):
        return decimal_text(array)
    if is_nested(t):
        return _json_text(array)
    if is_plain(t):
        return array
    raise UnwritableTypeError(t)


def _json_text(array: pa.Array) -> pa.Array:
    """Each value as JSON text (null stays null)."""
    finish = _finisher(array.type)
    texts = [
        None if value is None else _dumps(finish(value) if finish else value)
        for value in json_column(array).to_pylist()
    ]
    return pa.array(texts, pa.string())


def _dumps(value: Any) -> str:
    # NaN never reaches here (json_column nulls it): every line and cell is valid JSON.
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# -- JSON: every column becomes JSON-native (bool, numbers, text, lists, structs) -------------


def json_column(array: pa.Array, is_text: bool = False) -> pa.Array:
    """``array`` with only JSON-native types inside; maps become lists of {key, value}
    structs, which :func:`_finisher` turns into objects after ``to_pylist``."""
    t = array.type
    if pa.types.is_dictionary(t):
        return json_column(array.dictionary_decode(), is_text)
    if is_uuid(t):
        return uuid_text(array)
    if isinstance(t, pa.BaseExtensionType):
        return json_column(array.storage, is_text)
    if pa.types.is_null(t) or pa.types.is_boolean(t) or pa.types.is_integer(t):
        return array
    if pa.types.is_floating(t):
        if pa.types.is_float16(t):
            array = array.cast(pa.float32())
        return pc.if_else(pc.is_finite(array), array, pa.scalar(None, array.type))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return array
    if pa.types.is_decimal(t):
        return decimal_text(array)
    if is_type("string_view", t):
        return array.cast(pa.string())
    if pa.types.is_date(t) or pa.types.is_time(t):
        return array.cast(pa.string())  # ISO 8601, with the digits of a time's unit
    if pa.types.is_duration(t):
        return array.cast(pa.int64())
    if is_binary(t):
        return utf8_text(array) if is_text else base64_text(array)
    if pa.types.is_timestamp(t):
        return rfc3339(array)
    if pa.types.is_map(t):
        start, stop = _bounds(array.offsets)
        keys = _key_text(array.keys.slice(start, stop - start))
        items = json_column(array.items.slice(start, stop - start))
        entries = pa.StructArray.from_arrays([keys, items], names=["key", "value"])
        offsets = pc.subtract(array.offsets, pa.scalar(start, array.offsets.type))
        return pa.ListArray.from_arrays(offsets, entries, mask=array.is_null())
    if is_type("list_view", t) or is_type("large_list_view", t):
        return json_column(_list_view_as_list(array))
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        values = array.values.slice(array.offset * size, len(array) * size)
        return pa.FixedSizeListArray.from_arrays(json_column(values), size, mask=array.is_null())
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        start, stop = _bounds(array.offsets)
        values = json_column(array.values.slice(start, stop - start))
        offsets = pc.subtract(array.offsets, pa.scalar(start, array.offsets.type))
        kind = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
        return kind.from_arrays(offsets, values, mask=array.is_null())
    if pa.types.is_struct(t):
        children = [json_column(child) for child in array.flatten()]
        fields = [pa.field(t.field(i).name, child.type) for i, child in enumerate(children)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=array.is_null())
    raise UnwritableTypeError(t)


def _list_view_as_list(array: pa.Array) -> pa.Array:
    """A list view as a list (Arrow's own cast got sliced list views wrong)."""
    null = array.is_null().to_numpy(zero_copy_only=False)
    sizes = np.where(null, 0, array.sizes.to_numpy(zero_copy_only=False)).astype(np.int64)
    starts = array.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    ends = np.cumsum(sizes)
    index = np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(starts - ends + sizes, sizes)
    values = array.values.take(pa.array(index, pa.int64()))
    offsets = np.concatenate([[0], ends])
    large = is_type("large_list_view", array.type)
    kind, offset_type = (pa.LargeListArray, pa.int64()) if large else (pa.ListArray, pa.int32())
    return kind.from_arrays(pa.array(offsets, offset_type), values, mask=array.is_null())


def _bounds(offsets: pa.Array) -> tuple[int, int]:
    """The range of child values a (possibly sliced) list or map array uses."""
    if len(offsets) == 0:
        return 0, 0
    return int(offsets[0].as_py()), int(offsets[-1].as_py())


def _key_text(keys: pa.Array) -> pa.Array:
    """Map keys as text: JSON object keys are strings."""
    text = csv_column(keys)
    return text if pa.types.is_string(text.type) else text.cast(pa.string())


def _finisher(t: pa.DataType) -> Finisher | None:
    """What turns ``json_column(array).to_pylist()`` values into JSON values: the {key, value}
    lists of maps into objects. None where nothing needs turning."""
    if pa.types.is_dictionary(t):
        return _finisher(t.value_type)
    if isinstance(t, pa.BaseExtensionType):
        return None if is_uuid(t) else _finisher(t.storage_type)
    if pa.types.is_map(t):
        item = _finisher(t.item_type)

        def as_object(entries: Any) -> Any:
            if entries is None:
                return None
            return {e["key"]: item(e["value"]) if item else e["value"] for e in entries}

        return as_object
    if is_list(t):
        inner = _finisher(t.value_type)
        if inner is None:
            return None
        return lambda values: None if values is None else [inner(v) for v in values]
    if pa.types.is_struct(t):
        named = [(t.field(i).name, _finisher(t.field(i).type)) for i in range(t.num_fields)]
        if all(finish is None for _, finish in named):
            return None
        return lambda row: (
            None
            if row is None
            else {name: finish(row[name]) if finish else row[name] for name, finish in named}
        )
    return None


# -- per schema -------------------------------------------------------------------------------


def encodings(schema: pa.Schema, fmt: str, text_columns: Collection[str] = ()) -> dict[str, str]:
    """Column -> how a ``fmt`` file writes it, for the columns not written as they are."""
    described = {}
    for field in schema:
        how = _encoding(field.type, fmt, field.name in text_columns)
        if how is not None:
            described[field.name] = how
    return described


def _encoding(t: pa.DataType, fmt: str, is_text: bool) -> str | None:
    if pa.types.is_dictionary(t):
        return _encoding(t.value_type, fmt, is_text)
    if is_uuid(t):
        return UUID
    if isinstance(t, pa.BaseExtensionType):
        return _encoding(t.storage_type, fmt, is_text)
    if is_binary(t):
        return UTF8 if is_text else BASE64
    if pa.types.is_timestamp(t):
        return RFC3339
    if is_nested(t):
        return JSON
    if fmt == "jsonl":
        if pa.types.is_decimal(t):
            return TEXT
        if pa.types.is_date(t) or pa.types.is_time(t):
            return ISO8601
        if pa.types.is_duration(t):
            return f"integer {t.unit}"
    return None


def csv_batch(batch: pa.RecordBatch, text_columns: Collection[str] = ()) -> pa.RecordBatch:
    """``batch`` with every column as :func:`csv_column` writes it."""
    arrays = [
        csv_column(array, field.name in text_columns)
        for field, array in zip(batch.schema, batch.columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def csv_schema(schema: pa.Schema, text_columns: Collection[str] = ()) -> pa.Schema:
    """The schema of :func:`csv_batch`'s batches for batches of ``schema``."""
    empty = pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)
    return csv_batch(empty, text_columns).schema


def json_lines(batch: pa.RecordBatch, text_columns: Collection[str] = ()) -> list[str]:
    """Each row of ``batch`` as one line of JSON (without its newline), columns in order."""
    values = []
    for field, array in zip(batch.schema, batch.columns, strict=True):
        column = json_column(array, field.name in text_columns).to_pylist()
        finish = _finisher(field.type)
        values.append([finish(v) for v in column] if finish else column)
    names = batch.schema.names
    return [_dumps(dict(zip(names, row, strict=True))) for row in zip(*values, strict=True)]


def check_writable(schema: pa.Schema, fmt: str) -> str | None:
    """None when every column of ``schema`` can be written as ``fmt``, else why not (naming the
    first column that cannot)."""
    if fmt not in TEXT_FORMATS:
        return None
    encode = csv_column if fmt == "csv" else json_column
    for field in schema:
        try:
            encode(pa.nulls(0, field.type))
        except UnwritableTypeError:
            return f"column {field.name!r} has type {field.type}, which cannot be written as {fmt}"
    return None
