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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flows import environment
from zslabel.config import load_job
from zslabel.errors import ZslabelError

SERVER_START_TIMEOUT_S = 120.0


def run_flow(job_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``label-dataset`` once (local mode unless PREFECT_API_URL is set)."""
    environment.configure()
    config = load_job(job_path, overrides)
    if config.runner.kind != "threads":
        environment.require_server(config.runner.kind)
    environment.check_api()
    environment.exit_cleanly_on_sigterm()
    from flows.label_dataset import label_dataset

    result: dict[str, Any] = label_dataset(
        job_path=str(Path(job_path).resolve()), overrides=overrides
    )
    return result


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
        from flows.label_dataset import label_dataset

        label_dataset.serve(
            name=name or f"zslabel-{Path(job_path).stem}",
            cron=cron,
            interval=interval,
            parameters={"job_path": str(Path(job_path).resolve()), "overrides": overrides},
            pause_on_shutdown=False,
        )


@contextlib.contextmanager
def _server() -> Iterator[None]:
    """A ``prefect server`` on loopback while the block runs, unless one is configured."""
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
        env={**os.environ, "PREFECT_API_URL": ""},
    )  # fmt: skip
    try:
        _wait_for(url, process)
        os.environ["PREFECT_API_URL"] = url
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: url}):
            yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


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
