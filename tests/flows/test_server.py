"""``zslabel run`` against a real Prefect server backed by a private PostgreSQL cluster.

One PostgreSQL cluster (loopback only, trust auth, in a temporary folder) and one
``prefect server start`` are shared by the module. The tests then run the label-dataset flow
through the CLI with PREFECT_API_URL pointing at that server and read back, through the Prefect
client, the flow runs, task runs and artifacts it recorded; and deploy ``prefect.yaml``.

PostgreSQL refuses to run as root, so as root (CI) initdb and pg_ctl run as the ``postgres``
system user (or ``nobody``) through ``runuser``. Missing server binaries fail the module: CI
installs them (``apt-get install -y postgresql``), a skip would hide that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.responses import DeploymentResponse

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
LABELS = ["sports", "weather", "finance"]
ROWS = 90
SHARD_ROWS = 30
SERVER_START_TIMEOUT_S = 120.0
COMMAND_TIMEOUT_S = 180.0
PG_USERS = ("postgres", "nobody")
PG_LIB = Path("/usr/lib/postgresql")
# The artifacts of the job file job.yaml, keyed by its stem.
KEYS = {
    kind: f"zslabel-job-{kind}" for kind in ("summary", "classes", "progress", "outputs", "report")
}


# --- PostgreSQL --------------------------------------------------------------------------------


def _pg_bindir() -> Path:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(
        PG_LIB.glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) are not on PATH nor in "
        "/usr/lib/postgresql/*/bin: install them (Debian/Ubuntu: apt-get install -y postgresql)",
        pytrace=False,
    )


def _pg_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as when we are root, else None (run as we are)."""
    if os.geteuid() != 0:
        return None
    for name in PG_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    pytest.fail(
        f"running as root and none of the users {PG_USERS} exists to run PostgreSQL as",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Postgres:
    bindir: Path
    base: Path
    user: pwd.struct_passwd | None
    port: int

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    def command(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bindir / program), *args]
        return ["runuser", "-u", self.user.pw_name, "--", *argv] if self.user else argv

    def run(self, program: str, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            self.command(program, *args),
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            pytest.fail(
                f"{program} {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}{log}",
                pytrace=False,
            )

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A private cluster on 127.0.0.1 with trust auth, stopped and deleted afterwards."""
    bindir, user = _pg_bindir(), _pg_user()
    # Not under pytest's tmp_path: that is private to root, and postgres must reach its files.
    base = Path(tempfile.mkdtemp(prefix="zslabel-pg-"))
    if user:
        os.chown(base, user.pw_uid, user.pw_gid)
    pg = Postgres(bindir, base, user, _free_port())
    started = False
    try:
        pg.run("initdb", "-D", str(pg.data), "-U", "postgres", "--auth=trust", "--no-sync",
               "-E", "UTF8", "--locale=C")  # fmt: skip
        options = (
            f"-p {pg.port} -k {base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = True
        pg.run("pg_ctl", "-D", str(pg.data), "-l", str(pg.log), "-o", options, "-w", "start")
        pg.run("createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "prefect")
        yield pg
    finally:
        if started:
            subprocess.run(
                pg.command("pg_ctl", "-D", str(pg.data), "-m", "fast", "-w", "stop"),
                cwd=base,
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)


# --- Prefect server ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    api_url: str
    home: Path
    log: Path

    def client_env(self, **extra: str) -> dict[str, str]:
        """The environment of a Prefect client process talking to this server."""
        env = _base_env(self.home)
        env["PREFECT_API_URL"] = self.api_url
        env.update(extra)
        return env


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
    )
    return env


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's own process group, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("prefect-server")
    home = root / "home"
    home.mkdir()
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log = root / "server.log"
    env = _base_env(home)
    env["PREFECT_API_DATABASE_CONNECTION_URL"] = postgres.url("prefect")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=root,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"prefect server start exited with {process.returncode}:\n{_tail(log)}",
                    pytrace=False,
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the Prefect server did not answer at {api_url} within "
                    f"{SERVER_START_TIMEOUT_S:.0f} s:\n{_tail(log)}",
                    pytrace=False,
                )
            time.sleep(0.5)
        yield Server(api_url, home, log)
    finally:
        _stop_group(process)


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _run(
    argv: list[str], env: Mapping[str, str], cwd: Path, timeout: float = COMMAND_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def _describe(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"{' '.join(map(str, result.args))} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-6000:]}"
    )


# --- Client helpers ----------------------------------------------------------------------------


def _query(api_url: str, coro_fn: Callable[[PrefectClient], Awaitable[T]]) -> T:
    """Run ``coro_fn(client)`` against the server with a Prefect client in this process."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def main() -> T:
        async with get_client() as client:
            return await coro_fn(client)

    with temporary_settings({PREFECT_API_URL: api_url}):
        return asyncio.run(main())


# --- Tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def labeled(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run ``zslabel run`` once on a small generated dataset; the output folder."""
    root = tmp_path_factory.mktemp("job")
    texts = [f"news {i}: {LABELS[i % 3]} today" for i in range(ROWS)]
    table = pa.table({"text": texts, "n": list(range(ROWS))})
    pq.write_table(table, root / "data.parquet", row_group_size=SHARD_ROWS)
    job = {
        "input": {"path": "data.parquet", "text_column": "text", "shard_rows": SHARD_ROWS},
        "labels": LABELS,
        "sources": [{"kind": "fake"}],
        "selection": {"per_class_top_fraction": 0.5},
        "output": {"dir": "out"},
    }
    (root / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    out = root / "out"
    result = _run(
        [sys.executable, "-m", "zslabel.cli", "run", str(root / "job.yaml"), "--out", str(out)],
        env=server.client_env(),
        cwd=root,
    )
    assert result.returncode == 0, _describe(result)
    return out


@pytest.mark.slow
def test_run_writes_outputs(labeled: Path) -> None:
    manifest = json.loads((labeled / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["rows"] == ROWS


@pytest.mark.slow
def test_server_records_flow_runs_tasks_and_artifacts(server: Server, labeled: Path) -> None:
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )
    from prefect.client.schemas.objects import StateType

    async def read(client: PrefectClient) -> dict[str, Any]:
        # Not runs the deployment's schedule may have added if test_deploy_prefect_yaml ran first.
        parents = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["label-dataset"])),
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(is_null_=True)),
        )
        children = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["score-shards"])),
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[r.id for r in parents])
            ),
        )
        runs = [*parents, *children]
        tasks = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[r.id for r in runs]))
        )
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=list(KEYS.values())),
                flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in runs]),
            )
        )  # fmt: skip
        return {"parents": parents, "children": children, "tasks": tasks, "art": artifacts}

    found = _query(server.api_url, read)

    assert len(found["parents"]) == 1, found["parents"]
    parent = found["parents"][0]
    assert parent.state_type == StateType.COMPLETED, parent.state
    assert parent.parameters["job_path"] == str(labeled.parent / "job.yaml")
    assert parent.parameters["overrides"] == {"output": {"dir": str(labeled)}}

    assert len(found["children"]) == 1
    child = found["children"][0]
    assert child.state_type == StateType.COMPLETED, child.state

    names = {t.name: t for t in found["tasks"]}
    shards = ROWS // SHARD_ROWS
    for index in range(shards):
        task = names.get(f"score shard {index}")
        assert task is not None, sorted(names)
        assert task.flow_run_id == child.id
        assert task.state_type == StateType.COMPLETED, task.state
    assert not any(name.startswith(f"score shard {shards}") for name in names)
    assert any(name.startswith("select-rows") for name in names), sorted(names)
    assert any(name.startswith("write-outputs") for name in names), sorted(names)

    artifacts = {a.key: a for a in found["art"]}
    assert set(artifacts) == set(KEYS.values())
    summary = artifacts[KEYS["summary"]]
    assert summary.type == "markdown"
    assert summary.flow_run_id == parent.id
    assert f"{ROWS:,} rows labeled" in str(summary.data)
    assert "| class | accepted | abstained |" in str(summary.data)
    for kind, target in (("outputs", labeled), ("report", labeled / "report.html")):
        link = artifacts[KEYS[kind]]
        assert link.flow_run_id == parent.id
        assert str(link.data).endswith(f"({target.as_uri()})")
    classes = artifacts[KEYS["classes"]]
    assert classes.type == "table"
    assert classes.flow_run_id == parent.id
    table = json.loads(classes.data) if isinstance(classes.data, str) else classes.data
    manifest = json.loads((labeled / "manifest.json").read_text(encoding="utf-8"))
    assert {row["label"] for row in table} == set(manifest["counts"]["classes"]) <= set(LABELS)
    progress = artifacts[KEYS["progress"]]
    assert progress.type == "progress"
    assert progress.flow_run_id == child.id
    assert float(progress.data) == pytest.approx(100.0)


