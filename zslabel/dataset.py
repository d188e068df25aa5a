"""Open the input, validate its schema, plan shards and stream record batches.

A shard is a run of consecutive row groups of one file: the unit of scoring, caching and (later)
of parallel work. Shards are ordered by file path and row group, which fixes the global row order
that every output keeps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from zslabel.config import InputSpec
from zslabel.errors import InputError
from zslabel.images import ShardImages, is_image_type, read_shard_images

# Why a row cannot be labeled; these become ``zs_reason`` of invalid rows.
NULL_TEXT = "null_text"
EMPTY_TEXT = "empty_text"
INVALID_UTF8 = "invalid_utf8"


@dataclass(frozen=True)
class Shard:
    index: int
    path: str
    row_groups: tuple[int, ...]
    start_row: int
    num_rows: int


@dataclass(frozen=True)
class ShardTexts:
    """The text column of one shard, split into what can be scored and why the rest cannot."""

    texts: list[str]  # the valid texts, in row order
    valid_rows: list[int]  # their positions within the shard
    invalid: dict[int, str]  # position -> reason
    fingerprint: str  # content hash of the shard's texts: what its scores depend on


class InputDataset:
    """A validated Parquet input: one file, a folder, or a (hive) partitioned dataset."""

    def __init__(
        self,
        spec: InputSpec,
        files: Collection[str] | None = None,
        *,
        needs_text: bool = True,
        image_columns: Sequence[str] = (),
    ) -> None:
        """Open ``spec.path``; with ``files``, only those files of it (paths as in ``files``).

        ``needs_text`` is False for jobs whose sources all read images (``image_columns``).
        """
        self.spec = spec
        self.needs_text = needs_text
        self.image_columns = tuple(image_columns)
        self._only = set(files) if files is not None else None
        self._dataset = _open(spec.path)
        self.schema: pa.Schema = self._dataset.schema
        self._check_columns()
        self.shards: tuple[Shard, ...] = tuple(self._plan(spec.shard_rows))
        self.num_rows = sum(s.num_rows for s in self.shards)
        if self.num_rows == 0:
            raise InputError(f"{spec.path}: the dataset has no rows")

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    @property
    def files(self) -> list[str]:
        return list(self._fragments)

    def file_fingerprint(self, path: str) -> str:
        """A cheap identity of one file: size, modification time and Parquet footer."""
        fragment = self._fragments[path]
        info = fragment.filesystem.get_file_info(path)
        footer = json.dumps(fragment.metadata.to_dict(), sort_keys=True, default=str)
        stamp = f"{info.size}\x00{info.mtime_ns}\x00{footer}"
        return hashlib.blake2b(stamp.encode(), digest_size=16).hexdigest()

    def file_rows(self, path: str) -> int:
        return int(self._fragments[path].metadata.num_rows)

    def _check_columns(self) -> None:
        names = self.schema.names
        roles = [("id", self.spec.id_column), *(("image", c) for c in self.image_columns)]
        if self.needs_text:
            roles.insert(0, ("text", self.spec.text_column))
        for role, column in roles:
            if column is not None and column not in names:
                raise InputError(
                    f"{self.spec.path}: {role} column {column!r} not found; "
                    f"columns are {', '.join(names)}"
                )
        for column in self.image_columns:
            image_type = self.schema.field(column).type
            if not is_image_type(image_type):
                raise InputError(
                    f"{self.spec.path}: image column {column!r} has type {image_type}, expected "
                    "binary (encoded images), string (file paths) or a {bytes, path} struct"
                )
        if not self.needs_text:
            return
        text_type = self.schema.field(self.spec.text_column).type
        if not _is_text_type(text_type):
            raise InputError(
                f"{self.spec.path}: text column {self.spec.text_column!r} has type {text_type}, "
                "expected a string (or UTF-8 binary) column"
            )

    def _check_file_columns(self, fragment: ds.Fragment, physical: pa.Schema) -> None:
        """Every file must have the dataset's columns: a missing one would read as nulls."""
        path = fragment.path
        from_path = set(ds.get_partition_keys(fragment.partition_expression))
        expected = set(self.schema.names) - from_path
        missing, extra = expected - set(physical.names), set(physical.names) - expected
        if missing or extra:
            raise InputError(
                f"{path}: its columns differ from the rest of the dataset (missing "
                f"{sorted(missing)}, extra {sorted(extra)}); all files must share one schema"
            )
        self._check_file_types(path, physical)

    def _check_file_types(self, path: str, physical: pa.Schema) -> None:
        """Every file's columns must read as the dataset's types (those of its first file).

        Checked here, before any scoring, rather than failing mid-run on a cast. A text column
        that is binary in some files and string in others is read as binary everywhere: string
        to binary always casts, while binary to string fails the whole run on one row of invalid
        UTF-8 that should only be an invalid row.
        """
        for name in physical.names:
            have, want = physical.field(name).type, self.schema.field(name).type
            if name == self.spec.text_column and _is_text_type(have) and _is_text_type(want):
                if _is_binary_type(have) and not _is_binary_type(want):
                    binary = pa.large_binary() if pa.types.is_large_binary(have) else pa.binary()
                    i = self.schema.get_field_index(name)
                    self.schema = self.schema.set(i, self.schema.field(i).with_type(binary))
                continue
            if name == self.spec.text_column or pa.types.is_null(have):
                continue  # the text check below names it; a column of nulls reads as any type
            if _type_family(have) != _type_family(want):
                raise InputError(
                    f"{path}: column {name!r} has type {have}, but {want} in the rest of the "
                    "dataset; all files must share one schema"
                )

    def _plan(self, shard_rows: int) -> Iterator[Shard]:
        fragments = sorted(self._dataset.get_fragments(), key=lambda f: f.path)
        if self._only is not None:
            fragments = [f for f in fragments if f.path in self._only]
        self._fragments = {fragment.path: fragment for fragment in fragments}
        start = 0
        index = 0
        for fragment in fragments:
            try:
                metadata = fragment.metadata
                physical = fragment.physical_schema
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{fragment.path}: not a readable Parquet file ({exc})") from None
            self._check_file_columns(fragment, physical)
            if self.needs_text and not _is_text_type(physical.field(self.spec.text_column).type):
                raise InputError(
                    f"{fragment.path}: text column {self.spec.text_column!r} has type "
                    f"{physical.field(self.spec.text_column).type}, expected a string column"
                )
            group: list[int] = []
            rows = 0
            for rg in range(metadata.num_row_groups):
                group.append(rg)
                rows += metadata.row_group(rg).num_rows
                if rows >= shard_rows:
                    yield Shard(index, fragment.path, tuple(group), start, rows)
                    index, start, group, rows = index + 1, start + rows, [], 0
            if rows:
                yield Shard(index, fragment.path, tuple(group), start, rows)
                index, start = index + 1, start + rows

    def _fragment(self, shard: Shard) -> ds.Fragment:
        return self._fragments[shard.path].subset(row_group_ids=list(shard.row_groups))

    def iter_batches(
        self, shard: Shard, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream a shard's rows (all columns by default) in record batches."""
        scanner = ds.Scanner.from_fragment(
            self._fragment(shard),
            schema=self.schema,
            columns=list(columns) if columns is not None else None,
            batch_size=self.spec.batch_rows,
            use_threads=False,
        )
        try:
            yield from scanner.to_batches()
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{shard.path}: cannot read rows ({exc})") from None

    def read_texts(self, shard: Shard) -> ShardTexts:
        digest = hashlib.blake2b(digest_size=16)
        texts: list[str] = []
        valid_rows: list[int] = []
        invalid: dict[int, str] = {}
        position = 0
        for batch in self.iter_batches(shard, [self.spec.text_column]):
            for value in batch.column(0).to_pylist():
                digest.update(_framed(value))
                reason = text_status(value)
                if reason:
                    invalid[position] = reason
                else:
                    texts.append(value.decode() if isinstance(value, bytes) else value)
                    valid_rows.append(position)
                position += 1
        return ShardTexts(texts, valid_rows, invalid, digest.hexdigest())

    def read_images(self, shard: Shard, column: str) -> ShardImages:
        """A shard's image column; relative paths are relative to the file's folder."""
        base_dir = Path(shard.path).parent if "://" not in self.spec.path else None
        values = (
            value
            for batch in self.iter_batches(shard, [column])
            for value in batch.column(0).to_pylist()
        )
        return read_shard_images(values, base_dir)


def _is_text_type(dtype: pa.DataType) -> bool:
    if pa.types.is_dictionary(dtype):  # e.g. a pandas categorical written to Parquet
        return _is_text_type(dtype.value_type)
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
        ("text", _is_text_type),
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


def _open(path: str) -> ds.Dataset:
    filesystem, location = _filesystem(path)
    try:
        info = filesystem.get_file_info(location)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot access input ({exc})") from None
    if info.type == pafs.FileType.NotFound:
        raise InputError(f"{path}: input not found")
    try:
        return ds.dataset(
            location,
            filesystem=filesystem,
            format="parquet",
            partitioning="hive" if info.type == pafs.FileType.Directory else None,
        )
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet dataset ({_first_line(exc)})") from None


def _filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path:
        try:
            filesystem, location = pafs.FileSystem.from_uri(path)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(f"{path}: unsupported or unreachable location ({exc})") from None
        return filesystem, location
    return pafs.LocalFileSystem(), str(Path(path).expanduser().resolve())


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
