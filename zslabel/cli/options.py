"""The flags several commands share, as argparse parent parsers: the job overrides (input,
output, selection), the Prefect runner, and the job-file-or-quick-form target.

Each function returns a fresh parser, so that a command module asks for the groups it takes.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

# What ``add_subparsers`` returns: each command module adds its parser to it. A string, because
# argparse's class is generic only to type checkers.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def job_options() -> argparse.ArgumentParser:
    """Flags that override the job's settings (``jobargs.job_overrides`` reads them back)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--input", help="input dataset, overriding the job's input.path")
    parser.add_argument("--out", help="output folder, overriding output.dir")
    parser.add_argument("--text-column", help="text column (default: text)")
    parser.add_argument("--id-column", help="optional unique id column")
    parser.add_argument("--min-confidence", type=float)
    parser.add_argument("--per-class-top-fraction", type=float)
    parser.add_argument("--min-margin", type=float)
    parser.add_argument(
        "--multi-label",
        action="store_true",
        default=None,
        help="rows may carry any number of labels (independent scores, per-label thresholds)",
    )
    parser.add_argument(
        "--threshold", type=float, help="multi-label: probability at which a label is assigned"
    )
    parser.add_argument("--format", choices=["parquet", "jsonl", "csv"])
    parser.add_argument("--seed", type=int, help="seed of the train/validation/test split")
    return parser


def runner_options() -> argparse.ArgumentParser:
    """Where the Prefect flow scores shards."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--runner", choices=["threads", "dask", "ray"], help="where shards are scored"
    )
    parser.add_argument("--address", help="an existing Dask or Ray cluster to use")
    parser.add_argument("--workers", type=int, help="threads or local worker processes")
    return parser


def job_or_quick() -> argparse.ArgumentParser:
    """A job file, or the quick form: an input and its labels on the command line."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("target", help="a job file (.yaml) or, with --labels, the input dataset")
    parser.add_argument("--labels", help='comma-separated label names, e.g. "World,Sports"')
    parser.add_argument("--model", help="embedding model: default, a local folder, or a hub id")
    parser.add_argument("--template", help='label prompt template, e.g. "about {description}"')
    return parser
