"""The input's schema checks: the job's columns are there with types their roles read, and every
file of a dataset has the same columns and types."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from zslabel.config import InputSpec
from zslabel.errors import InputError
from zslabel.images import is_image_type
from zslabel.input_open import open_dataset
from zslabel.partitions import check_stored_keys, partition_keys


def check_columns(
    spec: InputSpec, schema: pa.Schema, needs_text: bool, image_columns: Sequence[str]
) -> None:
    """The dataset has the job's columns, of types their roles can read."""
    names = schema.names
    roles = [("id", spec.id_column), *(("image", c) for c in image_columns)]
    if needs_text:
        roles.insert(0, ("text", spec.text_column))
    for role, column in roles:
        if column is not None and column not in names:
            hint = ""
            if role == "text":
                likely = likely_text_column(spec.path, schema, column, exclude=spec.id_column)
                if likely is not None:
                    hint = f"; did you mean --text-column {likely} / text_column: {likely}?"
            else:  # an id or image column: a close name (ticketid / ticket_id), case aside
                likely = _close_column(column, names)
                if likely is not None:
                    if role == "id":
                        likely = f"--id-column {likely} / id_column: {likely}"
                    hint = f"; did you mean {likely}?"
            raise InputError(
                f"{spec.path}: {role} column {column!r} not found; columns are "
                f"{', '.join(names)}{hint}"
            )
    for column in image_columns:
        image_type = schema.field(column).type
        if not is_image_type(image_type):
            raise InputError(
                f"{spec.path}: image column {column!r} has type {image_type}, expected "
                "binary (encoded images), string (file paths) or a {bytes, path} struct"
            )
    if not needs_text:
        return
    text_type = schema.field(spec.text_column).type
    if not is_text_type(text_type):
        raise InputError(
            f"{spec.path}: text column {spec.text_column!r} has type {text_type}, "
            "expected a string (or UTF-8 binary) column"
        )


def _close_column(wanted: str, names: Sequence[str]) -> str | None:
    """The column a missing ``wanted`` most likely is: a close name, case aside (``ticketid``
    for ``ticket_id``), else the one column whose name has ``wanted`` as a word (``feedback_id``
    or ``FeedbackId`` for ``id``: a new user's trial got no hint for those)."""
    lowered = {str(name).lower(): str(name) for name in names}
    close = difflib.get_close_matches(wanted.lower(), list(lowered), n=1, cutoff=0.75)
    if close:
        return lowered[close[0]]
    word = wanted.lower()
    having = [str(name) for name in names if word in _words(str(name))]
    return having[0] if len(having) == 1 else None


def _words(name: str) -> list[str]:
    """``feedback_id``, ``feedback-id``, ``FeedbackId``: ``feedback``, ``id``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [w.lower() for w in re.split(r"[^0-9A-Za-z]+", spaced) if w]


def likely_text_column(
    path: str, schema: pa.Schema, wanted: str, exclude: str | None = None
) -> str | None:
    """The column a missing text column ``wanted`` most likely is: a text column whose name is
    close to it (``Text``, ``texts``; :func:`difflib.get_close_matches`, case-insensitive), else
    the text column with the longest mean length over the first :data:`SAMPLE_ROWS` rows (the
    free text beside ids, dates and categories). None when the input has no text column other
    than ``exclude`` (the id column). Reads at most ``SAMPLE_ROWS`` rows of ``path``, and only
    on this error path; an unreadable sample just gives no length-based guess."""
    texts = [
        str(field.name)
        for field in schema
        if is_text_type(field.type) and field.name != exclude and field.name != wanted
    ]
    if not texts:
        return None
    lowered = {name.lower(): name for name in texts}
    close = difflib.get_close_matches(wanted.lower(), list(lowered), n=1)
    if close:
        return lowered[close[0]]
    if len(texts) == 1:
        return texts[0]
    lengths = mean_lengths(path, texts)
    if not lengths:
        return None
    best = max(texts, key=lambda name: lengths[name])  # the first of equals: schema order
    return best if lengths[best] > 0 else None


def string_columns(schema: pa.Schema) -> list[str]:
    """The columns of ``schema`` that hold strings (not bytes: a photo is no text)."""
    return [
        str(field.name)
        for field in schema
        if is_text_type(field.type) and not _is_binary_type(field.type)
    ]


def mean_lengths(path: str, names: list[str]) -> dict[str, float]:
    """Each column's mean length over the first :data:`SAMPLE_ROWS` rows of ``path``;
    ``{}`` when the sample cannot be read."""
    try:
        sample = open_dataset(path).head(SAMPLE_ROWS, columns=names)
    except (InputError, pa.ArrowException, OSError):
        return {}
    return {name: _mean_length(sample.column(name)) for name in names}


# Rows read to guess the text column by length: enough for a stable mean, cheap on any input.
SAMPLE_ROWS = 1000


def _mean_length(column: pa.ChunkedArray) -> float:
    """Mean length of the non-null values, in characters (bytes for a binary column)."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    try:
        if _is_binary_type(column.type):
            lengths = pc.binary_length(column)
        else:
            lengths = pc.utf8_length(column)
        mean = pc.mean(lengths).as_py()
    except (pa.ArrowException, OSError):
        return 0.0
    return float(mean or 0.0)


