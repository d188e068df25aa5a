"""Open the input, validate its schema, plan shards and stream record batches.

A shard is a run of consecutive row groups of one file, or a range of rows of one row group
that holds at least twice ``shard_rows``: the unit of scoring, caching and of parallel work.
Shards are ordered by file path and row, which fixes the global row order that every output
keeps.

Values are read without trusting that a string column holds UTF-8 (see ``zslabel.utf8``): a text
that is not UTF-8 is an invalid row, and every other string reaches the outputs with U+FFFD in
place of its invalid bytes.

The pieces: :mod:`zslabel.input_open` opens the input, :mod:`zslabel.input_schema` checks its
columns, :mod:`zslabel.shards` plans the shards, :mod:`zslabel.group_ranges` reads ranges of
large row groups and :mod:`zslabel.input_texts` tells scorable texts from invalid rows.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from zslabel.config import InputSpec
from zslabel.errors import InputError
from zslabel.group_ranges import GroupRanges
from zslabel.images import ShardImages, read_shard_images
from zslabel.input_open import first_line, open_dataset
from zslabel.input_schema import check_columns, check_file
from zslabel.input_texts import (
    EMPTY_TEXT,
    INVALID_UTF8,
    NULL_TEXT,
    ShardTexts,
    shard_texts,
    text_status,
)
from zslabel.shards import Shard, file_shards
from zslabel.utf8 import utf8_safe_batch

__all__ = [
    "EMPTY_TEXT",
    "INVALID_UTF8",
    "NULL_TEXT",
    "InputDataset",
    "Shard",
    "ShardTexts",
    "text_status",
]

# Shards the input's sample is spread over (sample_texts): 8 reads of at most shard_rows texts.
SAMPLE_SPREAD = 8


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
        self._group_ranges = GroupRanges()
        self._dataset = open_dataset(spec.path)
        self.schema: pa.Schema = self._dataset.schema
        check_columns(spec, self.schema, needs_text, self.image_columns)
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

    @property
    def selected_files(self) -> list[str] | None:
        """The files of a run over some of the input's files (an incremental version), in
        order; None when the run reads the whole input."""
        return None if self._only is None else self.files

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

    def locate(self, row: int) -> tuple[str, int]:
        """Where input row ``row`` (counting from 0) is: its file (its path under the input
        folder: partitions can repeat a name) and its row there.

        Raises IndexError for a row past the input's end."""
        first: dict[str, int] = {}
        root = Path(self.spec.path).expanduser()
        for shard in self.shards:
            first.setdefault(shard.path, shard.start_row)
            if shard.start_row <= row < shard.start_row + shard.num_rows:
                name = os.path.relpath(shard.path, root) if root.is_dir() else shard.path
                return name, row - first[shard.path]
        raise IndexError(f"row {row} is past the input's {self.num_rows} rows")

    def file_rows(self, path: str) -> int:
        return int(self._fragments[path].metadata.num_rows)

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
            self.schema = check_file(
                fragment, physical, self.schema, self.spec.text_column, self.needs_text
            )
            group_rows = [metadata.row_group(rg).num_rows for rg in range(metadata.num_row_groups)]
            for shard in file_shards(fragment.path, group_rows, shard_rows, index, start):
                yield shard
                index, start = index + 1, start + shard.num_rows

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
                yield from self._group_ranges.read(
                    shard,
                    columns,
                    lambda: self._scanner(shard, columns).to_batches(),
                    self.spec.batch_rows,
                    self._fragments[shard.path].metadata.row_group(shard.row_groups[0]).num_rows,
                )
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{shard.path}: cannot read rows ({first_line(exc)})") from None

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
                raise InputError(f"{shard.path}: cannot read rows ({first_line(exc)})") from None

    def read_texts(self, shard: Shard) -> ShardTexts:
        return shard_texts(self._read(shard, [self.spec.text_column]), shard.path)

    def sample_texts(self, rows: int, spread: int = SAMPLE_SPREAD) -> list[str]:
        """At most ``rows`` valid texts (fewer only when the input has fewer), an equal share
        from each of up to ``spread`` shards spaced evenly over the input (the first and the
        last among them), topped up from the others in order, then from what the shards read
        held beyond their share: a cheap, deterministic sample for the input's checks before
        and after scoring (language, repeated passages). Spread, because a partitioned input
        is often sorted by what the checks look for: a ``lang=de`` folder after ``lang=en``, a
        footer that came with last month's files."""
        shards = self.shards
        if not shards or rows <= 0:
            return []
        picked = _evenly_spaced(len(shards), spread)
        order = picked + [i for i in range(len(shards)) if i not in set(picked)]
        quota = -(-rows // len(picked))
        texts: list[str] = []
        left: list[list[str]] = []  # what each shard read held beyond its share
        for i in order:
            if len(texts) >= rows:
                break
            read = self.read_texts(shards[i]).texts
            take = min(quota, rows - len(texts))
            texts += read[:take]
            left.append(read[take:])
        for rest in left:  # a shard short of its share: the others' texts make it up
            texts += rest[: rows - len(texts)]
        return texts

    def read_images(self, shard: Shard, column: str) -> ShardImages:
        """A shard's image column; relative paths are relative to the file's folder."""
        base_dir = Path(shard.path).parent if "://" not in self.spec.path else None
        values = (
            value
            for batch in self.iter_batches(shard, [column])
            for value in batch.column(0).to_pylist()
        )
        return read_shard_images(values, base_dir)


def _evenly_spaced(count: int, most: int) -> list[int]:
    """Up to ``most`` indices in range(count), evenly spaced, the first and the last included."""
    if count <= most:
        return list(range(count))
    if most == 1:
        return [0]
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})
