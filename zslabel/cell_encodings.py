"""How the text formats write the values of single types that JSON and CSV have no form for."""

from __future__ import annotations

import base64
import uuid

import pyarrow as pa
import pyarrow.compute as pc


def base64_text(array: pa.Array) -> pa.Array:
    return pa.array(
        [None if v is None else base64.b64encode(v).decode("ascii") for v in array.to_pylist()],
        pa.string(),
    )


def utf8_text(array: pa.Array) -> pa.Array:
    try:
        return array.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Bytes that are not valid UTF-8: written with U+FFFD, as the labeled texts are.
        values = array.to_pylist()
        return pa.array(
            [None if v is None else v.decode("utf-8", errors="replace") for v in values],
            pa.string(),
        )


def decimal_text(array: pa.Array) -> pa.Array:
    """Every digit in positional notation (``-0.000000001``, never Arrow's ``-1E-9``)."""
    return pa.array([None if v is None else format(v, "f") for v in array.to_pylist()], pa.string())


def rfc3339(array: pa.Array) -> pa.Array:
    """Local time in the column's zone and its offset, with the unit's fraction digits.

    An offset with seconds (local mean time before about 1920, e.g. Amsterdam's +00:19:32) has
    no RFC 3339 form: such values are written in UTC (``Z``), the same instant.
    """
    if not array.type.tz:
        return pc.strftime(array, format="%Y-%m-%dT%H:%M:%S")
    local = pc.strftime(array, format="%Y-%m-%dT%H:%M:%S%Ez")
    utc = pc.strftime(array.cast(pa.timestamp(array.type.unit, "UTC")), format="%Y-%m-%dT%H:%M:%S")
    # The local wall time minus the written offset must be the instant; where the offset lost
    # its seconds, it is not, and the UTC form is written instead.
    naive = array.cast(pa.timestamp(array.type.unit))
    wall = pc.local_timestamp(array)
    shift = pc.subtract(wall.cast(pa.int64()), naive.cast(pa.int64()))
    per_minute = {"s": 60, "ms": 60_000, "us": 60_000_000, "ns": 60_000_000_000}[array.type.unit]
    whole_minutes = pc.equal(pc.multiply(pc.divide(shift, per_minute), per_minute), shift)
    return pc.if_else(whole_minutes, local, pc.binary_join_element_wise(utc, "Z", ""))


def uuid_text(array: pa.Array) -> pa.Array:
    values = array.storage.to_pylist()
    return pa.array([None if v is None else str(uuid.UUID(bytes=v)) for v in values], pa.string())
