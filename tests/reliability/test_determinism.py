"""The same input and config give the same bytes: across reruns, shard sizes and batch sizes.

Across shard sizes the manifest necessarily differs in what describes the sharding itself
(``input.shards``, ``config.input.shard_rows`` / ``batch_rows``) and in the input fingerprint,
which is a hash over the shards' fingerprints (the dataset card and the HTML report quote it);
everything else, every data file included, must be byte-identical. Across the thread and Dask
runners: tests/flows/test_label_flow.py::test_dask_local_cluster_gives_the_same_output_as_threads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.reliability.conftest import ROWS, fresh, job_dict, snapshot
from zslabel.config import JobConfig
from zslabel.export import ROW_GROUP_ROWS
from zslabel.runner import run_job

LAYOUTS = [
    {"shard_rows": 10, "batch_rows": 4096},  # a shard per row group
    {"shard_rows": 1000, "batch_rows": 4096},  # a shard per file
    {"shard_rows": 10, "batch_rows": 3},  # batches smaller than row groups
    {"shard_rows": 25, "batch_rows": 7},  # shards of several row groups, odd batches
]


def normalised(files: dict[str, bytes]) -> dict[str, Any]:
    """The files with what describes the sharding, and only that, taken out."""
    manifest = json.loads(files["manifest.json"])
    fingerprint = manifest["input"].pop("fingerprint")
    manifest["input"].pop("shards")
    for key in ("shard_rows", "batch_rows"):
        manifest["config"]["input"].pop(key)
    out: dict[str, Any] = {}
    for name, data in files.items():
        if name == "manifest.json":
            continue
        if fingerprint.encode() in data:  # the dataset card, the report
            out[name] = data.replace(fingerprint.encode(), b"<fingerprint>")
            manifest["files"][name].pop("sha256")
        else:
            out[name] = data
    out["manifest.json"] = manifest
    return out


def test_the_same_job_gives_the_same_bytes_for_every_shard_and_batch_size(
    data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    results = []
    for layout in LAYOUTS:
        fresh(out)
        run_job(JobConfig.from_dict(job_dict(data, out, input=layout)))
        results.append(snapshot(out))
    shards = [json.loads(r["manifest.json"])["input"]["shards"] for r in results]
    assert len(set(shards)) > 1  # the layouts really did shard differently
    first = normalised(results[0])
    for layout, files in zip(LAYOUTS[1:], results[1:], strict=True):
        got = normalised(files)
        assert sorted(got) == sorted(first)
        for name in first:
            assert got[name] == first[name], f"{layout}: {name} differs"


def test_a_rerun_and_a_rerun_from_scratch_give_the_same_bytes(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = JobConfig.from_dict(job_dict(data, out))
    run_job(config)
    first = snapshot(out)
    run_job(config)  # scores from the cache
    assert snapshot(out) == first
    fresh(out)
    run_job(config)  # scored again
    assert snapshot(out) == first


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_other_formats_are_as_stable(fmt: str, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runs = []
    for layout in (LAYOUTS[0], LAYOUTS[3]):
        fresh(out)
        run_job(JobConfig.from_dict(job_dict(data, out, input=layout, output={"format": fmt})))
        runs.append(snapshot(out))
    assert runs[0][f"train.{fmt}"] == runs[1][f"train.{fmt}"]


def test_output_row_groups_have_a_fixed_size(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_job(JobConfig.from_dict(job_dict(data, out, input={"batch_rows": 3})))
    metadata = pq.ParquetFile(out / "labeled.parquet").metadata
    # 60 rows in one group, whatever the 3-row batches and 10-row input row groups.
    assert ROWS < ROW_GROUP_ROWS
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [ROWS]


def test_the_parquet_writer_cuts_fixed_row_groups_from_any_batches(tmp_path: Path) -> None:
    import pyarrow as pa

    from zslabel.export import ParquetTableWriter

    table = pa.table({"n": list(range(9)), "s": [f"row {i}" for i in range(9)]})

    def write(name: str, sizes: list[int]) -> Path:
        writer = ParquetTableWriter(tmp_path / name, table.schema, row_group_rows=4)
        start = 0
        for size in sizes:
            writer.write(table.slice(start, size).to_batches()[0] if size else table.slice(0, 0))
            start += size
        writer.close()
        assert writer.rows == 9
        return tmp_path / name

    paths = [write("a", [9]), write("b", [3, 5, 1]), write("c", [1, 0, 1, 7])]
    metadata = pq.ParquetFile(paths[0]).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [4, 4, 1]
    assert paths[1].read_bytes() == paths[0].read_bytes() == paths[2].read_bytes()
    assert pq.read_table(paths[1]).equals(table)
