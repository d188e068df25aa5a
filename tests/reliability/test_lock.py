"""One run per output folder: a second run fails at once naming the first; a dead run's lock is
taken over."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import job_dict
from zslabel.cli import main
from zslabel.config import JobConfig
from zslabel.errors import OutputError
from zslabel.incremental import run_incremental
from zslabel.lock import LOCK_FILE, OUTPUT_LOCK_FILE, run_lock
from zslabel.runner import run_job

ROOT = Path(__file__).parents[2]
HOLD = """
import sys, time
from zslabel.lock import run_lock
with run_lock(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None):
    print("locked", flush=True)
    time.sleep(60)
"""


def hold(*folders: Path) -> subprocess.Popen[str]:
    """Another process holding the lock of ``folders`` (output, work) until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, *map(str, folders)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = hold(tmp_path / "out")
    yield proc
    proc.kill()
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def test_a_second_run_fails_fast_naming_the_first(
    holder: subprocess.Popen[str], data: Path, tmp_path: Path
) -> None:
    config = JobConfig.from_dict(job_dict(data, tmp_path / "out"))
    started = time.perf_counter()
    with pytest.raises(OutputError, match=rf"another zslabel run .*\(pid {holder.pid} on host "):
        run_job(config)
    assert time.perf_counter() - started < 5  # refused, not queued behind the other run
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_the_command_says_so_in_one_line(
    holder: subprocess.Popen[str],
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {{path: {data}}}\nlabels: [a, b]\nsources: [{{kind: fake}}]\n"
        f"output: {{dir: {tmp_path / 'out'}}}\n"
    )
    assert main(["label", str(job), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"another zslabel run is using this output folder (pid {holder.pid}" in err


def test_a_dead_runs_lock_is_taken_over(
    holder: subprocess.Popen[str],
    data: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = tmp_path / "out" / ".zslabel" / LOCK_FILE
    assert str(holder.pid) in lock.read_text()  # left behind, but no longer locked
    with caplog.at_level(logging.WARNING, logger="zslabel"):
        run_job(JobConfig.from_dict(job_dict(data, tmp_path / "out")))
    assert f"took over a stale lock left by a run that died (pid {holder.pid}" in caplog.text
    assert not lock.exists()


def test_the_flow_holds_the_lock(holder: subprocess.Popen[str], tmp_path: Path) -> None:
    from zslabel.flows.label_dataset import label_dataset

    job = tmp_path / "job.yaml"
    job.write_text(
        "input: {path: data}\nlabels: [a, b]\nsources: [{kind: fake}]\noutput: {dir: out}\n"
    )
    # .fn: the flow body without Prefect's engine; it must take the lock before anything else.
    with pytest.raises(OutputError, match="another zslabel run"):
        label_dataset.fn(str(job))


def test_another_thread_of_the_same_process_is_refused(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    errors: list[BaseException] = []
    with run_lock(out):

        def second() -> None:
            try:
                run_job(JobConfig.from_dict(job_dict(data, out)))
            except OutputError as exc:
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(errors) == 1
    assert f"pid {os.getpid()}" in str(errors[0])


def test_incremental_runs_hold_the_root_and_reenter_for_their_version(
    data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    outcome = run_incremental(JobConfig.from_dict(job_dict(data, out, incremental=True)))
    assert outcome is not None
    assert sorted(p.name for p in out.rglob("*lock")) == []


def test_a_work_folder_elsewhere_locks_the_output_folder_too(data: Path, tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "cache"
    proc = hold(out, tmp_path / "other-cache")
    try:
        assert (out / OUTPUT_LOCK_FILE).exists()
        # Another cache, the same output: still refused.
        with pytest.raises(OutputError, match="another zslabel run"):
            run_job(JobConfig.from_dict(job_dict(data, out, output={"work_dir": str(work)})))
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    run_job(JobConfig.from_dict(job_dict(data, out, output={"work_dir": str(work)})))
    assert not (out / OUTPUT_LOCK_FILE).exists()
    assert not (work / LOCK_FILE).exists()


def test_a_failed_first_run_leaves_no_empty_folders(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    with pytest.raises(RuntimeError), run_lock(out):
        raise RuntimeError("the run fails before writing anything")
    assert not (tmp_path / "deep").exists()


def test_a_lock_file_with_junk_in_it_is_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = tmp_path / "out" / ".zslabel" / LOCK_FILE
    lock.parent.mkdir(parents=True)
    lock.write_bytes(b"\x00garbage")
    with caplog.at_level(logging.WARNING, logger="zslabel"), run_lock(tmp_path / "out"):
        assert f'"pid": {os.getpid()}' in lock.read_text()
    assert "stale lock" in caplog.text


def test_taking_the_lock_clears_what_killed_runs_left(tmp_path: Path) -> None:
    root = tmp_path / "out"
    debris = [
        root / ".staging-0123abcd" / "labeled.parquet",
        root / "v0002" / ".staging-4567ef01" / "labeled.parquet",  # an incremental version's
        root / ".zslabel" / "features" / "ab" / "tmpx1y2.tmp",
    ]
    for path in debris:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"half written")
    kept = root / "v0002" / "labeled.parquet"
    kept.write_bytes(b"committed")
    with run_lock(root):
        assert not any(path.exists() for path in debris)
        assert not (root / ".staging-0123abcd").exists()
    assert kept.read_bytes() == b"committed"
