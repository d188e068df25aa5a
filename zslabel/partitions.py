"""Hive partition keys that the files also store as a column of their own.

``lang=en/part-0.parquet`` may hold a ``lang`` column too (Spark with some settings, pandas'
``to_parquet`` of a frame that kept the column, hand-written layouts). Arrow reads such a
dataset and takes the key's value from the folder name; zslabel does the same, after checking
that the file's own values agree with it, so that a file in the wrong folder is named instead of
silently relabeled. The check reads the footer's statistics and only reads the column itself
when they cannot settle it.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from zslabel.errors import InputError
from zslabel.utf8 import utf8_safe

__all__ = ["check_stored_keys", "partition_keys"]

_AGREE = object()


def partition_keys(fragment: ds.Fragment) -> dict[str, Any]:
    """The partition keys a file's folder names give it, and their values (None: null)."""
    keys: dict[str, Any] = ds.get_partition_keys(fragment.partition_expression)
    return keys


def check_stored_keys(fragment: ds.ParquetFileFragment, physical: pa.Schema) -> None:
    """Fail in one line naming the file when a key it stores disagrees with its folder name."""
    for name, value in partition_keys(fragment).items():
        if name not in physical.names:
            continue  # the usual layout: the folder name alone holds the key
        dtype = physical.field(name).type
        if _stats_agree(fragment, name, value, dtype):
            continue
        stored = _first_disagreement(fragment, name, value, dtype)
        if stored is not _AGREE:
            raise InputError(
                f"{fragment.path}: partition key {name!r} is {value!r} in the folder name but "
                f"{stored!r} in the file's own {name!r} column; move the rows to the folder "
                "of their value, or drop the column from the file (the folder name supplies it)"
            )


def _value_type(dtype: pa.DataType) -> pa.DataType:
    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype


def _as_stored(value: Any, dtype: pa.DataType) -> pa.Scalar | None:
    """The folder's value as the column's type; None when it does not convert (a disagreement
    for every stored value that is not null)."""
    try:
        return pa.scalar(value).cast(_value_type(dtype))
    except (pa.ArrowException, ValueError, TypeError):
        return None


def _stats_agree(
    fragment: ds.ParquetFileFragment, name: str, value: Any, dtype: pa.DataType
) -> bool:
    """True when every row group's statistics show the column holds just ``value``; False when
    they do not show it (missing statistics, or a disagreement that the column will name)."""
    metadata = fragment.metadata
    paths = [metadata.schema.column(j).path for j in range(metadata.num_columns)]
    if paths.count(name) != 1:
        return False
    column = paths.index(name)
    wanted = _as_stored(value, dtype) if value is not None else None
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        if group.num_rows == 0:
            continue
        stats = group.column(column).statistics
        try:
            if stats is None or not stats.has_null_count:
                return False
            if value is None:
                if stats.null_count != group.num_rows:
                    return False
                continue
            if wanted is None or stats.null_count or not stats.has_min_max:
                return False
            if not stats.min == stats.max == wanted.as_py():
                return False
        except (ValueError, TypeError, pa.ArrowException):  # e.g. a min that is not UTF-8
            return False
    return True


def _first_disagreement(
    fragment: ds.ParquetFileFragment, name: str, value: Any, dtype: pa.DataType
) -> Any:
    """The first stored value that is not the folder's, read from the file itself; ``_AGREE``
    when there is none."""
    plain = fragment.format.make_fragment(fragment.path, fragment.filesystem)
    try:
        column = plain.to_table(columns=[name]).column(name)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{fragment.path}: cannot read column {name!r} ({exc})") from None
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if value is None:
        differs = pc.is_valid(column)
    else:
        wanted = _as_stored(value, dtype)
        differs = (
            pc.is_valid(column)
            if wanted is None
            else pc.invert(pc.fill_null(pc.equal(column, wanted), False))
        )
    rows = pc.indices_nonzero(differs)
    if len(rows) == 0:
        return _AGREE
    return utf8_safe(column.take(rows.slice(0, 1))).to_pylist()[0]
