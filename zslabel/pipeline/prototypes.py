"""``prototypes.parquet``: the rows each refined label prototype is the mean of, carried from an
incremental job's version to the next (:class:`zslabel.refine.Prototypes`).

One row per refined source and label: ``source``, ``label``, ``rows`` (how many feature rows,
this version's and the earlier versions') and ``sums`` (their fixed-point sum, int64, the
embedding's width). The schema's metadata holds each source's fingerprint: its settings, the
job's labels and the model's identity. A version reads the previous version's file and adds it to
its own prototype rows only where the fingerprint is the same; a source whose settings, labels or
model changed, or whose earlier rows cannot be read, starts again from its own rows, and the
manifest and the summary say why.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel.export import file_sha256
from zslabel.pipeline.plan import JobPlan
from zslabel.refine import Prototypes

FILE = "prototypes.parquet"
_METADATA_KEY = b"zslabel.prototypes"


def fingerprint(plan: JobPlan, index: int) -> str:
    """sha256 of what makes source ``index``'s prototype rows comparable between runs: its spec,
    the job's labels and the features' identity (model weights, pooling, precision)."""
    source = plan.sources[index]
    identity = {
        "source": plan.config.sources[index].model_dump(mode="json"),
        "labels": [label.model_dump(mode="json") for label in plan.config.labels],
        "features": source.cache_identity(),
    }
    text = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write(
    staging: Path, label_names: list[str], prototypes: dict[str, Prototypes]
) -> dict[str, Any]:
    """Write ``prototypes`` (by source name) to ``staging``/prototypes.parquet; the manifest's
    ``files`` entry for it, or ``{}`` when no source was refined."""
    if not prototypes:
        return {}
    sources, labels, rows, sums = [], [], [], []
    for name, found in prototypes.items():
        for k, label in enumerate(label_names):
            sources.append(name)
            labels.append(label)
            rows.append(int(found.rows[k]))
            sums.append(found.sums[k].tolist())
    metadata = {name: found.fingerprint for name, found in prototypes.items()}
    table = pa.table(
        {
            "source": pa.array(sources, pa.string()),
            "label": pa.array(labels, pa.string()),
            "rows": pa.array(rows, pa.int64()),
            "sums": pa.array(sums, pa.list_(pa.int64())),
        }
    ).replace_schema_metadata({_METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()})
    path = staging / FILE
    pq.write_table(table, path)
    return {FILE: {"rows": table.num_rows, "sha256": file_sha256(path)}}


class EarlierVersion:
    """An incremental job's earlier version folder, whose prototypes.parquet is read on first
    use (a job with no refined source never reads it)."""

    def __init__(self, folder: Path, output_dir: Path) -> None:
        self.folder = folder
        self.shown = os.path.relpath(folder, output_dir)  # as the manifest shows other folders
        self._read: tuple[dict[str, str], dict[str, list[Any]]] | str | None = None

    def rows_of(
        self, name: str, mark: str, label_names: list[str], dim: int
    ) -> tuple[Prototypes | None, str | None]:
        """Source ``name``'s prototype rows, when they were written under the fingerprint
        ``mark`` for ``label_names`` and embeddings of ``dim`` values; else None and why not. A
        missing or damaged file is a reason, not an error: the version is refined from its own
        rows, and the manifest and the summary say so."""
        if self._read is None:
            self._read = self._load()
        if isinstance(self._read, str):
            return None, self._read
        written, columns = self._read
        if written.get(name) != mark:
            return (
                None,
                f"the source's settings, the labels or the model changed since {self.shown}",
            )
        try:
            return _rows_of(columns, name, label_names, dim, mark), None
        except ValueError as exc:
            return None, f"{self.shown}/{FILE} cannot be used ({exc})"

    def _load(self) -> tuple[dict[str, str], dict[str, list[Any]]] | str:
        path = self.folder / FILE
        if not path.is_file():
            return f"{self.shown} has no {FILE} (it was not refined, or an older zslabel wrote it)"
        try:
            table = pq.read_table(path, columns=["source", "label", "rows", "sums"])
            written = json.loads((table.schema.metadata or {})[_METADATA_KEY])
            if not isinstance(written, dict):
                raise ValueError("its metadata is not a mapping of sources")
            return written, table.to_pydict()
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            return f"{self.shown}/{FILE} cannot be read ({exc})"


def _rows_of(
    columns: dict[str, list[Any]], name: str, label_names: list[str], dim: int, mark: str
) -> Prototypes:
    """Source ``name``'s rows as :class:`Prototypes` in ``label_names`` order. Raises ValueError
    unless there is exactly one row per label, each with ``dim`` sums and a count."""
    found: dict[str, tuple[int, list[int]]] = {}
    for source, label, rows, sums in zip(
        columns["source"], columns["label"], columns["rows"], columns["sums"], strict=True
    ):
        if source != name:
            continue
        if label in found or rows is None or sums is None or len(sums) != dim:
            raise ValueError(f"source {name!r}, label {label!r}: a repeated or malformed row")
        found[label] = (rows, sums)
    if sorted(found) != sorted(label_names):
        raise ValueError(f"source {name!r} does not have one row per label of the job")
    rows_ = np.asarray([found[label][0] for label in label_names], dtype=np.int64)
    sums_ = np.asarray([found[label][1] for label in label_names], dtype=np.int64)
    return Prototypes(sums_, rows_, mark)
