"""Kill-and-rerun: SIGKILL a run at each fault point, rerun it, and get the uninterrupted bytes.

Each test runs the job in a subprocess (``crash_helper.py``) that kills itself at one point, then
reruns it here normally, then runs it once more from scratch in the same place; every output
file but ``run.json`` (run id and timings) must be byte-identical, with every input row exactly
once, and the dead run's lock, staging folder and temporary files gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.reliability.conftest import ROWS, fresh, job_dict, leftovers, snapshot, write_folder
from zslabel.config import JobConfig, load_job
from zslabel.export import MANIFEST, PREVIOUS_MANIFEST
from zslabel.incremental import run_incremental
from zslabel.runner import run_job

HELPER = Path(__file__).with_name("crash_helper.py")
ROOT = HELPER.parents[2]

FAULT_POINTS = [
    "score-first-shard",
    "score-middle-shard",
    "score-last-shard",
    "cache-write",
    "global-combine",
    "global-split",
    "export-writing",
    "export-closed",
    "commit-manifest-aside",
    "commit-renaming",
]


def crash(job: Path, point: str, *, flow: bool = False, expect: int = -signal.SIGKILL) -> None:
    """Run ``job`` in a subprocess that must die of SIGKILL at ``point`` (or exit ``expect``).

    With ``flow`` through the Prefect flow, in Prefect's local mode with its own home folder;
    the temporary server it starts (in a session of its own) is stopped when the helper dies.
    """
    env = {k: v for k, v in os.environ.items() if not (flow and k.startswith("PREFECT_"))}
    env["PYTHONPATH"] = str(ROOT)
    if flow:
        env["PREFECT_HOME"] = str(job.parent / "prefect-home")
    # A file, not a pipe: an orphaned server would hold a pipe open after the helper died.
    log = job.parent / f"{point}.log"
    with open(log, "w", encoding="utf-8") as output:
        proc = subprocess.Popen(
            [sys.executable, str(HELPER), str(job), point, *(["flow"] if flow else [])],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=240)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # anything the helper left in its group
            proc.wait()
    stderr = log.read_text(encoding="utf-8")
    assert proc.returncode == expect, f"{point}: expected {expect}, got {proc.returncode}\n{stderr}"


def check_rows(out: Path) -> None:
    """Every input row exactly once in labeled.parquet, and counts that add up to it."""
    ids = pq.read_table(out / "labeled.parquet", columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == list(range(ROWS))
    assert len(ids) == len(set(ids))
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["rows"] == ROWS
    assert sum(counts["status"].values()) == ROWS
    assert manifest["files"]["labeled.parquet"]["rows"] == ROWS
    split_rows = sum(manifest["files"][f"{s}.parquet"]["rows"] for s in counts["splits"])
    assert split_rows == counts["status"]["accepted"]


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_a_run_killed_at_any_point_reruns_to_the_same_bytes(
    point: str,
    data: Path,
    tmp_path: Path,
    write_job: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = tmp_path / "out"
    raw = job_dict(data, out)
    if point.startswith("commit"):
        # A previous output to overwrite, with other thresholds and other files (CSV splits):
        # the crash leaves a mix of both runs' files, which the rerun must fully replace.
        run_job(JobConfig.from_dict(job_dict(data, out, output={"format": "csv"})))
    crash(write_job(raw), point)
    assert (out / ".zslabel" / "lock").exists()  # the dead run's lock file is still there
    if point.startswith("commit"):
        # Files of two runs side by side, and no manifest claiming to describe them.
        assert not (out / MANIFEST).exists()
        assert (out / PREVIOUS_MANIFEST).exists()

    with caplog.at_level(logging.WARNING, logger="zslabel"):
        rerun = run_job(JobConfig.from_dict(raw))
    assert "took over a stale lock" in caplog.text
    check_rows(out)
    assert leftovers(out) == []
    resumed = snapshot(out)
    if point.startswith(("global", "export", "commit")):
        # Every shard was scored before the crash: the rerun scored nothing again.
        assert rerun.run_info["shards"]["scored"] == 0

    fresh(out)
    run_job(JobConfig.from_dict(raw))
    clean = snapshot(out)
    assert sorted(resumed) == sorted(clean)
    for name in clean:
        assert resumed[name] == clean[name], f"{point}: {name} differs from an uninterrupted run"


def test_an_incremental_run_killed_before_its_version_is_recorded(
    tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    """The version folder is committed but versions.json does not list it: the rerun labels the
    same new files into the same version again, and the index ends as if nothing happened."""
    data, out, later = tmp_path / "data", tmp_path / "out", tmp_path / "later"
    write_folder(data, files=2)
    write_folder(later, files=1, first_id=2 * 20)
    raw = job_dict(data, out, incremental=True)
    config = JobConfig.from_dict(raw)

    def history(crash_point: str | None) -> dict[str, bytes]:
        fresh(out)
        arriving = data / "part-040.parquet"
        arriving.unlink(missing_ok=True)
        run_incremental(config)  # v0001: two files
        shutil.copy2(later / "part-040.parquet", arriving)  # same bytes and mtime each time
        if crash_point:
            crash(write_job(raw), crash_point)
            assert (out / "v0002" / "manifest.json").exists()  # committed, but not recorded
            index = json.loads((out / "versions.json").read_text())
            assert index["latest"] == "v0001"
        outcome = run_incremental(config)
        assert outcome is not None
        assert outcome[0].version == "v0002"
        assert leftovers(out) == []
        files = snapshot(out)
        index = json.loads(files.pop("versions.json"))
        for version in index["versions"]:
            del version["created_at"], version["run_id"]
        files["versions.json"] = json.dumps(index, sort_keys=True).encode()
        return files

    resumed = history("version-index")
    clean = history(None)
    assert sorted(resumed) == sorted(clean)
    for name in clean:
        assert resumed[name] == clean[name], name
    v2 = pq.read_table(out / "v0002" / "labeled.parquet", columns=["id"]).column("id")
    assert v2.to_pylist() == list(range(40, 60))


@pytest.mark.slow
@pytest.mark.parametrize("point", ["score-middle-shard", "export-writing"])
def test_a_flow_run_killed_reruns_to_the_same_bytes(
    point: str, data: Path, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    """The same through ``label-dataset``: the flow's process holds the lock, and its rerun
    clears the dead run's lock, staging folder and half-written cache entries."""
    out = tmp_path / "out"
    raw = job_dict(data, out)
    job = write_job(raw)
    crash(job, point, flow=True)
    crash(job, "none", flow=True, expect=0)
    check_rows(out)
    assert leftovers(out) == []
    resumed = snapshot(out)
    fresh(out)
    run_job(load_job(job))  # the flow writes what the library writes (the same job file)
    assert snapshot(out) == resumed
