"""``zslabel demo``: generate example support tickets, label them through the Prefect flow in
local mode, and score the result against the generated topics.
"""

from __future__ import annotations

import argparse

from zslabel.cli.options import Commands
from zslabel.cli.run import result_of


def add_parser(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="generate example support tickets, label them and show the result",
        description="Write example support tickets and their job file into --dir, label them "
        "through the Prefect flow label-dataset in Prefect's local mode with the offline default "
        "model, and score the labels against the tickets' generated topics.",
    )
    demo.add_argument(
        "--dir", default="zslabel-demo", help="folder for the demo (default: %(default)s)"
    )
    demo.add_argument(
        "--rows",
        type=int,
        default=400,
        metavar="N",
        help="example tickets to generate (default: %(default)s)",
    )
    demo.add_argument("--dry-run", action="store_true", help="use the fake source (no model)")
    demo.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.demo import write_demo
    from zslabel.eval_summary import format_evaluation
    from zslabel.evaluate import evaluate
    from zslabel.flows.deployments import run_flow
    from zslabel.summary import format_run

    job_path = write_demo(args.dir, rows=args.rows)
    print(f"Wrote {job_path.parent / 'tickets.parquet'} and {job_path}")
    print("Running the label-dataset flow in Prefect's local mode...\n")
    overrides = {"sources": [{"kind": "fake"}]} if args.dry_run else None
    result = result_of(run_flow(str(job_path), overrides, announce=print))
    print(format_run(result))
    print("\nAgainst the generated gold topics (never seen by the labeling):")
    print(format_evaluation(evaluate(result.output_dir, "topic")))
    print(f"\nNext: edit {job_path} and run: zslabel run {job_path}")
    return 0
