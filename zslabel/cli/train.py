"""``zslabel train``: fit a student on a labeled output folder's train split, self-train it,
evaluate every round and save it under the folder.
"""

from __future__ import annotations

import argparse
import json

from zslabel.cli.options import Commands, job_key_default
from zslabel.config import StudentSpec


def add_parser(commands: Commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a student model on a labeled output folder and evaluate it",
        description="Fit a student on DIR's train split (logistic regression on frozen sentence "
        "embeddings by default), self-train it for the job's student.rounds, evaluate every round "
        "on the validation split (and against --gold-column), and save it to DIR/student/model "
        "with its figures in DIR/student/metrics.json; with --out FOLDER, the model and its "
        "metrics.json both go to FOLDER and DIR/student/ is left alone.",
    )
    train.add_argument("dir", help="output folder of a job ('zslabel label' or 'run')")
    train.add_argument(
        "--gold-column",
        metavar="NAME",
        help="column of true labels to score against, never trained on (default: none: "
        "estimates without gold)",
    )
    train.add_argument(
        "--kind",
        choices=["logistic", "finetune", "setfit"],
        help="student kind " + job_key_default(StudentSpec, "student.kind"),
    )
    train.add_argument(
        "--rounds",
        type=int,
        metavar="N",
        help="self-training rounds after the first fit "
        + job_key_default(StudentSpec, "student.rounds"),
    )
    train.add_argument(
        "--model",
        help="embedding / base model: default, a folder or a hub id (default: the job's "
        "student.model, else its first embedding source's model, else default)",
    )
    train.add_argument(
        "--out",
        metavar="FOLDER",
        help="folder to save the student model in, with its metrics.json inside it "
        "(default: DIR/student/model, with the metrics in DIR/student/metrics.json)",
    )
    train.add_argument("--json", action="store_true", help="print the metrics as JSON")
    train.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.student import job_student_spec, train
    from zslabel.student.train import format_metrics

    flags = {"kind": args.kind, "rounds": args.rounds, "model": args.model}
    spec = job_student_spec(args.dir, {k: v for k, v in flags.items() if v is not None})
    result = train(args.dir, spec, gold_column=args.gold_column, model_dir=args.out)
    print(json.dumps(result.metrics, indent=2) if args.json else format_metrics(result))
    return 0
