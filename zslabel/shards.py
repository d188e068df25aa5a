"""Shards: the runs of row groups (or ranges of one large row group) that are the unit of
scoring, caching and parallel work, planned file by file in row order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass


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


def file_shards(
    path: str, group_rows: Sequence[int], shard_rows: int, index: int, start: int
) -> Iterator[Shard]:
    """The shards of one file whose row groups hold ``group_rows`` rows, numbered from ``index``
    and starting at global row ``start``."""
    group: list[int] = []
    rows = 0
    for rg, rows_in_group in enumerate(group_rows):
        if rows_in_group >= 2 * shard_rows:
            # Split into ranges of shard_rows to 2 x shard_rows rows. Smaller groups
            # are shared as before, so their shards (and cache keys) stay the same.
            if rows:
                yield Shard(index, path, tuple(group), start, rows)
                index, start, group, rows = index + 1, start + rows, [], 0
            for offset, part in _split(rows_in_group, rows_in_group // shard_rows):
                yield Shard(index, path, (rg,), start, part, offset)
                index, start = index + 1, start + part
            continue
        group.append(rg)
        rows += rows_in_group
        if rows >= shard_rows:
            yield Shard(index, path, tuple(group), start, rows)
            index, start, group, rows = index + 1, start + rows, [], 0
    if rows:
        yield Shard(index, path, tuple(group), start, rows)


def _split(rows: int, parts: int) -> Iterator[tuple[int, int]]:
    """(offset, rows) of ``parts`` consecutive ranges of ``rows`` rows, as even as can be."""
    size, longer = divmod(rows, parts)
    offset = 0
    for part in range(parts):
        count = size + (part < longer)
        yield offset, count
        offset += count
