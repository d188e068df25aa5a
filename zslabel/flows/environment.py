"""Make Prefect's local mode behave on a closed machine, and fail clearly without a server.

Imported before prefect itself: Prefect reads these settings at import time.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from zslabel.errors import ConfigError, ZslabelError

LOCAL_DEFAULTS = {
    # Offline machines log a telemetry error on every start otherwise.
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The temporary local server runs its database migrations on first start: 10-15 s here.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "TOKENIZERS_PARALLELISM": "false",
}


class PrefectUnavailable(ZslabelError, RuntimeError):
    """The configured Prefect API cannot be reached."""


def configure() -> None:
    for key, value in LOCAL_DEFAULTS.items():
        os.environ.setdefault(key, value)
    quiet_expected_errors()


def api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    value = PREFECT_API_URL.value()
    return str(value) if value else None


def check_api(timeout: float = 5.0) -> None:
    """With PREFECT_API_URL set, fail in one line unless its server answers."""
    url = api_url()
    if not url:
        return
    import httpx

    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise PrefectUnavailable(
            f"the Prefect API at {url} is unreachable ({type(exc).__name__}: {exc}); start the "
            "server, fix PREFECT_API_URL, or unset it to run in local mode"
        ) from None


def require_server(runner: str) -> None:
    if not api_url():
        raise ConfigError(
            f"runner {runner!r} starts worker processes, and each would start its own temporary "
            "Prefect server: start one ('prefect server start') and set PREFECT_API_URL"
        )


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that Prefect's temporary server is shut down with us."""

    def handler(signum: int, frame: FrameType | None) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


class _ExpectedErrors(logging.Filter):
    """Drops the traceback from a Prefect run log record whose exception is a ZslabelError: an
    error that says what is wrong with the job or its data (a duplicate id, a missing column)
    in one line, where a traceback would say zslabel broke (docs/errors.md). The record, its
    message and the run's Failed state stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ZslabelError):
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_expected_errors() -> None:
    """Install :class:`_ExpectedErrors` on Prefect's flow and task run loggers (once)."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ExpectedErrors) for f in logger.filters):
            logger.addFilter(_ExpectedErrors())
