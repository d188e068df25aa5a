"""Reading a range of rows of a large row group, continuing the read that the range before left
open: the shards of one row group are read in one pass."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa

from zslabel.shards import Shard

# Open reads of large row groups kept between shards.
MAX_OPEN_READS = 8


class GroupRanges:
    """The open reads of large row groups, shared by the threads that read one dataset."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, int, tuple[str, ...] | None], _GroupReader] = {}
        self._lock = threading.Lock()

    def read(
        self,
        shard: Shard,
        columns: Sequence[str] | None,
        scan: Callable[[], Iterator[pa.RecordBatch]],
        batch_rows: int,
        group_rows: int,
    ) -> Iterator[pa.RecordBatch]:
        """A range of a large row group, in batches of exactly batch_rows (the last shorter).

        Parquet has no row offset to seek to: a range is read from the group's start. So the
        read is kept open where the shard ends, and the group's next shard, which a pass over
        the shards in order reads next, continues it: one pass over the group in all. A shard
        read out of order (by another thread) reads from the start again (measured at 1M rows
        and 61 ranges: some 7x the cost of reading the group once).

        ``scan`` reads the shard's row group from its start; ``group_rows`` is its size.
        """
        assert shard.group_offset is not None
        key = (shard.path, shard.row_groups[0], None if columns is None else tuple(columns))
        with self._lock:
            reader = self._open.pop(key, None)
        if reader is None or reader.row != shard.group_offset:
            reader = _GroupReader(scan())
            for _ in reader.take(shard.group_offset):  # read past the rows before the range
                pass
        pending: list[pa.RecordBatch] = []
        held = 0
        for piece in reader.take(shard.num_rows):
            pending.append(piece)
            held += piece.num_rows
            while held >= batch_rows:
                whole = pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                yield whole.slice(0, batch_rows)
                pending, held = [whole.slice(batch_rows)], held - batch_rows
        if reader.row < group_rows:
            with self._lock:
                if len(self._open) >= MAX_OPEN_READS:
                    self._open.pop(next(iter(self._open)))
                self._open[key] = reader
        if held:
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


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
