"""The Arrow type families the text formats write alike, and the view-free form of a type."""

from __future__ import annotations

import pyarrow as pa


def is_type(name: str, t: pa.DataType) -> bool:
    """``pa.types.is_<name>(t)``; False where this pyarrow predates the type."""
    check = getattr(pa.types, f"is_{name}", None)
    return bool(check(t)) if check is not None else False


def is_binary(t: pa.DataType) -> bool:
    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or is_type("binary_view", t)
    )


def is_list(t: pa.DataType) -> bool:
    return (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or is_type("list_view", t)
        or is_type("large_list_view", t)
    )


def is_nested(t: pa.DataType) -> bool:
    return is_list(t) or pa.types.is_struct(t) or pa.types.is_map(t)


def is_uuid(t: pa.DataType) -> bool:
    return isinstance(t, pa.BaseExtensionType) and t.extension_name == "arrow.uuid"


def is_plain(t: pa.DataType) -> bool:
    """Types whose values are written as they are (CSV cells as Arrow's CSV writer writes them)."""
    return bool(
        pa.types.is_null(t)
        or pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_duration(t)
    )


def viewless(t: pa.DataType) -> pa.DataType:
    """``t`` with string_view / binary_view (also inside lists, structs and maps) as
    large_string / large_binary: pyarrow has no take kernel for views, so batches holding them
    cannot be filtered as they are. List views are left as they are (Arrow cannot cast their
    values)."""
    if is_type("string_view", t):
        return pa.large_string()
    if is_type("binary_view", t):
        return pa.large_binary()
    if pa.types.is_map(t):
        return pa.map_(
            t.key_field.with_type(viewless(t.key_type)),
            t.item_field.with_type(viewless(t.item_type)),
            t.keys_sorted,
        )
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(viewless(t.value_type)))
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(viewless(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(viewless(t.value_type)), t.list_size)
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(viewless(f.type)) for f in t])
    return t
