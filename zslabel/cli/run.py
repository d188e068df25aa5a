"""``zslabel run``: run a job as the Prefect flow label-dataset (Prefect's local mode without
PREFECT_API_URL), on threads, Dask or Ray: a job file, or the quick form (``INPUT --labels a,b
--out DIR``) as ``label`` takes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from zslabel.cli.jobargs import JOB_SUFFIXES, job_from_args, job_overrides
from zslabel.cli.options import Commands, job_options, job_or_quick, runner_options
from zslabel.errors import DriftFailed


def add_parser(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        parents=[job_options(), runner_options(), job_or_quick()],
        help="run the job as the Prefect flow label-dataset (local mode by default)",
        description="Run JOB.yaml, or INPUT with --labels, through Prefect: resumable, "
        "observable, on threads, Dask or Ray. Without PREFECT_API_URL it runs in Prefect's local "
        "mode. Prints the flow run's id and where its history is kept.",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="use the fake source (no model) and write to OUT-dry-run: checks the job quickly",
    )
    run.add_argument("--json", action="store_true", help="print the manifest counts as JSON")
    run.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.flows.deployments import run_flow
    from zslabel.summary import format_run

    # Validated here, before Prefect starts, so that a mistake fails in one line and fast.
    config = job_from_args(args)
    job_file = Path(args.target).suffix.lower() in JOB_SUFFIXES
    plain = job_file and not (args.dry_run or args.model or args.template)
    # The job file's stem names the artifacts (zslabel-<stem>-summary), the output folder's
    # name without one; a dry run gets its own, so as never to replace a real run's artifacts.
    name = None
    if job_file:
        name = Path(args.target).stem + ("-dry-run" if args.dry_run else "")
    stream = sys.stderr if args.json else sys.stdout

    def announce(line: str) -> None:
        print(line, file=stream, flush=True)

    drifted = None
    try:
        if plain:
            outcome = run_flow(args.target, job_overrides(args), announce=announce)
        else:
            outcome = run_flow(job=config, name=name, announce=announce)
    except DriftFailed as failed:
        # on_drift: fail -- the version is written: its summary, then the one line, exit 1,
        # as `zslabel label` does.
        outcome, drifted = failed.outcome, failed
    if "manifest" not in outcome:
        where = outcome["output_dir"]
        # With --json, stdout holds the JSON alone: this line goes to stderr.
        print(f"No new input files: every file is in a version under {where}", file=stream)
        return 0
    result = result_of(outcome)
    if args.json:
        print(json.dumps(result.counts, indent=2))
    else:
        print(format_run(result))
    if drifted is not None:
        print(f"zslabel run: {drifted}", file=sys.stderr)
        return 1
    return 0


def result_of(outcome: dict[str, Any]) -> Any:
    """The flow's plain-value return turned back into a RunResult."""
    from zslabel.runner import RunResult

    return RunResult(Path(outcome["output_dir"]), outcome["manifest"], outcome["run_info"])
