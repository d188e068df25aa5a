"""Ids of an incremental version that earlier versions of the same settings labeled too.

A re-sent record is legitimate, so this warns and never fails; but the versions read together
then hold the row twice, perhaps in different splits (a row's split depends on the other rows of
its version). The version's own ids are hashed once (64-bit, :func:`zslabel.idcheck.hash_values`)
and sorted; each earlier ``labeled.parquet`` is streamed past them in record batches, so memory
grows with this version's rows, not with the history. A false match needs a hash collision:
about n * m / 2**64 for n ids against m.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel.errors import OutputError
from zslabel.idcheck import hash_values
from zslabel.pipeline.ids import id_batches
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.write import LABELED
from zslabel.version_index import read_index

# Examples of reused ids the warning quotes.
EXAMPLES = 3


def reused_ids(plan: JobPlan, earlier: Sequence[str | Path]) -> dict[str, Any] | None:
    """The manifest's ``reused_ids`` record, or None (no id column, no earlier version, no
    reused id and every earlier version read).

    ``earlier``: an incremental job's earlier version folders under the same settings. The
    record has ``rows`` (this version's rows whose id an earlier version holds), ``versions``
    (how many per version), ``examples``, ``rewritten`` (this version's files that an earlier
    version labeled before they changed: their unchanged rows are expected among the matches),
    ``unread`` (versions whose ids could not be read, and why) and the ``warning``.
    """
    id_column = plan.config.input.id_column
    if id_column is None or not earlier:
        return None
    folders = [Path(folder).expanduser() for folder in earlier]
    values = [batch for _, batch in id_batches(plan)]
    hashes = np.concatenate([hash_values(batch.to_pylist()) for batch in values])
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    hit = np.zeros(len(hashes), dtype=bool)
    counts: dict[str, int] = {}
    unread: dict[str, str] = {}
    for folder in folders:
        try:
            matched = _matches(folder / LABELED, id_column, ordered)
        except (OSError, KeyError, pa.ArrowException) as exc:
            unread[folder.name] = f"{folder / LABELED}: {exc}"
            continue
        if len(matched):
            counts[folder.name] = len(matched)
            hit[order[matched]] = True
    rows = int(hit.sum())
    if not rows and not unread:
        return None
    flat = pa.chunked_array(values, type=values[0].type) if values else pa.chunked_array([])
    examples = [str(v) for v in flat.take(pa.array(np.flatnonzero(hit)[:EXAMPLES])).to_pylist()]
    rewritten = _rewritten(folders, plan.dataset.selected_files or [])
    return {
        "rows": rows,
        "versions": counts,
        "examples": examples,
        **({"rewritten": rewritten} if rewritten else {}),
        **({"unread": unread} if unread else {}),
        "warning": _warning(rows, counts, examples, rewritten, unread, id_column),
    }


def reused_id_warnings(manifest: dict[str, Any]) -> list[str]:
    """The manifest's reused-ids warning, as a list of zero or one line."""
    warning = (manifest.get("reused_ids") or {}).get("warning")
    return [warning] if warning else []


def _matches(path: Path, id_column: str, ordered: np.ndarray) -> np.ndarray:
    """Positions in ``ordered`` (this version's sorted id hashes) of the ids ``path`` holds.
    An earlier version's ids are unique, so each position comes at most once."""
    found = []
    for batch in pq.ParquetFile(path).iter_batches(columns=[id_column], batch_size=65_536):
        column = batch.column(0)
        theirs = hash_values(column.drop_null().to_pylist())
        at = np.minimum(np.searchsorted(ordered, theirs), len(ordered) - 1)
        found.append(at[ordered[at] == theirs])
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _rewritten(folders: list[Path], files: list[str]) -> list[str]:
    """Of ``files``, those an earlier version in ``folders`` labeled (under another
    fingerprint, or they would not be new): files rewritten in place since."""
    try:
        index = read_index(folders[0].parent)
    except (OSError, OutputError):
        return []
    names = {folder.name for folder in folders}
    before = {
        path
        for version in index.get("versions", [])
        if version.get("dir") in names
        for path in version.get("files", {})
    }
    return [path for path in files if path in before]


def _warning(
    rows: int,
    counts: dict[str, int],
    examples: list[str],
    rewritten: list[str],
    unread: dict[str, str],
    id_column: str,
) -> str:
    parts = []
    if rows:
        listed = ", ".join(f"{name}: {n:,}" for name, n in counts.items())
        quoted = ", ".join(repr(v) for v in examples)
        parts.append(
            f"{rows:,} row(s) have ids that earlier versions labeled too ({listed}; e.g. {quoted})"
            f": read together, the versions hold them twice, perhaps in different splits; dedupe "
            f"by {id_column!r} when you do"
        )
        if rewritten:
            parts.append(
                f"{len(rewritten)} of this version's files changed since an earlier version "
                "labeled them, whose rows of the old copy count here too"
            )
        else:
            parts.append(
                "while both copies stay in the input, a run under other settings (which labels "
                "every file again) fails on them as duplicates"
            )
    if unread:
        parts.append(f"ids not compared with {', '.join(unread)} (unreadable: see the manifest)")
    return "; ".join(parts)
