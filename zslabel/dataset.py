"""Open the input, validate its schema, plan shards and stream record batches.

A shard is a run of consecutive row groups of one file, or a range of rows of one row group
that holds at least twice ``shard_rows``: the unit of scoring, caching and of parallel work.
Shards are ordered by file path and row, which fixes the global row order that every output
keeps.

Values are read without trusting that a string column holds UTF-8 (see ``zslabel.utf8``): a text
that is not UTF-8 is an invalid row, and every other string reaches the outputs with U+FFFD in
place of its invalid bytes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from zslabel.config import InputSpec
from zslabel.errors import InputError
from zslabel.images import ShardImages, is_image_type, read_shard_images
from zslabel.partitions import check_stored_keys, partition_keys
from zslabel.utf8 import text_values, utf8_safe_batch

# Why a row cannot be labeled; these become ``zs_reason`` of invalid rows.
NULL_TEXT = "null_text"
EMPTY_TEXT = "empty_text"
INVALID_UTF8 = "invalid_utf8"
# Open reads of large row groups kept between shards (see ``_GroupReader``).
MAX_OPEN_READS = 8


@dataclass(frozen=True)
class Shard:
    index: int
    path: str
    row_groups: tuple[int, ...]
    start_row: int
    num_rows: int
    # A range of rows of one large row group: where in the group it starts. None for a shard
    # of whole row groups.
    group_offset: int | None = None


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
        self._open_reads: dict[tuple[str, int, tuple[str, ...] | None], _GroupReader] = {}
        self._open_reads_lock = threading.Lock()
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
        try:
            footer = json.dumps(fragment.metadata.to_dict(), sort_keys=True, default=str).encode()
        except UnicodeDecodeError:
            # Statistics of a string column that is not UTF-8 do not decode: hash the footer as
            # it is serialized instead (such files could not be labeled before: no old stamp).
            sink = pa.BufferOutputStream()
            fragment.metadata.write_metadata_file(sink)
            footer = sink.getvalue().to_pybytes()
        stamp = f"{info.size}\x00{info.mtime_ns}\x00".encode() + footer
        return hashlib.blake2b(stamp, digest_size=16).hexdigest()

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

    def _check_file_columns(self, fragment: ds.ParquetFileFragment, physical: pa.Schema) -> None:
        """Every file must have the dataset's columns: a missing one would read as nulls.

        A hive partition key may be stored in the file as well; then its values must agree with
        the folder name (which is what Arrow reads).
        """
        path = fragment.path
        from_path = set(partition_keys(fragment))
        expected = set(self.schema.names) - from_path
        missing = expected - set(physical.names)
        extra = set(physical.names) - expected - from_path
        if missing or extra:
            raise InputError(
                f"{path}: its columns differ from the rest of the dataset (missing "
                f"{sorted(missing)}, extra {sorted(extra)}); all files must share one schema"
            )
        self._check_file_types(path, physical)
        check_stored_keys(fragment, physical)

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
                group_rows = metadata.row_group(rg).num_rows
                if group_rows >= 2 * shard_rows:
                    # Split into ranges of shard_rows to 2 x shard_rows rows. Smaller groups
                    # are shared as before, so their shards (and cache keys) stay the same.
                    if rows:
                        yield Shard(index, fragment.path, tuple(group), start, rows)
                        index, start, group, rows = index + 1, start + rows, [], 0
                    for offset, part in _split(group_rows, group_rows // shard_rows):
                        yield Shard(index, fragment.path, (rg,), start, part, offset)
                        index, start = index + 1, start + part
                    continue
                group.append(rg)
                rows += group_rows
                if rows >= shard_rows:
                    yield Shard(index, fragment.path, tuple(group), start, rows)
                    index, start, group, rows = index + 1, start + rows, [], 0
            if rows:
                yield Shard(index, fragment.path, tuple(group), start, rows)
                index, start = index + 1, start + rows

    def _scanner(self, shard: Shard, columns: Sequence[str] | None) -> ds.Scanner:
        fragment = self._fragments[shard.path].subset(row_group_ids=list(shard.row_groups))
        return ds.Scanner.from_fragment(
            fragment,
            schema=self.schema,
            columns=list(columns) if columns is not None else None,
            batch_size=self.spec.batch_rows,
            use_threads=False,
        )

    def _read(self, shard: Shard, columns: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        """A shard's rows as stored (strings unchecked), in record batches."""
        try:
            if shard.group_offset is None:
                yield from self._scanner(shard, columns).to_batches()
            else:
                yield from self._read_range(shard, columns)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{shard.path}: cannot read rows ({_first_line(exc)})") from None

    def _read_range(self, shard: Shard, columns: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        """A range of a large row group, in batches of exactly batch_rows (the last shorter).

        Parquet has no row offset to seek to: a range is read from the group's start. So the
        read is kept open where the shard ends, and the group's next shard, which a pass over
        the shards in order reads next, continues it: one pass over the group in all. A shard
        read out of order (by another thread) reads from the start again (measured at 1M rows
        and 61 ranges: some 7x the cost of reading the group once).
        """
        assert shard.group_offset is not None
        key = (shard.path, shard.row_groups[0], None if columns is None else tuple(columns))
        with self._open_reads_lock:
            reader = self._open_reads.pop(key, None)
        if reader is None or reader.row != shard.group_offset:
            reader = _GroupReader(self._scanner(shard, columns).to_batches())
            for _ in reader.take(shard.group_offset):  # read past the rows before the range
                pass
        size = self.spec.batch_rows
        pending: list[pa.RecordBatch] = []
        held = 0
        for piece in reader.take(shard.num_rows):
            pending.append(piece)
            held += piece.num_rows
            while held >= size:
                whole = pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                yield whole.slice(0, size)
                pending, held = [whole.slice(size)], held - size
        group_rows = self._fragments[shard.path].metadata.row_group(shard.row_groups[0]).num_rows
        if reader.row < group_rows:
            with self._open_reads_lock:
                if len(self._open_reads) >= MAX_OPEN_READS:
                    self._open_reads.pop(next(iter(self._open_reads)))
                self._open_reads[key] = reader
        if held:
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)

    def iter_batches(
        self, shard: Shard, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream a shard's rows (all columns by default) in record batches.

        A string that is not UTF-8 comes with U+FFFD in place of its invalid bytes (which is
        what the outputs hold); ``read_texts`` tells such a text apart as invalid.
        """
        for batch in self._read(shard, columns):
            try:
                yield utf8_safe_batch(batch)
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{shard.path}: cannot read rows ({_first_line(exc)})") from None

    def read_texts(self, shard: Shard) -> ShardTexts:
        digest = hashlib.blake2b(digest_size=16)
        texts: list[str] = []
        valid_rows: list[int] = []
        invalid: dict[int, str] = {}
        position = 0
        for batch in self._read(shard, [self.spec.text_column]):
            try:
                values = text_values(batch.column(0))
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{shard.path}: cannot read rows ({_first_line(exc)})") from None
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

    def read_images(self, shard: Shard, column: str) -> ShardImages:
        """A shard's image column; relative paths are relative to the file's folder."""
        base_dir = Path(shard.path).parent if "://" not in self.spec.path else None
        values = (
            value
            for batch in self.iter_batches(shard, [column])
            for value in batch.column(0).to_pylist()
        )
        return read_shard_images(values, base_dir)


class _GroupReader:
    """An open read of one row group, ``row`` rows in."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self._batches = batches
        self._left: pa.RecordBatch | None = None  # read but not taken yet
        self.row = 0

    def take(self, rows: int) -> Iterator[pa.RecordBatch]:
        """The next ``rows`` rows (fewer at the end of the group), in pieces."""
        while rows > 0:
            if self._left is None or self._left.num_rows == 0:
                self._left = next(self._batches, None)
                if self._left is None:
                    return
            piece = self._left.slice(0, rows)
            self._left = self._left.slice(piece.num_rows)
            self.row += piece.num_rows
            rows -= piece.num_rows
            yield piece


def _split(rows: int, parts: int) -> Iterator[tuple[int, int]]:
    """(offset, rows) of ``parts`` consecutive ranges of ``rows`` rows, as even as can be."""
    size, longer = divmod(rows, parts)
    offset = 0
    for part in range(parts):
        count = size + (part < longer)
        yield offset, count
        offset += count


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
    hive = info.type == pafs.FileType.Directory
    try:
        return ds.dataset(
            location, filesystem=filesystem, format="parquet", partitioning="hive" if hive else None
        )
    except (pa.ArrowException, OSError) as exc:
        if hive and isinstance(exc, pa.ArrowTypeError):
            dataset = _with_stored_key_types(filesystem, location)
            if dataset is not None:
                return dataset
        raise InputError(f"{path}: not a readable Parquet dataset ({_first_line(exc)})") from None


def _with_stored_key_types(filesystem: pafs.FileSystem, location: str) -> ds.Dataset | None:
    """A hive dataset whose files store a partition key as another type than its folder names
    read as (year=2024 reads as int32, the files hold int64; a dictionary column), which Arrow
    cannot merge: the key takes the first file's type. None if that does not open either."""
    try:
        factory = ds.FileSystemDatasetFactory(
            filesystem,
            pafs.FileSelector(location, recursive=True),
            ds.ParquetFileFormat(),
            ds.FileSystemFactoryOptions(partitioning=ds.partitioning(flavor="hive")),
        )
        stored = ds.dataset(location, filesystem=filesystem, format="parquet").schema
        keys = factory.inspect(fragments=0)  # the partition keys alone, as the folders read
        return factory.finish(
            pa.schema([*stored, *(k for k in keys if k.name not in stored.names)])
        )
    except (pa.ArrowException, OSError):
        return None


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
