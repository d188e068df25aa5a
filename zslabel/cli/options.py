"""The flags several commands share, as argparse parent parsers: the job overrides (input,
output, selection, review), the Prefect runner, and the job-file-or-quick-form target.

Each function returns a fresh parser, so that a command module asks for the groups it takes.
A flag that overrides a job key says so in its help, with the key's default formatted from the
config model (:func:`job_default`), so that the help cannot drift from what a job gets.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

from pydantic import BaseModel

from zslabel.config import (
    EmbeddingSourceSpec,
    InputSpec,
    JobConfig,
    OutputSpec,
    ReviewSpec,
    RunnerSpec,
    SelectionSpec,
)

# What ``add_subparsers`` returns: each command module adds its parser to it. A string, because
# argparse's class is generic only to type checkers.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def job_default(model: type[BaseModel], key: str) -> str:
    """The default of ``model``'s field ``key`` as help shows it: ``0.5``, ``text``, ``false``,
    ``none``. Raises KeyError for a key the model does not have."""
    value = model.model_fields[key].get_default(call_default_factory=True)
    if value is None:
        shown = "none"
    elif isinstance(value, bool):
        shown = str(value).lower()
    elif isinstance(value, str) and " " in value:
        shown = f'"{value}"'
    else:
        shown = str(value)
    return shown.replace("%", "%%")  # argparse %-formats help strings


def job_key_default(model: type[BaseModel], where: str, meaning: str = "") -> str:
    """``(default: the job's WHERE, VALUE)`` for a flag that overrides the job key ``where``
    (``selection.min_confidence``; its last part names ``model``'s field); ``meaning`` says what
    the default does (``: every row``)."""
    value = job_default(model, where.rsplit(".", 1)[-1])
    return f"(default: the job's {where}, {value}{meaning})"


def job_options() -> argparse.ArgumentParser:
    """Flags that override the job's settings (``jobargs.job_overrides`` reads them back)."""
    parser = argparse.ArgumentParser(add_help=False)
    _input_output_flags(parser)
    _selection_flags(parser)
    parser.add_argument(
        "--review-limit",
        type=int,
        metavar="N",
        help="at most N rows in the review files, the most useful first "
        + job_key_default(ReviewSpec, "review.limit", ": every row that was not accepted"),
    )
    return parser


def _input_output_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--input",
        metavar="PATH",
        help="input dataset: a Parquet file, folder or URI "
        "(default: the job's input.path; in the quick form, the target)",
    )
    add(
        "--out",
        metavar="DIR",
        help="output folder of the job: its labeled splits, manifest and report "
        "(default: the job's output.dir; required in the quick form)",
    )
    add(
        "--text-column",
        metavar="NAME",
        help="column of the texts to label " + job_key_default(InputSpec, "input.text_column"),
    )
    add(
        "--id-column",
        metavar="NAME",
        help="unique, non-null row id column; splits are assigned by it "
        + job_key_default(InputSpec, "input.id_column", ": the row's position"),
    )
    add(
        "--format",
        choices=["parquet", "jsonl", "csv"],
        help="format of the split files " + job_key_default(OutputSpec, "output.format"),
    )
    add(
        "--seed",
        type=int,
        metavar="N",
        help="seed of the train/validation/test split "
        + job_key_default(OutputSpec, "output.seed"),
    )


def _selection_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--min-confidence",
        type=float,
        metavar="P",
        help="minimum confidence (top-label probability, calibrated where the job has "
        "calibration) to accept a row; the rest are abstained "
        + job_key_default(SelectionSpec, "selection.min_confidence"),
    )
    add(
        "--per-class-top-fraction",
        type=float,
        metavar="F",
        help="accept at most the most confident fraction F (0 < F <= 1) of the rows predicted "
        "as each class " + job_key_default(SelectionSpec, "selection.per_class_top_fraction"),
    )
    add(
        "--min-above-chance",
        type=float,
        metavar="S",
        help="confidence floor: accept a row only where its confidence is at least the share S "
        "of the way from chance (1/k for k labels) to 1; 0 turns the floor off "
        + job_key_default(SelectionSpec, "selection.min_above_chance"),
    )
    add(
        "--min-margin",
        type=float,
        metavar="M",
        help="abstain when the top label leads the runner-up by less than M "
        + job_key_default(SelectionSpec, "selection.min_margin"),
    )
    add(
        "--multi-label",
        action="store_true",
        default=None,
        help="rows may carry any number of labels (independent scores, per-label thresholds) "
        + job_key_default(JobConfig, "multi_label"),
    )
    add(
        "--threshold",
        type=float,
        metavar="P",
        help="multi-label jobs: probability at which a label is assigned "
        + job_key_default(SelectionSpec, "selection.threshold"),
    )


def runner_options() -> argparse.ArgumentParser:
    """Where the Prefect flow scores shards."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--runner",
        choices=["threads", "dask", "ray"],
        help="where shards are scored " + job_key_default(RunnerSpec, "runner.kind"),
    )
    parser.add_argument(
        "--address",
        metavar="URI",
        help="an existing Dask or Ray cluster to use "
        + job_key_default(RunnerSpec, "runner.address", ": start a local one"),
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="threads, or local worker processes "
        + job_key_default(RunnerSpec, "runner.workers", ": 1 thread, or one process per core"),
    )
    return parser


def job_or_quick() -> argparse.ArgumentParser:
    """A job file, or the quick form: an input and its labels on the command line."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("target", help="a job file (.yaml) or, with --labels, the input dataset")
    parser.add_argument(
        "--labels",
        metavar="A,B,...",
        help='comma-separated label names, e.g. "World,Sports" '
        "(default: none: a job file's labels; required without a job file)",
    )
    parser.add_argument(
        "--model",
        help="embedding model of every embedding source: default, a local folder or a hub id "
        + job_key_default(EmbeddingSourceSpec, "sources[].model"),
    )
    parser.add_argument(
        "--template",
        help='label prompt template of every embedding source, e.g. "about {description}" '
        + job_key_default(EmbeddingSourceSpec, "sources[].template"),
    )
    return parser
