"""Read string columns that may hold bytes that are not UTF-8, without ever raising on them.

Neither Parquet writers nor Arrow's reader check that a ``string`` column holds UTF-8; Python
does, the moment a value becomes a ``str`` (``to_pylist``, ``as_py``, JSON and CSV output,
pandas). Every place that turns input values into Python values or writes them out goes
through here:

- :func:`text_values` for a text column: a value that is not UTF-8 comes back as its raw bytes,
  which :func:`zslabel.dataset.text_status` calls ``invalid_utf8``, as it does for a binary
  column;
- :func:`utf8_safe` and :func:`utf8_safe_batch` for everything else: each invalid sequence
  becomes U+FFFD, so that no output file holds a string that is not UTF-8.

Checking is Arrow's full validation, some 50 MB of text in 20 ms; only arrays that fail it are
converted row by row.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pyarrow as pa

__all__ = ["holds_strings", "text_values", "utf8_safe", "utf8_safe_batch"]

ArrayLike = TypeVar("ArrayLike", pa.Array, pa.ChunkedArray)


def _is_string(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def holds_strings(dtype: pa.DataType) -> bool:
    """Whether values of ``dtype`` contain strings anywhere (in a struct, list, map, dictionary)."""
    if _is_string(dtype):
        return True
    if pa.types.is_dictionary(dtype):
        return holds_strings(dtype.value_type)
    return any(holds_strings(dtype.field(i).type) for i in range(dtype.num_fields))


def _is_utf8(array: pa.Array) -> bool:
    try:
        array.validate(full=True)  # checks UTF-8 wherever the type has strings
    except pa.ArrowInvalid:
        return False
    return True


def _binary_twin(dtype: pa.DataType) -> pa.DataType:
    """``dtype`` with every string type made binary (and dictionaries decoded): a cast to it
    never checks UTF-8 and gives bytes where ``dtype`` gives str."""
    if pa.types.is_string(dtype):
        return pa.binary()
    if pa.types.is_large_string(dtype):
        return pa.large_binary()
    if pa.types.is_string_view(dtype):
        return pa.binary_view()
    if pa.types.is_dictionary(dtype):
        return _binary_twin(dtype.value_type)
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(_binary_twin(f.type)) for f in dtype])
    if pa.types.is_map(dtype):
        return pa.map_(
            dtype.key_field.with_type(_binary_twin(dtype.key_type)),
            dtype.item_field.with_type(_binary_twin(dtype.item_type)),
        )
    if pa.types.is_fixed_size_list(dtype):
        field = dtype.value_field
        return pa.list_(field.with_type(_binary_twin(field.type)), dtype.list_size)
    if pa.types.is_large_list(dtype):
        return pa.large_list(dtype.value_field.with_type(_binary_twin(dtype.value_type)))
    if pa.types.is_list(dtype):
        return pa.list_(dtype.value_field.with_type(_binary_twin(dtype.value_type)))
    return dtype  # no strings inside (or a type zslabel does not repair: the cast says so)


def _repaired(value: Any, dtype: pa.DataType) -> Any:
    """A Python value read as ``_binary_twin(dtype)``, with its strings decoded (U+FFFD for
    each invalid sequence) and everything else as it was."""
    if value is None:
        return None
    if pa.types.is_dictionary(dtype):
        return _repaired(value, dtype.value_type)
    if _is_string(dtype):
        return bytes(value).decode("utf-8", errors="replace")
    if pa.types.is_struct(dtype):
        return {f.name: _repaired(value[f.name], f.type) for f in dtype}
    if pa.types.is_map(dtype):
        return [(_repaired(k, dtype.key_type), _repaired(v, dtype.item_type)) for k, v in value]
    if (
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
    ):
        return [_repaired(item, dtype.value_type) for item in value]
    return value


def _safe_array(array: pa.Array) -> pa.Array:
    if not holds_strings(array.type) or _is_utf8(array):
        return array
    if pa.types.is_dictionary(array.type):
        # Only the dictionary holds strings: repair it and keep the indices.
        return pa.DictionaryArray.from_arrays(
            array.indices, _safe_array(array.dictionary), ordered=array.type.ordered
        )
    raw = array.cast(_binary_twin(array.type)).to_pylist()
    return pa.array([_repaired(value, array.type) for value in raw], type=array.type)


def utf8_safe(array: ArrayLike) -> ArrayLike:
    """``array`` itself when its strings are UTF-8, else a copy with U+FFFD for each invalid
    sequence; same type, same nulls."""
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([_safe_array(chunk) for chunk in array.chunks], type=array.type)
    return _safe_array(array)


def utf8_safe_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with :func:`utf8_safe` applied to each column that holds strings."""
    columns = [utf8_safe(column) for column in batch.columns]
    if all(new is old for new, old in zip(columns, batch.columns, strict=True)):
        return batch
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def text_values(array: pa.Array | pa.ChunkedArray) -> list[str | bytes | None]:
    """A text column's values: str where they are UTF-8, the raw bytes where they are not (and
    for a binary column), None for nulls."""
    if isinstance(array, pa.ChunkedArray):
        return [value for chunk in array.chunks for value in text_values(chunk)]
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not _is_string(array.type) or _is_utf8(array):
        values: list[str | bytes | None] = array.to_pylist()
        return values
    return [_str_if_utf8(value) for value in array.cast(_binary_twin(array.type)).to_pylist()]


def _str_if_utf8(value: bytes | None) -> str | bytes | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value
