"""``zslabel label``: label a dataset in-process, from a job file or the quick form
(``INPUT --labels a,b --out DIR``), incrementally where the job asks for it.
"""

from __future__ import annotations

import argparse
import json
import sys

from zslabel.cli.jobargs import job_from_args
from zslabel.cli.options import Commands, job_options, job_or_quick


def add_parser(commands: Commands) -> None:
    label = commands.add_parser(
        "label",
        parents=[job_options(), job_or_quick()],
        help="label a dataset with a job file, or quickly with --labels",
        description="Label JOB.yaml, or INPUT (a Parquet file, folder or URI) with --labels.",
    )
    label.add_argument(
        "--dry-run",
        action="store_true",
        help="use the fake source (no model) and write to OUT-dry-run: checks the job quickly",
    )
    label.add_argument("--json", action="store_true", help="print the manifest counts as JSON")
    label.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    label.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.runner import run_job
    from zslabel.summary import format_run

    config = job_from_args(args)
    # With --json, stdout holds the JSON alone (for jq and scripts); the other lines go to stderr.
    info = sys.stderr if args.json else sys.stdout
    if config.incremental:
        from zslabel.incremental import run_incremental

        outcome = run_incremental(config, progress=not args.no_progress)
        if outcome is None:
            where = config.output.dir
            print(f"No new input files: every file is in a version under {where}", file=info)
            return 0
        increment, result = outcome
        print(increment.describe(), file=info)
    else:
        result = run_job(config, progress=not args.no_progress)
    if args.json:
        print(json.dumps(result.manifest["counts"], indent=2))
    else:
        print(format_run(result))
    from zslabel.pipeline.drift import failure_message

    # on_drift: fail -- the outputs are written and drift.json marks them; the exit code tells
    # a scheduler or a CI step that this version differs from the last.
    failed = failure_message(result.manifest)
    if failed is not None:
        print(f"zslabel label: {failed}", file=sys.stderr)
        return 1
    return 0
