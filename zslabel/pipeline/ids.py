"""The input's row ids, streamed batch by batch: checked unique, checked against an incremental
job's earlier versions, and used as split keys."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel.idcheck import check_unique_ids, hash_values
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.write import LABELED


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
        )


# Examples of reused ids the warning quotes.
REUSED_EXAMPLES = 3


def reused_ids(plan: JobPlan, earlier: Sequence[Path]) -> dict[str, Any] | None:
    """The manifest's ``reused_ids`` record: rows of this run whose id an earlier version
    (``earlier``: an incremental job's version folders under the same settings) labeled too;
    None without an id column, earlier versions or reused ids.

    A re-sent record is legitimate, so this warns and never fails; but the versions together
    then hold the row twice, maybe in different splits, and a later run that labels every file
    again (after a settings change) fails on the duplicate. Ids are compared by 64-bit hashes of
    their text (:func:`zslabel.idcheck.hash_values`; a false match needs a hash collision, about
    n * m / 2**64 for n ids against m). A version whose ``labeled.parquet`` lacks the id column or
    cannot be read is skipped and named in ``unread``.
    """
    id_column = plan.config.input.id_column
    if id_column is None or not earlier:
        return None
    seen: dict[str, np.ndarray] = {}
    unread: dict[str, str] = {}
    for folder in earlier:
        try:
            values = pq.read_table(folder / LABELED, columns=[id_column]).column(0)
        except (OSError, KeyError, pa.ArrowException) as exc:
            unread[folder.name] = f"{folder / LABELED}: {exc}"
            continue
        seen[folder.name] = np.sort(hash_values(values.drop_null().to_pylist()))
    counts = dict.fromkeys(seen, 0)
    reused_rows = 0
    examples: list[object] = []
    for _, batch in id_batches(plan):
        values = batch.to_pylist()
        hashes = hash_values(values)
        hit = np.zeros(len(values), dtype=bool)
        for name, hashed in seen.items():
            found = _contains(hashed, hashes)
            counts[name] += int(found.sum())
            hit |= found
        reused_rows += int(hit.sum())
        examples += [values[i] for i in np.flatnonzero(hit)[: REUSED_EXAMPLES - len(examples)]]
    if not reused_rows:
        return None
    by_version = {name: n for name, n in counts.items() if n}
    listed = ", ".join(f"{name}: {n:,}" for name, n in by_version.items())
    return {
        "rows": reused_rows,
        "versions": by_version,
        "examples": [str(value) for value in examples],
        **({"unread": unread} if unread else {}),
        "warning": (
            f"{reused_rows:,} row(s) have ids that earlier versions labeled too ({listed}; e.g. "
            f"{', '.join(repr(str(v)) for v in examples)}): the versions together hold them "
            f"twice, perhaps in different splits, and a run that labels every file again fails "
            f"on them as duplicates; drop re-sent rows from the input, or dedupe by "
            f"{id_column!r} when reading the versions together"
        ),
    }


def _contains(sorted_hashes: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Which of ``hashes`` occur in ``sorted_hashes`` (sorted ascending)."""
    if len(sorted_hashes) == 0:
        return np.zeros(len(hashes), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    found: np.ndarray = sorted_hashes[at] == hashes
    return found


def reused_id_warnings(manifest: dict[str, Any]) -> list[str]:
    """The manifest's reused-ids warning, as a list of zero or one line."""
    warning = (manifest.get("reused_ids") or {}).get("warning")
    return [warning] if warning else []
