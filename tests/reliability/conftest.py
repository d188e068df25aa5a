"""Inputs, jobs and output snapshots shared by the reliability tests (fake source, no model)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import LABELS, make_texts

FILES, ROWS_PER_FILE, ROW_GROUP = 3, 20, 10
ROWS = FILES * ROWS_PER_FILE
# Differ between two runs by design: the run id, start time and timings.
RUN_SPECIFIC = {"run.json"}


def write_folder(folder: Path, files: int = FILES, first_id: int = 0) -> Path:
    """``files`` Parquet files of 20 rows in row groups of 10, with a unique integer id."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = make_texts(files * ROWS_PER_FILE + first_id)[first_id:]
    for f in range(files):
        rows = slice(f * ROWS_PER_FILE, (f + 1) * ROWS_PER_FILE)
        ids = list(range(first_id + rows.start, first_id + rows.stop))
        table = pa.table({"text": texts[rows], "id": ids})
        pq.write_table(table, folder / f"part-{first_id + f:03d}.parquet", row_group_size=ROW_GROUP)
    return folder


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "data")


def job_dict(data: Path, out: Path, **sections: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "input": {"path": str(data), "id_column": "id", "shard_rows": ROW_GROUP},
        "labels": LABELS,
        "sources": [{"kind": "fake"}],
        "selection": {"per_class_top_fraction": 0.5},
        "output": {"dir": str(out)},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


@pytest.fixture
def write_job(tmp_path: Path) -> Callable[..., Path]:
    """Write a job (as JSON for the crash helper, as YAML for the CLI) and return its path."""

    def write(raw: dict[str, Any], name: str = "job.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(raw), encoding="utf-8")
        return path

    return write


def snapshot(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` but the work folder, by relative path; run-specific files out."""
    files = {}
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out)
        if relative.parts[0] == ".zslabel" or not path.is_file():
            continue
        if path.name in RUN_SPECIFIC:
            continue
        files[str(relative)] = path.read_bytes()
    return files


def leftovers(out: Path) -> list[str]:
    """Staging folders, temporary files and lock files: what a crash may leave behind."""
    found = []
    for path in out.rglob("*"):
        name = path.name
        if (
            name.startswith(".staging-")
            or name.endswith(".tmp")
            or name in {"lock", ".zslabel.lock"}
        ):
            found.append(str(path.relative_to(out)))
    return sorted(found)


def fresh(out: Path) -> None:
    """Remove ``out`` and the test's feature cache (the user's, outside ``out``): a run from
    scratch."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(Path(os.environ["ZSLABEL_CACHE_DIR"]) / "features", ignore_errors=True)
