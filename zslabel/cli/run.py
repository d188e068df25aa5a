"""``zslabel run``: run a job file as the Prefect flow label-dataset (Prefect's local mode
without PREFECT_API_URL), on threads, Dask or Ray.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from zslabel.cli.jobargs import job_overrides, load_checked
from zslabel.cli.options import Commands, job_options, runner_options


def add_parser(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        parents=[job_options(), runner_options()],
        help="run the job as the Prefect flow label-dataset (local mode by default)",
        description="Run JOB.yaml through Prefect: resumable, observable, on threads, Dask or Ray. "
        "Without PREFECT_API_URL it runs in Prefect's local mode.",
    )
    run.add_argument("job", help="job file (.yaml)")
    run.add_argument("--json", action="store_true", help="print the manifest counts as JSON")
    run.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from flows.deployments import run_flow
    from zslabel.summary import format_run

    load_checked(args)
    outcome = run_flow(args.job, job_overrides(args))
    if "manifest" not in outcome:
        print(f"No new input files: every file is in a version under {outcome['output_dir']}")
        return 0
    result = result_of(outcome)
    if args.json:
        print(json.dumps(result.counts, indent=2))
    else:
        print(format_run(result))
    return 0


def result_of(outcome: dict[str, Any]) -> Any:
    """The flow's plain-value return turned back into a RunResult."""
    from zslabel.runner import RunResult

    return RunResult(Path(outcome["output_dir"]), outcome["manifest"], outcome["run_info"])
