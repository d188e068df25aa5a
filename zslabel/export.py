"""Streaming writers for the output folder, committed atomically.

Every file is written under a staging folder inside the output folder and moved into place with
``os.replace`` only when all of them are complete, manifest last: a crash leaves the previous
output intact, and a reader who sees a manifest sees the files it describes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from zslabel import cells
from zslabel.errors import InputError, OutputError
from zslabel.redact import redact_value

FORMATS = ("parquet", "jsonl", "csv")
MANIFEST = "manifest.json"
STAGING_PREFIX = ".staging-"
# The previous run's manifest while a commit replaces its files.
PREVIOUS_MANIFEST = ".manifest.previous.json"
# Rows per Parquet row group of every output file (Hugging Face datasets writes 1,000). Each of
# the five output files buffers up to a group: at 16,384 rows that was 21 MiB of a 1M-row job's
# peak, at 4,096 a quarter of it (bench/memory.py).
ROW_GROUP_ROWS = 4096
PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


class TableWriter(Protocol):
    path: Path
    rows: int
    # Column -> how it is encoded (zslabel.cells.encodings); empty for Parquet.
    encoding: dict[str, str]

    def write(self, batch: pa.RecordBatch) -> None: ...

    def close(self) -> None: ...


class ParquetTableWriter:
    """Parquet in row groups of exactly ``row_group_rows`` rows (the last one excepted).

    Batches are buffered and cut into fixed row groups, each one contiguous chunk, so that the
    file's bytes depend on its rows only: not on the input's row groups, ``input.batch_rows``,
    ``input.shard_rows`` or how a filter split the batches. Without this, every batch became a row
    group of its own, and the same rows gave different files.
    """

    def __init__(self, path: Path, schema: pa.Schema, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.path, self.rows = path, 0
        self.encoding: dict[str, str] = {}
        self._schema = schema
        self._row_group_rows = row_group_rows
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        # No timestamps or writer ids in the file: the same rows give the same bytes.
        with _naming_failures(path):
            self._writer = pq.ParquetWriter(path, schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._pending.append(batch)
            self._pending_rows += batch.num_rows
            self.rows += batch.num_rows
        while self._pending_rows >= self._row_group_rows:
            self._flush(self._row_group_rows)

    def close(self) -> None:
        if self._pending_rows:
            self._flush(self._pending_rows)
        with _naming_failures(self.path):
            self._writer.close()

    def _flush(self, rows: int) -> None:
        table = pa.Table.from_batches(self._pending, schema=self._schema)
        group, rest = table.slice(0, rows), table.slice(rows)
        self._pending = rest.to_batches()
        self._pending_rows = rest.num_rows
        with _naming_failures(self.path):
            self._writer.write_table(group.combine_chunks(), row_group_size=rows)


class CsvTableWriter:
    """CSV with one header line; values are encoded as :mod:`zslabel.cells` describes (nested
    values as JSON text, bytes as base64, timestamps as RFC 3339 with their offset)."""

    def __init__(self, path: Path, schema: pa.Schema, text_columns: Collection[str] = ()) -> None:
        self.path, self.rows = path, 0
        self._text_columns = frozenset(text_columns)
        self.encoding = cells.encodings(schema, "csv", self._text_columns)
        with _naming_failures(path), _unwritable(path):
            self._writer = pacsv.CSVWriter(path, cells.csv_schema(schema, self._text_columns))

    def write(self, batch: pa.RecordBatch) -> None:
        with _naming_failures(self.path), _unwritable(self.path):
            self._writer.write_batch(cells.csv_batch(batch, self._text_columns))
        self.rows += batch.num_rows

    def close(self) -> None:
        with _naming_failures(self.path):
            self._writer.close()


class JsonlTableWriter:
    """One JSON object a line, columns in order; values are encoded as :mod:`zslabel.cells`
    describes (bytes as base64, decimals as text, NaN as null)."""

    def __init__(self, path: Path, schema: pa.Schema, text_columns: Collection[str] = ()) -> None:
        self.path, self.rows = path, 0
        self._text_columns = frozenset(text_columns)
        self.encoding = cells.encodings(schema, "jsonl", self._text_columns)
        why = cells.check_writable(schema, "jsonl")
        if why is not None:
            raise OutputError(f"{path.name}: {why}; use format: parquet")
        with _naming_failures(path):
            self._handle: IO[str] = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115

    def write(self, batch: pa.RecordBatch) -> None:
        with _unwritable(self.path):
            lines = cells.json_lines(batch, self._text_columns)
        with _naming_failures(self.path):
            for line in lines:
                self._handle.write(line)
                self._handle.write("\n")
        self.rows += batch.num_rows

    def close(self) -> None:
        with _naming_failures(self.path):
            self._handle.close()


@contextlib.contextmanager
def _naming_failures(path: Path) -> Iterator[None]:
    """Turn a failed write (disk full, quota, I/O error) into one line naming the file.

    ``path`` lies in the staging folder; the message names the output folder and the file, and
    says that the previous outputs are intact (the caller removes the staging folder).
    """
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        output_dir = path.parent.parent
        reason = exc.strerror or _first_line(exc)
        raise OutputError(
            f"{output_dir}: cannot write {path.name} ({reason}); the previous outputs are untouched"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def _unwritable(path: Path) -> Iterator[None]:
    """A column the format has no rule for: one line naming the file. check_output_types
    refuses such columns when the job loads; this is the last line of defence."""
    try:
        yield
    except (cells.UnwritableTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise OutputError(
            f"{path.name}: a column cannot be written as {path.suffix.lstrip('.')} ({exc}); "
            "use format: parquet"
        ) from None


def check_output_types(schema: pa.Schema, fmt: str, origin: str) -> None:
    """Refuse, before any scoring, an output format that cannot hold a column of ``schema``."""
    why = cells.check_writable(schema, fmt)
    if why is not None:
        raise InputError(f"{origin}: {why}; use format: parquet, or drop the column from the input")


def filter_rows(batch: pa.RecordBatch, mask: pa.Array) -> pa.RecordBatch:
    """``batch.filter(mask)``, also for columns of string or binary views, which pyarrow cannot
    filter: those are filtered as large strings / binaries and cast back."""
    types = [cells.viewless(field.type) for field in batch.schema]
    if types == batch.schema.types:
        return batch.filter(mask)
    arrays = [
        array if array.type == t else array.cast(t)
        for array, t in zip(batch.columns, types, strict=True)
    ]
    kept = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names).filter(mask)
    return pa.RecordBatch.from_arrays(
        [array.cast(field.type) for array, field in zip(kept.columns, batch.schema, strict=True)],
        schema=batch.schema,
    )


_TEXT_WRITERS: dict[str, type[CsvTableWriter | JsonlTableWriter]] = {
    "csv": CsvTableWriter,
    "jsonl": JsonlTableWriter,
}


class StagedOutput:
    """Writers into a staging folder, then an atomic swap into the output folder."""

    def __init__(self, output_dir: Path, run_id: str, text_columns: Collection[str] = ()) -> None:
        """``text_columns``: input columns holding text; CSV and JSONL write a binary one as
        UTF-8 text rather than base64."""
        self.output_dir = output_dir
        self.text_columns = tuple(text_columns)
        self.staging = output_dir / f"{STAGING_PREFIX}{run_id}"
        try:
            self.staging.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise OutputError(f"{output_dir}: cannot write the output folder ({exc})") from None
        self._writers: dict[str, TableWriter] = {}

    def open(self, name: str, fmt: str, schema: pa.Schema) -> TableWriter:
        path = self.staging / name
        writer: TableWriter
        if fmt == "parquet":
            writer = ParquetTableWriter(path, schema)
        else:
            writer = _TEXT_WRITERS[fmt](path, schema, self.text_columns)
        self._writers[name] = writer
        return writer

    def write_json(self, name: str, payload: Any) -> None:
        # Redacted as a whole, so that a path the caller did not think of (a gold file's URI in
        # the calibration report, say) cannot carry a credential into the output folder either.
        payload = redact_value(payload)
        text = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        (self.staging / name).write_text(text + "\n", encoding="utf-8")

    def close_tables(self) -> dict[str, dict[str, Any]]:
        """Close every table and describe it (rows, sha256) for the manifest."""
        files = {}
        for name, writer in self._writers.items():
            writer.close()
            files[name] = {"rows": writer.rows, "sha256": file_sha256(writer.path)}
            if writer.encoding:
                # How a text format wrote the columns it could not write as they are.
                files[name]["encoding"] = writer.encoding
        return files

    def commit(self, manifest: dict[str, Any], extra_json: dict[str, Any]) -> None:
        """Move every staged file into place, the manifest last, and drop stale outputs.

        The previous manifest is moved aside first: while files of two runs sit side by side (or
        after a crash right then) the folder has no manifest.json, so a reader never sees one
        that does not describe the files beside it. The moved-aside copy still tells the next
        commit which of the files are stale, should this one die halfway.
        """
        previous = _previous_files(self.output_dir / MANIFEST)
        previous |= _previous_files(self.output_dir / PREVIOUS_MANIFEST)
        for name, payload in extra_json.items():
            self.write_json(name, payload)
        self.write_json(MANIFEST, manifest)
        staged = sorted(p.name for p in self.staging.iterdir() if p.name != MANIFEST)
        if (self.output_dir / MANIFEST).exists():
            os.replace(self.output_dir / MANIFEST, self.output_dir / PREVIOUS_MANIFEST)
        for name in [*staged, MANIFEST]:
            os.replace(self.staging / name, self.output_dir / name)
        for stale in previous - {*staged, MANIFEST}:
            # A file the last run wrote and this one did not (say train.csv after a switch to
            # parquet) would otherwise sit beside a manifest that does not describe it.
            (self.output_dir / stale).unlink(missing_ok=True)
        (self.output_dir / PREVIOUS_MANIFEST).unlink(missing_ok=True)
        self.staging.rmdir()

    def abort(self) -> None:
        for writer in self._writers.values():
            # Best effort: another error is already propagating.
            with contextlib.suppress(Exception):
                writer.close()
        shutil.rmtree(self.staging, ignore_errors=True)


def _previous_files(manifest_path: Path) -> set[str]:
    """Files an earlier zslabel run wrote here: plain names only, never paths elsewhere."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(manifest, dict) or "zslabel_version" not in manifest:
        return set()  # not our manifest: touch nothing
    return {
        name
        for name in manifest.get("files", {})
        if isinstance(name, str) and PLAIN_NAME.fullmatch(name)
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_file_name(split: str, fmt: str) -> str:
    return f"{split}.{fmt}"