def check_file(
    fragment: ds.ParquetFileFragment,
    physical: pa.Schema,
    schema: pa.Schema,
    text_column: str,
    needs_text: bool,
) -> pa.Schema:
    """One file of the dataset against the dataset's ``schema``; return that schema, with the
    text column read as binary where this file stores it so (see :func:`_check_file_types`)."""
    schema = _check_file_columns(fragment, physical, schema, text_column)
    if needs_text and not is_text_type(physical.field(text_column).type):
        raise InputError(
            f"{fragment.path}: text column {text_column!r} has type "
            f"{physical.field(text_column).type}, expected a string column"
        )
    return schema


def _check_file_columns(
    fragment: ds.ParquetFileFragment, physical: pa.Schema, schema: pa.Schema, text_column: str
) -> pa.Schema:
    """Every file must have the dataset's columns: a missing one would read as nulls.

    A hive partition key may be stored in the file as well; then its values must agree with
    the folder name (which is what Arrow reads).
    """
    path = fragment.path
    from_path = set(partition_keys(fragment))
    expected = set(schema.names) - from_path
    missing = expected - set(physical.names)
    extra = set(physical.names) - expected - from_path
    if missing or extra:
        differences = [
            f"{what} {', '.join(map(repr, sorted(names)))}"
            for what, names in (("missing", missing), ("extra", extra))
            if names
        ]
        raise InputError(
            f"{path}: its columns differ from the rest of the dataset "
            f"({'; '.join(differences)}); all files must share one schema"
        )
    schema = _check_file_types(path, physical, schema, text_column)
    check_stored_keys(fragment, physical)
    return schema


def _check_file_types(
    path: str, physical: pa.Schema, schema: pa.Schema, text_column: str
) -> pa.Schema:
    """Every file's columns must read as the dataset's types (those of its first file).

    Checked here, before any scoring, rather than failing mid-run on a cast. A text column
    that is binary in some files and string in others is read as binary everywhere: string
    to binary always casts, while binary to string fails the whole run on one row of invalid
    UTF-8 that should only be an invalid row.
    """
    for name in physical.names:
        have, want = physical.field(name).type, schema.field(name).type
        if name == text_column and is_text_type(have) and is_text_type(want):
            if _is_binary_type(have) and not _is_binary_type(want):
                binary = pa.large_binary() if pa.types.is_large_binary(have) else pa.binary()
                i = schema.get_field_index(name)
                schema = schema.set(i, schema.field(i).with_type(binary))
            continue
        if name == text_column or pa.types.is_null(have):
            continue  # the text check below names it; a column of nulls reads as any type
        if _type_family(have) != _type_family(want):
            raise InputError(
                f"{path}: column {name!r} has type {have}, but {want} in the rest of the "
                "dataset; all files must share one schema: write the column as one type in "
                f"every file (Spark: col({name!r}).cast('string'), pandas: .astype(str); ids "
                "read best as strings)"
            )
    return schema


def is_text_type(dtype: pa.DataType) -> bool:
    if pa.types.is_dictionary(dtype):  # e.g. a pandas categorical written to Parquet
        return is_text_type(dtype.value_type)
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
        or pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
    )


def _is_binary_type(dtype: pa.DataType) -> bool:
    if pa.types.is_dictionary(dtype):
        return _is_binary_type(dtype.value_type)
    binary = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view)
    return any(test(dtype) for test in binary)


def _type_family(dtype: pa.DataType) -> str:
    """What a type reads as for the same-schema check: int32 and int64 are both "integer"."""
    if pa.types.is_dictionary(dtype):
        return _type_family(dtype.value_type)
    families = (
        ("text", is_text_type),
        ("integer", pa.types.is_integer),
        ("float", pa.types.is_floating),
        ("boolean", pa.types.is_boolean),
        ("timestamp", pa.types.is_timestamp),
        ("date", pa.types.is_date),
    )
    for family, test in families:
        if test(dtype):
            return family
    return str(dtype)
