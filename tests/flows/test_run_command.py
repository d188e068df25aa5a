"""`zslabel run` and `zslabel serve`: local mode, failures, signals."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cli import main


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: no server configured, its own Prefect home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), **extra)
    return env


def zslabel(*args: str) -> list[str]:
    return [sys.executable, "-m", "zslabel.cli", *args]


@pytest.mark.usefixtures("prefect_server")
def test_demo_runs_through_the_flow(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Labeled 400 rows" in out
    assert "accepted rows:   accuracy" in out
    table = pq.read_table(tmp_path / "demo" / "out" / "labeled.parquet")
    assert table.num_rows == 400
    assert {"ticket_id", "text", "topic", "zs_label", "zs_status"} <= set(table.column_names)


UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.mark.usefixtures("prefect_server")
def test_run_prints_the_flow_run_and_the_summary(
    job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    assert main(["run", str(job_file), "--per-class-top-fraction", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "Labeled 90 rows" in out
    assert "6 shard(s) scored, 0 reused" in out
    manifest = json.loads((job_file.parent / "out" / "manifest.json").read_text())
    # The flag reached the flow: the job's 0.5 would accept 45 rows.
    assert manifest["config"]["selection"]["per_class_top_fraction"] == 1.0
    assert manifest["counts"]["status"]["accepted"] > 80
    # With a server configured: the run's page in its UI.
    found = re.search(rf"Prefect flow run (\S+) \(({UUID})\): (\S+)", out)
    assert found, out
    name, run_id, page = found.groups()
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)
    assert flow_run.name == name
    assert flow_run.parameters["job_path"] == str(job_file)
    ui = str(PREFECT_API_URL.value()).removesuffix("/api")
    assert page == f"{ui}/runs/flow-run/{run_id}"


def test_in_local_mode_the_run_says_where_its_history_stays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, temporary_settings

    from zslabel.flows import deployments, environment

    monkeypatch.setattr(environment, "api_url", lambda: None)
    run_id = "0c4f6b1e-0000-4000-8000-000000000001"
    database = tmp_path / "prefect.db"
    with temporary_settings(
        {PREFECT_API_DATABASE_CONNECTION_URL: f"sqlite+aiosqlite:///{database}"}
    ):
        line = deployments.describe_run(run_id, "clever-fox")
    assert line == (
        f"Prefect flow run clever-fox ({run_id}) in local mode: its history stays in {database} "
        "after the temporary server stops; `prefect server start` shows it at "
        f"http://127.0.0.1:4200/runs/flow-run/{run_id}"
    )
    secret = "postgresql+asyncpg://prefect:hunter2@db:5432/prefect"
    with temporary_settings({PREFECT_API_DATABASE_CONNECTION_URL: secret}):
        line = deployments.describe_run(run_id, "clever-fox")
    assert "history stays in the database of PREFECT_API_DATABASE_CONNECTION_URL" in line
    assert "hunter2" not in line


@pytest.mark.slow
def test_a_local_run_is_kept_in_the_local_database(job_file: Path, tmp_path: Path) -> None:
    """What the run line promises: the temporary server is gone, the run is in prefect.db."""
    import sqlite3

    proc = subprocess.run(
        zslabel("run", str(job_file), "--json"),
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["rows"] == 90  # the run line went to stderr
    database = tmp_path / "prefect-home" / "prefect.db"
    local = rf"flow run (\S+) \(({UUID})\) in local mode: its history stays in (\S+) "
    found = re.search(local, proc.stderr)
    assert found, proc.stderr[-3000:]
    name, run_id, where = found.groups()
    assert where == str(database)
    with contextlib.closing(sqlite3.connect(database)) as db:
        query = "SELECT name, state_type FROM flow_run WHERE id = ?"
        rows = db.execute(query, (run_id,)).fetchall()
    assert rows == [(name, "COMPLETED")]


def test_run_takes_a_job_file_and_says_so(
    job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = job_file.parent / "data" / "part-0.parquet"
    assert main(["run", str(data)]) == 2
    err = capsys.readouterr().err
    assert "job file" in err
    assert "--labels" in err
    assert "codec" not in err


@pytest.mark.usefixtures("prefect_server")
def test_run_dry_run(job_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job_file.write_text(job_file.read_text().replace("[{kind: fake}]", "[{kind: embedding}]"))
    assert main(["run", str(job_file), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Labeled 90 rows" in out
    manifest = json.loads((job_file.parent / "out-dry-run" / "manifest.json").read_text())
    assert [source["kind"] for source in manifest["config"]["sources"]] == ["fake"]
    assert not (job_file.parent / "out").exists()


@pytest.mark.usefixtures("prefect_server")
def test_run_quick_form_with_model_and_template(
    job_file: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.client.orchestration import get_client

    out = tmp_path / "quick"
    data, template = str(job_file.parent / "data"), "news about {label}"
    argv = ["run", data, "--labels", "sports,weather", "--out", str(out),
            "--model", str(tiny_model), "--template", template]  # fmt: skip
    assert main(argv) == 0
    assert "Labeled 90 rows" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["counts"]["classes"]) == ["sports", "weather"]
    [source] = manifest["config"]["sources"]
    assert (source["model"], source["template"]) == (str(tiny_model), template)
    with get_client(sync_client=True) as client:
        keys = {artifact.key for artifact in client.read_latest_artifacts()}
    assert "zslabel-quick-summary" in keys  # no job file: named after the output folder


def test_bad_job_fails_before_prefect_starts(
    job_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_file.write_text(job_file.read_text().replace("shard_rows: 15", "shard_rows: -1"))
    assert main(["run", str(job_file)]) == 2
    assert "input.shard_rows, line 1" in capsys.readouterr().err


def test_an_unreachable_api_is_one_line(job_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        zslabel("run", str(job_file)),
        env=clean_env(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api"),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("zslabel: error: the Prefect API at http://127.0.0.1:9/api is")
    assert proc.stderr.count("\n") == 1


def test_multi_process_runners_need_a_server(job_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        zslabel("run", str(job_file), "--runner", "dask"),
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "runner 'dask' starts worker processes" in proc.stderr
    assert "Traceback" not in proc.stderr


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _start_long_run(
    tmp_path: Path, settle_s: float, **popen: Any
) -> tuple[subprocess.Popen[str], set[int]]:
    """``zslabel run`` on 400,000 rows (the fake source), once its temporary server is up and
    ``settle_s`` seconds later; the run and the server's process ids."""
    pq.write_table(
        pa.table({"text": [f"text number {i}" for i in range(400_000)]}), tmp_path / "big.parquet"
    )
    job = tmp_path / "job.yaml"
    job.write_text(
        "input: {path: big.parquet, shard_rows: 20000}\nlabels: [a, b]\n"
        "sources: [{kind: fake}]\noutput: {dir: out}\n"
    )
    proc = subprocess.Popen(
        zslabel("run", str(job)), env=clean_env(tmp_path), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, **popen,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    servers: set[int] = set()
    while time.monotonic() < deadline and not servers and proc.poll() is None:
        servers = _children(proc.pid)
        time.sleep(0.2)
    assert servers, "the temporary Prefect server never started"
    time.sleep(settle_s)  # the server answers, the flow gets going
    assert proc.poll() is None, "the run finished before it could be interrupted"
    return proc, servers


def _gone(servers: set[int]) -> bool:
    """Whether every server process has ended, waiting up to 20 s: told to stop, a server
    shuts down gracefully."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in servers):
        time.sleep(0.5)
    return not any(_alive(pid) for pid in servers)


@pytest.mark.slow
def test_sigterm_leaves_no_temporary_server_behind(tmp_path: Path) -> None:
    proc, servers = _start_long_run(tmp_path, 3)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert _gone(servers), "temporary server orphaned"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)]
)
def test_a_signal_to_the_process_group_stops_the_run_promptly(
    tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    """Ctrl-C in a terminal and `timeout` signal the whole process group. Prefect's own
    temporary server died with it, and a trial's run then retried into it for 4.5 minutes
    (SIGTERM), or was not done after 90 s (Ctrl-C), printing hundreds of connection errors."""
    proc, servers = _start_long_run(tmp_path, 8, start_new_session=True)
    if stop == signal.SIGKILL:
        # The run alone, as the OOM killer does: its server, in a session of its own, must
        # not outlive it (Linux: it is asked to stop when its parent dies).
        os.kill(proc.pid, stop)
    else:
        os.killpg(proc.pid, stop)
    _, err = proc.communicate(timeout=45)
    assert proc.returncode == code, err[-3000:]
    assert "Connection refused" not in err, err[-3000:]
    assert "Unable to connect" not in err, err[-3000:]
    if stop == signal.SIGINT:
        assert "rerun the same command to resume" in err
    assert _gone(servers), "temporary server orphaned"


@pytest.mark.slow
def test_serve_runs_the_job_on_schedule_and_stops_its_server(
    job_file: Path, tmp_path: Path
) -> None:
    env = clean_env(
        tmp_path,
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
        PREFECT_RUNNER_POLL_FREQUENCY="2",
    )
    proc = subprocess.Popen(
        zslabel("serve", str(job_file), "--interval", "10", "--out", str(tmp_path / "served")),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    manifest = tmp_path / "served" / "manifest.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not manifest.exists() and proc.poll() is None:
        time.sleep(1)
    children = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert manifest.exists(), err[-3000:]
    assert json.loads(manifest.read_text())["counts"]["rows"] == 90
    time.sleep(1)
    assert not [pid for pid in children if _alive(pid)], "prefect server left running"


def test_a_data_error_in_the_flow_is_one_line_without_a_traceback(
    job_file: Path, tmp_path: Path
) -> None:
    """A new user's trial: a duplicate id under ``zslabel run`` printed two tracebacks of
    Prefect's run loggers (about 70 lines) before the one-line error. Errors that say what is
    wrong with the data keep their log lines and the Failed state, without the traceback."""
    data = job_file.parent / "data"
    pq.write_table(pa.table({"text": ["a", "b", "c"], "id": ["x", "y", "x"]}), data / "ids.parquet")
    job_file.write_text(
        job_file.read_text().replace("text_column: text", "text_column: text, id_column: id")
    )
    for part in data.glob("part-*.parquet"):
        part.unlink()
    proc = subprocess.run(
        zslabel("run", str(job_file)), env=clean_env(tmp_path),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Task run 'check-input" in proc.stderr  # the run's own log lines are still there
    last = proc.stderr.strip().splitlines()[-1]
    assert "zslabel: error:" in last or "Stopping temporary server" in last
    assert "has duplicate value 'x' (rows 0 and 2, counting from 0)" in proc.stderr
