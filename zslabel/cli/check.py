"""``zslabel check``: score a sample of the input before a long run and report what it found
(prompts, confusable labels, labels no row prefers, an estimate of the run); writes nothing.
"""

from __future__ import annotations

import argparse
import json

from zslabel.cli.jobargs import job_from_args
from zslabel.cli.options import Commands, job_options, job_or_quick
from zslabel.errors import ConfigError


def add_parser(commands: Commands) -> None:
    check = commands.add_parser(
        "check",
        parents=[job_options(), job_or_quick()],
        help="look before a long run: score a sample and estimate the run (writes nothing)",
        description="Score --sample rows spread over the input of JOB.yaml (or INPUT with "
        "--labels) and print each source's prompts, the most similar labels, labels no row "
        "prefers, the predicted classes and an estimate of the full run's time.",
    )
    check.add_argument(
        "--sample",
        type=int,
        default=500,
        metavar="N",
        help="rows to score, spread evenly over the input (default: %(default)s)",
    )
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    # check writes nothing: the output flags are accepted (a label command line works as it is)
    # but not offered.
    for action in check._actions:
        if {"--out", "--format", "--seed", "--review-limit"} & set(action.option_strings):
            action.help = argparse.SUPPRESS
    check.set_defaults(handler=handle, dry_run=False)


def handle(args: argparse.Namespace) -> int:
    from zslabel.preview import format_preview, preview

    if args.sample < 1:
        raise ConfigError(f"--sample {args.sample}: give at least 1 row")
    found = preview(job_from_args(args, out_required=False), sample=args.sample)
    print(json.dumps(found.to_dict(), indent=2) if args.json else format_preview(found))
    return 0
