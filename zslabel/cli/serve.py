"""``zslabel serve``: serve the flow for a job file on a cron or interval schedule until
stopped, against PREFECT_API_URL or a Prefect server it starts on loopback.
"""

from __future__ import annotations

import argparse

from zslabel.cli.jobargs import job_overrides, load_checked
from zslabel.cli.options import Commands, job_options, runner_options


def add_parser(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve",
        parents=[job_options(), runner_options()],
        help="serve the flow for a job on a schedule until stopped",
        description="Serve label-dataset for JOB.yaml on a schedule. Uses PREFECT_API_URL, or "
        "starts a Prefect server on loopback for as long as it serves.",
    )
    serve.add_argument("job", help="job file (.yaml); set incremental: true to label new files")
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='cron schedule, e.g. "0 * * * *" (hourly)')
    when.add_argument("--interval", type=float, help="seconds between runs")
    serve.add_argument("--name", help="deployment name (default: zslabel-JOBNAME)")
    serve.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.flows.deployments import serve_job

    load_checked(args)
    serve_job(args.job, cron=args.cron, interval=args.interval, name=args.name,
              overrides=job_overrides(args))  # fmt: skip
    return 0
