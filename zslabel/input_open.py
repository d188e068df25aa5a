"""Opening a Parquet input, local or at a URI: one file, a folder, or a hive-partitioned dataset."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from zslabel.errors import InputError


def open_dataset(path: str) -> ds.Dataset:
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
        raise InputError(f"{path}: not a readable Parquet dataset ({first_line(exc)})") from None


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


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
