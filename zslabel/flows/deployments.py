"""Run the flow once, or serve it on a schedule, from the command line.

``serve`` needs a real Prefect server, because Prefect's temporary local server has no scheduler.
With ``PREFECT_API_URL`` unset it starts ``prefect server start`` on loopback for as long as it
serves (one machine, one command) and stops it on exit; with it set it uses that server. For a
work pool on a shared server, deploy with ``prefect.yaml`` instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zslabel.config import JobConfig, deep_merge, load_job
from zslabel.flows import environment
from zslabel.flows.local_server import local_server


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
    # Local mode: a temporary server of our own rather than Prefect's, which a terminal's Ctrl-C
    # stopped with the run, leaving it to retry into a dead server for minutes (local_server).
    with local_server(ui=False) if local else contextlib.nullcontext():
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
    with local_server():
        environment.check_api()
        from zslabel.flows.label_dataset import label_dataset

        label_dataset.serve(
            name=name or f"zslabel-{Path(job_path).stem}",
            cron=cron,
            interval=interval,
            parameters={"job_path": str(Path(job_path).resolve()), "overrides": overrides},
            pause_on_shutdown=False,
        )
