"""``zslabel predict``: label a Parquet input with a student saved by ``zslabel train``,
abstaining under ``--min-confidence``, and say in one line what the student's confidence means
and whether it was adopted over its teacher (a warning on stderr when it was not).
"""

from __future__ import annotations

import argparse
import sys
import warnings

from zslabel.cli.options import Commands


def add_parser(commands: Commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="label a Parquet input with a trained student",
        description="Apply the student saved in MODEL to INPUT (a Parquet file or folder), "
        "streaming, and write INPUT's rows with zs_student_label, zs_student_confidence and "
        "zs_student_status (accepted; abstained under --min-confidence or in a language the "
        "student's encoder does not read, as its job abstained them; or invalid text) to the "
        "Parquet file OUT. Prints one line on what the student's confidence means (calibrated "
        "or not) and whether it was adopted over its teacher, from its metrics.json.",
    )
    predict.add_argument("model", help="a student folder written by 'zslabel train'")
    predict.add_argument("input", help="Parquet file or folder to label")
    predict.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="Parquet file to write: INPUT's rows with the student's label, confidence and status",
    )
    predict.add_argument(
        "--text-column",
        metavar="NAME",
        help="column of the texts to label (default: the one the student trained on)",
    )
    predict.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        metavar="P",
        help="rows whose student confidence is below P get no label (zs_student_label null, "
        "zs_student_status abstained); the student's confidence is not calibrated unless its "
        "metrics.json says so (default: %(default)s: label every row in a language it reads)",
    )
    predict.add_argument(
        "--embedding-model",
        metavar="PATH",
        help="where the student's embedding model is now, if its folder moved "
        "(default: none: the one recorded in the student)",
    )
    predict.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.errors import ZslabelWarning
    from zslabel.student import StudentModel, predict_file
    from zslabel.student.predict import ABSTAINED, STATUS, advice, student_languages

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ZslabelWarning)
        model = StudentModel.load(args.model, embedding_model=args.embedding_model)
    for warning in caught:
        if issubclass(warning.category, ZslabelWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    line = advice(model, args.model)
    if model.adopted is False:
        print(f"warning: {args.model}: {line}", file=sys.stderr)
    else:
        print(f"advice: {line}")
    rows = predict_file(
        model,
        args.input,
        args.out,
        text_column=args.text_column,
        min_confidence=args.min_confidence,
    )
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    status = pq.read_table(args.out, columns=[STATUS]).column(0)
    count = pc.sum(pc.equal(status, ABSTAINED)).as_py() or 0
    why = [
        *([f"under --min-confidence {args.min_confidence:g}"] if args.min_confidence > 0 else []),
        *(["in languages the student's encoder does not read"] if student_languages(model) else []),
    ]
    abstained = f" ({count} abstained: {' or '.join(why)})" if count else ""
    print(f"Wrote {rows} row(s) to {args.out}{abstained}")
    return 0
