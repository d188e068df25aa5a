"""The input's row ids, streamed batch by batch: checked unique, and used as split keys (an
incremental job's earlier versions: :mod:`zslabel.pipeline.reused_ids`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa

from zslabel.idcheck import check_unique_ids
from zslabel.pipeline.plan import JobPlan


def id_batches(plan: JobPlan) -> Iterator[tuple[int, pa.Array]]:
    """The id column batch by batch, with each batch's first row; the job must have ids."""
    id_column = plan.config.input.id_column
    assert id_column is not None
    for shard in plan.dataset.shards:
        start = shard.start_row
        for batch in plan.dataset.iter_batches(shard, [id_column]):
            yield start, batch.column(0)
            start += batch.num_rows


def key_batches(plan: JobPlan) -> Iterator[tuple[int, Sequence[object]]]:
    """Each row's split key (its id, else its position), batch by batch."""
    if plan.config.input.id_column is None:
        for shard in plan.dataset.shards:
            yield shard.start_row, range(shard.start_row, shard.start_row + shard.num_rows)
        return
    for start, ids in id_batches(plan):
        yield start, ids.to_pylist()


def check_ids(plan: JobPlan) -> None:
    """Unique, non-null ids, checked on disk (work_dir) in memory flat in the row count.

    Raises the idcheck errors that name the column and a duplicate or null id.
    """
    id_column = plan.config.input.id_column
    if id_column is not None:
        check_unique_ids(
            lambda: id_batches(plan),
            plan.dataset.num_rows,
            id_column,
            plan.config.input.path,
            plan.work_dir,
            plan.dataset.locate if len(plan.dataset.files) > 1 else None,
        )
