"""``zslabel eval``: score a labeled output folder against a gold column."""

from __future__ import annotations

import argparse
import json

from zslabel.cli.options import Commands


def add_parser(commands: Commands) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="score a labeled output folder against a gold column",
        description="Score DIR (the output folder of a 'zslabel label' or 'zslabel run' job) "
        "against the true labels in its rows' --gold-column: coverage, accuracy and macro-F1 "
        "of the accepted rows, the same for every valid row at its top label, and precision "
        "and recall per class. Writes nothing.",
    )
    evaluate.add_argument("dir", help="output folder of a job ('zslabel label' or 'run')")
    evaluate.add_argument(
        "--gold-column", required=True, metavar="NAME", help="column holding the true labels"
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.eval_summary import format_evaluation
    from zslabel.evaluate import evaluate

    report = evaluate(args.dir, args.gold_column)
    print(json.dumps(report, indent=2) if args.json else format_evaluation(report))
    return 0
