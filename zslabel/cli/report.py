"""``zslabel report``: render an output folder's report.html again, optionally against gold
labels and with the student's rounds.
"""

from __future__ import annotations

import argparse

from zslabel.cli.options import Commands


def add_parser(commands: Commands) -> None:
    report = commands.add_parser(
        "report",
        help="render report.html of an output folder again, optionally against gold labels",
        description="Render DIR/report.html again: with --gold-column it adds accuracy, the "
        "coverage-accuracy curve, the confusion matrix and a reliability diagram; "
        "DIR/student/metrics.json, when present, adds the student's rounds.",
    )
    report.add_argument("dir", help="output folder of a job ('zslabel label' or 'run')")
    report.add_argument(
        "--gold-column",
        metavar="NAME",
        help="column holding the true labels (default: none: the report without gold figures)",
    )
    report.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.report import write_report

    print(f"Wrote {write_report(args.dir, args.gold_column)}")
    return 0
