"""The output folder's labeled rows, which the keys of imported reviews are checked against."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.errors import InputError
from zslabel.export import MANIFEST
from zslabel.rowkeys import NO_ROW, match_keys
from zslabel.version_index import INDEX, read_index

LABELED = "labeled.parquet"
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class LabeledFile:
    """One labeled file of the output folder and the columns that identify its rows."""

    path: Path
    key_column: str  # the id column, else zs_row
    text_column: str | None
    rows: int


def labeled_files(output_dir: Path) -> list[LabeledFile]:
    """The output folder's labeled rows; for an incremental job's folder, every version's."""
    if not (output_dir / MANIFEST).is_file() and (output_dir / INDEX).is_file():
        versions = read_index(output_dir)["versions"]
        if versions:
            return [labeled_file(output_dir / str(version["dir"])) for version in versions]
    return [labeled_file(output_dir)]


def labeled_file(folder: Path) -> LabeledFile:
    manifest_path = folder / MANIFEST
    try:
        config = json.loads(manifest_path.read_text(encoding="utf-8"))["config"]["input"]
        id_column, text_column = config.get("id_column"), config.get("text_column")
    except FileNotFoundError:
        raise InputError(
            f"{manifest_path}: not found; reviews are checked against the rows of the output "
            "folder they were exported from: run the job first, or give that folder with --out"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{manifest_path}: not a zslabel manifest ({exc})") from None
    path = folder / LABELED
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the labeled rows ({exc})") from None
    names = parquet.schema_arrow.names
    key_column = id_column or columns.ROW
    if key_column not in names:
        raise InputError(f"{path}: no column {key_column!r} to match the review keys with")
    return LabeledFile(
        path,
        key_column,
        text_column if text_column in names else None,
        parquet.metadata.num_rows,
    )


def find_rows(labeled: Sequence[LabeledFile], keys: list[str]) -> dict[str, list[tuple[int, int]]]:
    """For each key found: the (labeled file, row) of each row it names (row SEVERAL_ROWS where
    it names several rows of one file); keys of no row are left out."""
    hits: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for f, part in enumerate(labeled):
        found = match_keys(keys, _key_batches(part))
        for k in np.flatnonzero(found != NO_ROW).tolist():
            hits[keys[k]].append((f, int(found[k])))
    return hits


def _key_batches(part: LabeledFile) -> Iterator[tuple[int, pa.Array]]:
    parquet = pq.ParquetFile(part.path, pre_buffer=False)
    start = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[part.key_column]):
        yield start, batch.column(0)
        start += batch.num_rows


def row_texts(part: LabeledFile, rows: Sequence[int]) -> dict[int, object]:
    """The text of each of ``rows`` of one labeled file, reading only row groups that hold one."""
    if part.text_column is None or not rows:
        return {}
    parquet = pq.ParquetFile(part.path, pre_buffer=False)
    ends = np.cumsum(
        [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)]
    )
    wanted: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        wanted[int(np.searchsorted(ends, row, side="right"))].append(row)
    texts: dict[int, object] = {}
    for group, in_group in sorted(wanted.items()):
        first = int(ends[group - 1]) if group else 0
        values = parquet.read_row_group(group, columns=[part.text_column]).column(0)
        for row in in_group:
            texts[row] = values[row - first].as_py()
    return texts
