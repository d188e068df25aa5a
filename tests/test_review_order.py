"""The review files' order (most useful first), their priority field and the review limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.config import JobConfig
from zslabel.report import CARD, REPORT
from zslabel.review import ARGILLA_FILE, HUMAN_REVIEW, LABEL_STUDIO_FILE, write_review_files
from zslabel.review.export import class_rarity, review_priority
from zslabel.runner import run_job

# Accepted rows per class: a has the most (rarity 0), b half of it (0.5), c none (1).
ACCEPTED = {"a": 10, "b": 5, "c": 0}
# (label, margin, status, reason); priority = (1 - margin) * (1 + rarity).
ROWS: list[tuple[str | None, float | None, str, str | None]] = [
    ("a", 0.10, "abstained", "below_threshold"),  # 0: 0.9 * 1.0 = 0.9
    ("b", 0.40, "abstained", "below_threshold"),  # 1: 0.6 * 1.5 = 0.9, after row 0 (tie)
    ("c", 0.50, "abstained", "below_threshold"),  # 2: 0.5 * 2.0 = 1.0
    ("a", 0.02, "abstained", "below_threshold"),  # 3: 0.98 * 1.0 = 0.98
    ("a", 0.01, "accepted", None),  # 4: accepted, one source: not for review
    ("b", None, "abstained", "below_threshold"),  # 5: no margin: 1.0 * 1.5 = 1.5
    (None, None, "invalid", "empty_text"),  # 6: invalid rows stay out
    ("c", 0.00, "accepted", HUMAN_REVIEW),  # 7: labeled by people: never again
]
ORDER = [5, 2, 3, 0, 1]
PRIORITY = {5: 1.5, 2: 1.0, 3: 0.98, 0: 0.9, 1: 0.9}


def output_folder(folder: Path, limit: int | None = None) -> tuple[Path, dict[str, Any]]:
    """A labeled.parquet of ROWS (one source) and the manifest keys the review files read."""
    folder.mkdir()
    n = len(ROWS)
    table = pa.table(
        {
            "text": [f"text of row {i}" for i in range(n)],
            "zs_row": pa.array(range(n), pa.int64()),
            "zs_label": [r[0] for r in ROWS],
            "zs_confidence": pa.array([None if r[0] is None else 0.5 for r in ROWS], pa.float32()),
            "zs_margin": pa.array([r[1] for r in ROWS], pa.float32()),
            "zs_status": [r[2] for r in ROWS],
            "zs_reason": [r[3] for r in ROWS],
            "zs_source_only_label": [r[0] for r in ROWS],
            "zs_source_only_confidence": pa.array(
                [None if r[0] is None else 0.5 for r in ROWS], pa.float32()
            ),
        }
    )
    # Small row groups and batches: the order must hold across batches too.
    pq.write_table(table, folder / "labeled.parquet", row_group_size=3)
    manifest = {
        "config": {
            "input": {"text_column": "text", "id_column": None},
            "review": {"limit": limit, "store": None},
        },
        "sources": [{"name": "only", "kind": "fake"}],
        "labels": [{"name": name} for name in ACCEPTED],
        "counts": {"classes": {k: {"accepted": v, "abstained": 1} for k, v in ACCEPTED.items()}},
        "combine": {"method": "single"},
    }
    return folder, manifest


def tasks(folder: Path) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((folder / LABEL_STUDIO_FILE).read_text())
    return loaded


def records(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / ARGILLA_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_priority_is_closeness_times_class_rarity() -> None:
    rarity = class_rarity(
        {"counts": {"classes": {"a": {"accepted": 8}, "b": {"accepted": 2}}}}, ["a", "b", "c"]
    )
    assert rarity.tolist() == [0.0, 0.75, 1.0, 0.0]  # c has no accepted rows; -1: no label
    margin = np.array([0.2, 0.2, np.nan, 1.4, -0.1])
    assert review_priority(margin, rarity[[0, 1, 2, 3, 0]]).tolist() == [0.8, 1.4, 2.0, 0.0, 1.0]


def test_rows_go_out_lowest_margin_first_with_rare_classes_promoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("zslabel.review.export.BATCH_ROWS", 2)
    folder, manifest = output_folder(tmp_path / "out")
    entries = write_review_files(folder, manifest)
    written = tasks(folder)
    assert [t["data"]["zs_row"] for t in written] == ORDER
    assert [t["data"]["zs_priority"] for t in written] == [PRIORITY[r] for r in ORDER]
    assert [t["data"]["text"] for t in written] == [f"text of row {r}" for r in ORDER]
    argilla = records(folder)
    assert [r["metadata"]["zs_row"] for r in argilla] == ORDER
    assert [r["metadata"]["zs_priority"] for r in argilla] == [PRIORITY[r] for r in ORDER]
    assert entries[LABEL_STUDIO_FILE]["rows"] == 5
    assert entries[ARGILLA_FILE] | {"sha256": None} == {
        "rows": 5,
        "candidates": 5,
        "left_out": 0,
        "limit": None,
        "sha256": None,
    }


def test_the_limit_keeps_the_most_useful_rows_and_counts_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("zslabel.review.export.BATCH_ROWS", 2)
    folder, manifest = output_folder(tmp_path / "out", limit=3)
    entries = write_review_files(folder, manifest)
    assert [t["data"]["zs_row"] for t in tasks(folder)] == ORDER[:3]
    assert [r["metadata"]["zs_row"] for r in records(folder)] == ORDER[:3]
    for name in (LABEL_STUDIO_FILE, ARGILLA_FILE):
        assert {k: entries[name][k] for k in ("rows", "candidates", "left_out", "limit")} == {
            "rows": 3,
            "candidates": 5,
            "left_out": 2,
            "limit": 3,
        }


def test_an_empty_review_set_writes_empty_files(tmp_path: Path) -> None:
    folder, manifest = output_folder(tmp_path / "out")
    manifest["sources"] = []
    pq.write_table(
        pq.read_table(folder / "labeled.parquet").filter(
            pa.array([False, False, False, False, True, False, True, True])
        ),
        folder / "labeled.parquet",
    )
    entries = write_review_files(folder, manifest)
    assert tasks(folder) == []
    assert records(folder) == []
    assert entries[ARGILLA_FILE]["rows"] == entries[ARGILLA_FILE]["candidates"] == 0


def test_a_run_with_a_review_limit_counts_the_rows_left_out_in_manifest_and_report(
    write_parquet: Callable[..., Path], fake_job: Callable[..., JobConfig]
) -> None:
    path = write_parquet({"text": [f"item {i}: plain words number {i * 7}" for i in range(60)]})
    unlimited = run_job(fake_job(path, output={"dir": str(path.parent / "all")}))
    every = unlimited.manifest["files"][LABEL_STUDIO_FILE]["rows"]
    assert every > 4
    result = run_job(fake_job(path, review={"limit": 4}))
    entry = result.manifest["files"][LABEL_STUDIO_FILE]
    assert (entry["rows"], entry["candidates"], entry["left_out"]) == (4, every, every - 4)
    on_disk = json.loads((result.output_dir / "manifest.json").read_text())
    assert on_disk["files"][ARGILLA_FILE]["left_out"] == every - 4
    # The four are the first four of the unlimited files.
    assert tasks(result.output_dir) == tasks(unlimited.output_dir)[:4]
    report = (result.output_dir / REPORT).read_text()
    assert f"4 of {every} rows, the 4 most useful" in report
    card = (result.output_dir / CARD).read_text()
    assert f"hold 4 of {every} rows, the most useful (`review.limit` 4); {every - 4:,} are" in card
