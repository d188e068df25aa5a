"""Run the flow once, or serve it on a schedule, from the command line.

``serve`` needs a real Prefect server, because Prefect's temporary local server has no scheduler.
With ``PREFECT_API_URL`` unset it starts ``prefect server start`` on loopback for as long as it
serves (one machine, one command) and stops it on exit; with it set it uses that server. For a
work pool on a shared server, deploy with ``prefect.yaml`` instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from zslabel.config import JobConfig, deep_merge, load_job
from zslabel.errors import ZslabelError
from zslabel.flows import environment

SERVER_START_TIMEOUT_S = 120.0


def run_flow(
    job_path: str | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    job: JobConfig | None = None,
    name: str | None = None,
    announce: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``label-dataset`` once (local mode unless PREFECT_API_URL is set); its return value.

    The job is the file ``job_path`` (with ``overrides``) or the validated ``job``; ``name``
    keys the artifacts (see the flow). ``announce`` is called once the flow run starts with a
    line naming the run and where its history is kept (:func:`describe_run`). Raises
    ConfigError for an invalid job or a multi-process runner without a server,
    PrefectUnavailable when PREFECT_API_URL does not answer, and what the flow raises.
    """
    environment.configure()
    if job is None:
        config = load_job(str(job_path), overrides)
    else:
        merged = deep_merge(job.model_dump(mode="json"), overrides or {})
        config = JobConfig.from_dict(merged, origin="command line")
    if config.runner.kind != "threads":
        environment.require_server(config.runner.kind)
    environment.check_api()
    environment.exit_cleanly_on_sigterm()
    from zslabel.flows.label_dataset import label_dataset

    local = environment.api_url() is None
    flow = label_dataset
    if announce is not None:
        say = announce

        def started(flow: Any, flow_run: Any, state: Any) -> None:
            say(describe_run(str(flow_run.id), flow_run.name, local=local))

        flow = label_dataset.with_options(on_running=[started])
    parameters: dict[str, Any] = {"name": name}
    if job is not None:
        parameters.update(job=job.model_dump(mode="json"), overrides=overrides)
    else:
        parameters.update(job_path=str(Path(str(job_path)).resolve()), overrides=overrides)
    # Local mode: a temporary server of our own rather than Prefect's, started in a session of
    # its own. Ctrl-C in a terminal (or `timeout`) signals the whole process group: Prefect's
    # temporary server died with it, and the run then spent minutes retrying every state and
    # event into it (a trial: 4.5 minutes and 290 log lines after SIGTERM, Ctrl-C not done in
    # 90 s). Ours outlives the signal, records the crash, and is stopped when the run ends.
    with _server(ui=False) if local else contextlib.nullcontext():
        result: dict[str, Any] = flow(**parameters)
    return result


def describe_run(flow_run_id: str, flow_run_name: str, *, local: bool | None = None) -> str:
    """One line: the flow run, and where its history is: the configured server's UI page for
    the run, or in local mode (``local``; default: no PREFECT_API_URL) Prefect's own database
    (its temporary server stops with the run, the history stays and ``prefect server start``
    shows it)."""
    from prefect.settings import get_current_settings
    from prefect.utilities.urls import url_for

    run = f"Prefect flow run {flow_run_name} ({flow_run_id})"
    url = environment.api_url()
    if local is None:
        local = url is None
    if url and not local:
        page = url_for("flow-run", obj_id=flow_run_id)
        return f"{run}: {page}" if page else f"{run} on the Prefect server at {url}"
    settings = get_current_settings()
    database = settings.server.database.connection_url
    where = database.get_secret_value() if database is not None else ""
    where = (
        where.split(":///", 1)[1]
        if where.startswith("sqlite")
        else "the database of PREFECT_API_DATABASE_CONNECTION_URL"
    )
    server = f"http://{settings.server.api.host}:{settings.server.api.port}"
    return (
        f"{run} in local mode: its history stays in {where} after the temporary server stops; "
        f"`prefect server start` shows it at {server}/runs/flow-run/{flow_run_id}"
    )


def serve_job(
    job_path: str,
    *,
    cron: str | None = None,
    interval: float | None = None,
    name: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> None:
    """Serve ``label-dataset`` for this job on a schedule until interrupted."""
    environment.configure()
    environment.exit_cleanly_on_sigterm()
    with _server():
        environment.check_api()
        from zslabel.flows.label_dataset import label_dataset

        label_dataset.serve(
            name=name or f"zslabel-{Path(job_path).stem}",
            cron=cron,
            interval=interval,
            parameters={"job_path": str(Path(job_path).resolve()), "overrides": overrides},
            pause_on_shutdown=False,
        )


@contextlib.contextmanager
def _server(ui: bool = True) -> Iterator[None]:
    """A ``prefect server`` on loopback while the block runs, unless one is configured.

    It runs in a session of its own, so that a signal to the terminal's process group (Ctrl-C)
    reaches this process alone: the run is stopped, the server records it and is stopped here,
    after Prefect's event and log workers have sent it what they hold."""
    if environment.api_url():
        yield
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PREFECT_API_URL": "", **({} if ui else {"PREFECT_UI_ENABLED": "0"})},
        start_new_session=True,
    )  # fmt: skip
    before = os.environ.get("PREFECT_API_URL")
    try:
        _wait_for(url, process)
        os.environ["PREFECT_API_URL"] = url  # worker processes (Dask, Ray) find it here
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: url}):
            try:
                yield
            finally:
                _drain_workers()
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _drain_workers(timeout_s: float = 10.0) -> None:
    """Send what Prefect's event and log workers hold to the server before it stops; after it
    stops they would try again at interpreter exit, every 7 seconds an event."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=timeout_s)


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ZslabelError(f"'prefect server start' exited with status {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise ZslabelError(f"the Prefect server did not answer at {url} within 120 s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
