"""``zslabel predict``: label a Parquet input with a student saved by ``zslabel train``,
warning when that student was not adopted over the teacher.
"""

from __future__ import annotations

import argparse
import sys

from zslabel.cli.options import Commands


def add_parser(commands: Commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="label a Parquet input with a trained student",
        description="Apply the student saved in MODEL to INPUT (a Parquet file or folder), "
        "streaming, and write its rows with zs_student_label and zs_student_confidence to OUT.",
    )
    predict.add_argument("model", help="a student folder written by 'zslabel train'")
    predict.add_argument("input", help="Parquet file or folder to label")
    predict.add_argument("--out", required=True, help="output Parquet file")
    predict.add_argument("--text-column", help="text column (default: the one it trained on)")
    predict.add_argument(
        "--embedding-model", help="where the student's embedding model is now (a moved folder)"
    )
    predict.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.student import StudentModel, predict_file

    model = StudentModel.load(args.model, embedding_model=args.embedding_model)
    if model.adopted is False:
        estimate = model.adoption or {}
        print(
            f"warning: {args.model}: this student was not adopted (estimated accuracy "
            f"{estimate.get('student_estimate')} vs teacher {estimate.get('teacher_estimate')}); "
            "the teacher's labels are the better ones",
            file=sys.stderr,
        )
    rows = predict_file(model, args.input, args.out, text_column=args.text_column)
    print(f"Wrote {rows} row(s) to {args.out}")
    return 0
