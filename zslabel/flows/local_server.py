"""A temporary ``prefect server`` on loopback for one command: ``zslabel run`` (local mode),
``zslabel demo`` and ``zslabel serve`` without ``PREFECT_API_URL``.

Prefect's own temporary server shares the run's process group, so Ctrl-C in a terminal, or
``timeout``, stopped it with the run, and the run then retried every state and event into the
dead server (a trial: 4.5 minutes and 290 lines of connection errors after SIGTERM; Ctrl-C not
done in 90 s). This one runs in a session of its own, so that such a signal reaches the run
alone: the run stops, the server records it, and is stopped here once Prefect's event and log
workers have sent it what they hold. On Linux it also gets SIGTERM when the process that
started it dies in any way (SIGKILL, the OOM killer, a closed notebook kernel), so that it
never outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import IO

from zslabel.errors import ZslabelError
from zslabel.flows import environment

SERVER_START_TIMEOUT_S = 120.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@contextlib.contextmanager
def local_server(ui: bool = True) -> Iterator[None]:
    """A ``prefect server`` on a free loopback port while the block runs (without its UI unless
    ``ui``), ``PREFECT_API_URL`` pointing at it and restored afterwards; nothing when a server
    is configured. Raises ZslabelError, with the server's last output line, when it does not
    start."""
    if environment.api_url():
        yield
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below; a pipe could fill and block
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PREFECT_API_URL": "", **({} if ui else {"PREFECT_UI_ENABLED": "0"})},
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )  # fmt: skip
    before = os.environ.get("PREFECT_API_URL")
    try:
        _wait_for(url, process, log)
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
        log.close()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _drain_workers(timeout_s: float = 10.0) -> None:
    """Send what Prefect's event and log workers hold to the server before it stops; after it
    stops they would try again at interpreter exit, every 7 seconds an event. Not where an
    event loop runs (a notebook cell): there ``drain_all`` returns a coroutine to await, and
    the workers send as they go."""
    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop()
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=timeout_s)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ZslabelError(
                f"'prefect server start' exited with status {process.returncode}" + _last_line(log)
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise ZslabelError(f"the Prefect server did not answer at {url} within 120 s" + _last_line(log))


def _last_line(log: IO[bytes]) -> str:
    """The server's last line of output, as ``: LINE``; "" when it wrote none."""
    try:
        log.seek(0)
        lines = log.read().decode("utf-8", "replace").strip().splitlines()
    except (OSError, ValueError):
        return ""
    return f": {lines[-1].strip()}" if lines else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
