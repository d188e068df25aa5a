"""Ids of an incremental version that earlier versions of the same settings labeled too.

A re-sent record is legitimate, so this warns and never fails; but the versions read together
then hold the row twice. A row's split depends on the other rows of its version, so a reused id
would land in another split than its first copy (a trial: 3 ids in both train and validation):
each reused row is pinned to the split its earliest copy is in (:class:`ReusedIds`), so that
versions read together never have one id in train and in test. The version's own ids are hashed
once (64-bit, :func:`zslabel.idcheck.hash_values`) and sorted; each earlier ``labeled.parquet``
is streamed past them in record batches, so memory grows with this version's rows, not with the
history. A false match needs a hash collision: about n * m / 2**64 for n ids against m.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from zslabel.columns import SPLIT
from zslabel.errors import OutputError
from zslabel.export import MANIFEST
from zslabel.idcheck import hash_values
from zslabel.pipeline.ids import id_batches
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.write import LABELED
from zslabel.version_index import read_index

# Examples of reused ids the warning quotes.
EXAMPLES = 3


class ReusedIds(NamedTuple):
    """``record``: the manifest's ``reused_ids`` (None: nothing to say); ``pinned``: (n,) int8
    over this version's rows, the index in ``output.splits`` of the split the id's earliest copy
    is in, -1 for the other rows (None: no row is pinned)."""

    record: dict[str, Any] | None
    pinned: np.ndarray | None


def reused_ids(
    plan: JobPlan, earlier: Sequence[str | Path], others: Sequence[str | Path] = ()
) -> ReusedIds:
    """This version's ids that earlier versions labeled too: the manifest's record (None: no id
    column, no earlier version, no reused id and every earlier version read) and the splits of
    their earliest copies.

    ``others``: the job's earlier versions under other settings, whose ids are not warned about
    (a settings change labels every file again) but still pin splits: an id keeps its split
    for the life of the output folder. Only versions with this job's ``output.splits`` and
    ``output.seed`` pin (other fractions would not be honoured otherwise); a version's record
    without a warning (``{"pinned": n}``) says how many rows they pinned.

    ``earlier``: an incremental job's earlier version folders under the same settings. The
    record has ``rows`` (this version's rows whose id an earlier version holds), ``versions``
    (how many per version), ``examples``, ``rewritten`` (this version's files that an earlier
    version labeled before they changed: their unchanged rows are expected among the matches),
    ``unread`` (versions whose ids could not be read, and why), ``pinned`` (rows given their
    earlier copy's split, :func:`zslabel.pipeline.split.assign_splits`) and the ``warning``.
    """
    id_column = plan.config.input.id_column
    if id_column is None or not (earlier or others):
        return ReusedIds(None, None)
    folders = [Path(folder).expanduser() for folder in earlier]
    warned = {folder.name for folder in folders}
    every = sorted({*folders, *(Path(f).expanduser() for f in others)}, key=lambda f: f.name)
    values = [batch for _, batch in id_batches(plan)]
    hashes = np.concatenate([hash_values(batch.to_pylist()) for batch in values])
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    hit = np.zeros(len(hashes), dtype=bool)
    pinned = np.full(len(hashes), -1, dtype=np.int8)
    splits = list(plan.config.output.splits)
    counts: dict[str, int] = {}
    unread: dict[str, str] = {}
    for folder in every:
        pins = _same_splits(folder, plan)
        if folder.name not in warned and not pins:
            continue
        try:
            matched, split = _matches(folder / LABELED, id_column, ordered, splits)
        except (OSError, KeyError, pa.ArrowException) as exc:
            if folder.name in warned:
                unread[folder.name] = f"{folder / LABELED}: {exc}"
            continue
        at = order[matched]
        if folder.name in warned and len(matched):
            counts[folder.name] = len(matched)
            hit[at] = True
        if pins:  # the earliest copy's split stays: versions come oldest first
            pinned[at] = np.where(pinned[at] >= 0, pinned[at], split)
    rows = int(hit.sum())
    pins_found = pinned if (pinned >= 0).any() else None
    if not rows and not unread:
        pinned_only = {"pinned": int(np.count_nonzero(pinned >= 0))}
        return ReusedIds(None if pins_found is None else pinned_only, pins_found)
    flat = pa.chunked_array(values, type=values[0].type) if values else pa.chunked_array([])
    examples = [str(v) for v in flat.take(pa.array(np.flatnonzero(hit)[:EXAMPLES])).to_pylist()]
    rewritten = _rewritten(folders, plan.dataset.selected_files or [])
    record = {
        "rows": rows,
        "versions": counts,
        "examples": examples,
        "pinned": int(np.count_nonzero(pinned >= 0)),
        **({"rewritten": rewritten} if rewritten else {}),
        **({"unread": unread} if unread else {}),
        "warning": _warning(rows, counts, examples, rewritten, unread, id_column),
    }
    return ReusedIds(record, pins_found)


def reused_id_warnings(manifest: dict[str, Any]) -> list[str]:
    """The manifest's reused-ids warning, as a list of zero or one line."""
    warning = (manifest.get("reused_ids") or {}).get("warning")
    return [warning] if warning else []


def _matches(
    path: Path, id_column: str, ordered: np.ndarray, splits: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``ordered`` (this version's sorted id hashes) of the ids ``path`` holds, and
    each one's split there (an index into ``splits``; -1: in none of them). An earlier version's
    ids are unique, so each position comes at most once."""
    found, in_split = [], []
    columns = [id_column, SPLIT]
    index = {name: i for i, name in enumerate(splits)}
    for batch in pq.ParquetFile(path).iter_batches(columns=columns, batch_size=65_536):
        ids, split = batch.column(0), batch.column(1)
        present = pc.is_valid(ids)
        theirs = hash_values(ids.filter(present).to_pylist())
        names = split.filter(present).to_pylist()
        at = np.minimum(np.searchsorted(ordered, theirs), len(ordered) - 1)
        same = ordered[at] == theirs
        found.append(at[same])
        in_split.append(np.asarray([index.get(n, -1) for n in names], dtype=np.int8)[same])
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)
    return np.concatenate(found), np.concatenate(in_split)


def _same_splits(folder: Path, plan: JobPlan) -> bool:
    """Whether the version in ``folder`` was split as this job splits: the same split names,
    fractions and seed (from its manifest; False when it cannot be read)."""
    try:
        output = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["config"]["output"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    wanted = plan.config.output
    return bool(output.get("splits") == dict(wanted.splits) and output.get("seed") == wanted.seed)


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
            f": read together, the versions hold them twice (each accepted one in the split of "
            f"its earlier copy); dedupe by {id_column!r} when you do"
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