@pytest.mark.slow
def test_deploy_prefect_yaml(server: Server, tmp_path: Path) -> None:
    """``prefect deploy --all`` of the repo's prefect.yaml on a process pool (no worker), from a
    project that is not a zslabel checkout and has a ``flows`` package of its own."""
    prefect_file = tmp_path / "prefect.yaml"
    shutil.copyfile(REPO / "prefect.yaml", prefect_file)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "__init__.py").write_text('raise ImportError("the user\'s own flows")\n')
    home = tmp_path / "zslabel-home"
    home.mkdir()
    env = server.client_env(ZSLABEL_HOME=str(home))
    prefect = [sys.executable, "-m", "prefect", "--no-prompt"]

    pool = _run([*prefect, "work-pool", "create", "zslabel", "--type", "process"], env, tmp_path)
    assert pool.returncode == 0, _describe(pool)
    deploy = _run([*prefect, "deploy", "--all", "--prefect-file", str(prefect_file)], env, tmp_path)
    assert deploy.returncode == 0, _describe(deploy)

    from prefect.client.schemas.schedules import CronSchedule

    async def read(client: PrefectClient) -> DeploymentResponse:
        return await client.read_deployment_by_name("label-dataset/label-tickets-hourly")

    deployment = _query(server.api_url, read)
    assert deployment.work_pool_name == "zslabel"
    assert deployment.entrypoint == "zslabel.flows.label_dataset.label_dataset"
    assert deployment.parameters["job_path"] == "examples/tickets.yaml"
    schedules = [s.schedule for s in deployment.schedules]
    assert schedules == [CronSchedule(cron="0 * * * *", timezone="UTC")]
    assert all(s.active for s in deployment.schedules)
    assert [next(iter(step)) for step in deployment.pull_steps or []] == [
        "prefect.deployments.steps.set_working_directory"
    ]


RUN_PULL_STEPS = """
import asyncio, json, os, sys
from prefect.deployments.steps.core import run_steps
asyncio.run(run_steps(json.loads(sys.argv[1])))
print(os.getcwd())
"""


@pytest.mark.slow
def test_deployment_pull_step_enters_zslabel_home(server: Server, tmp_path: Path) -> None:
    """The pull steps a worker runs before the flow (as Prefect's flow engine does) end up in
    ZSLABEL_HOME, where the deployment's relative job_path resolves."""
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    home = tmp_path / "zslabel-home"
    home.mkdir()
    env = server.client_env(ZSLABEL_HOME=str(home))
    result = _run(
        [sys.executable, "-c", RUN_PULL_STEPS, json.dumps(config["pull"])], env, cwd=tmp_path
    )
    assert result.returncode == 0, _describe(result)
    assert result.stdout.strip().splitlines()[-1] == str(home)
