"""The ``zslabel`` command: a thin layer over the library.

Errors zslabel raises on purpose become one line on stderr and a non-zero exit (2 for bad
configuration or input, 1 otherwise), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zslabel.errors import ConfigError, InputError, ZslabelError
from zslabel.redact import redact
from zslabel.version import __version__

if TYPE_CHECKING:
    from zslabel.review_import import ImportSummary

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
JOB_SUFFIXES = (".yaml", ".yml")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _quiet_libraries()
    try:
        code: int = args.handler(args)
        return code
    except (ConfigError, InputError) as exc:
        print(f"zslabel: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ZslabelError as exc:
        print(f"zslabel: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        # The machine, not the job: a full disk, a permission, a lost mount, met somewhere the
        # library did not wrap. One line still, and redacted: it may quote a storage URI.
        print(f"zslabel: error: {redact(_one_line(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("zslabel: interrupted; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def _one_line(exc: OSError) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zslabel", description="Bootstrap labeled training data from raw Parquet."
    )
    parser.add_argument("--version", action="version", version=f"zslabel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    job_options = argparse.ArgumentParser(add_help=False)
    job_options.add_argument("--input", help="input dataset, overriding the job's input.path")
    job_options.add_argument("--out", help="output folder, overriding output.dir")
    job_options.add_argument("--text-column", help="text column (default: text)")
    job_options.add_argument("--id-column", help="optional unique id column")
    job_options.add_argument("--min-confidence", type=float)
    job_options.add_argument("--per-class-top-fraction", type=float)
    job_options.add_argument("--min-margin", type=float)
    job_options.add_argument(
        "--multi-label",
        action="store_true",
        default=None,
        help="rows may carry any number of labels (independent scores, per-label thresholds)",
    )
    job_options.add_argument(
        "--threshold", type=float, help="multi-label: probability at which a label is assigned"
    )
    job_options.add_argument("--format", choices=["parquet", "jsonl", "csv"])
    job_options.add_argument("--seed", type=int, help="seed of the train/validation/test split")
    runner_options = argparse.ArgumentParser(add_help=False)
    runner_options.add_argument(
        "--runner", choices=["threads", "dask", "ray"], help="where shards are scored"
    )
    runner_options.add_argument("--address", help="an existing Dask or Ray cluster to use")
    runner_options.add_argument("--workers", type=int, help="threads or local worker processes")

    # A job file, or the quick form: an input and its labels on the command line.
    job_or_quick = argparse.ArgumentParser(add_help=False)
    job_or_quick.add_argument(
        "target", help="a job file (.yaml) or, with --labels, the input dataset"
    )
    job_or_quick.add_argument("--labels", help='comma-separated label names, e.g. "World,Sports"')
    job_or_quick.add_argument(
        "--model", help="embedding model: default, a local folder, or a hub id"
    )
    job_or_quick.add_argument(
        "--template", help='label prompt template, e.g. "about {description}"'
    )

    label = commands.add_parser(
        "label",
        parents=[job_options, job_or_quick],
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
    label.set_defaults(handler=_label)

    check = commands.add_parser(
        "check",
        parents=[job_options, job_or_quick],
        help="look before a long run: score a sample and estimate the run (writes nothing)",
        description="Score --sample rows spread over the input of JOB.yaml (or INPUT with "
        "--labels) and print each source's prompts, the most similar labels, labels no row "
        "prefers, the predicted classes and an estimate of the full run's time.",
    )
    check.add_argument("--sample", type=int, default=500, help="rows to score (default: 500)")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.set_defaults(handler=_check, dry_run=False)

    run = commands.add_parser(
        "run",
        parents=[job_options, runner_options],
        help="run the job as the Prefect flow label-dataset (local mode by default)",
        description="Run JOB.yaml through Prefect: resumable, observable, on threads, Dask or Ray. "
        "Without PREFECT_API_URL it runs in Prefect's local mode.",
    )
    run.add_argument("job", help="job file (.yaml)")
    run.add_argument("--json", action="store_true", help="print the manifest counts as JSON")
    run.set_defaults(handler=_run)

    serve = commands.add_parser(
        "serve",
        parents=[job_options, runner_options],
        help="serve the flow for a job on a schedule until stopped",
        description="Serve label-dataset for JOB.yaml on a schedule. Uses PREFECT_API_URL, or "
        "starts a Prefect server on loopback for as long as it serves.",
    )
    serve.add_argument("job", help="job file (.yaml); set incremental: true to label new files")
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='cron schedule, e.g. "0 * * * *" (hourly)')
    when.add_argument("--interval", type=float, help="seconds between runs")
    serve.add_argument("--name", help="deployment name (default: zslabel-JOBNAME)")
    serve.set_defaults(handler=_serve)

    evaluate = commands.add_parser(
        "eval", help="score a labeled output folder against a gold column"
    )
    evaluate.add_argument("dir", help="output folder of a 'zslabel label' run")
    evaluate.add_argument("--gold-column", required=True, help="column holding the true labels")
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(handler=_eval)

    report = commands.add_parser(
        "report",
        help="render report.html of an output folder again, optionally against gold labels",
        description="Render DIR/report.html again: with --gold-column it adds accuracy, the "
        "coverage-accuracy curve, the confusion matrix and a reliability diagram; "
        "DIR/student/metrics.json, when present, adds the student's rounds.",
    )
    report.add_argument("dir", help="output folder of a 'zslabel label' run")
    report.add_argument("--gold-column", help="column holding the true labels")
    report.set_defaults(handler=_report)

    reviews = commands.add_parser(
        "import-reviews",
        help="store human labels from Label Studio or Argilla exports for the next run",
        description="Read Label Studio JSON exports or Argilla JSON/JSONL exports of the review "
        "files a run wrote (review.label_studio.json, review.argilla.jsonl), check each key "
        "against the rows of the job's output folder, and store the labels of the reviews that "
        "name exactly one row in the job's work folder; the next run accepts those rows with "
        "the human label and calibrates on them. It prints how many reviews matched, how many "
        "did not (not stored, with the keys and why) and how many records repeat a key.",
    )
    reviews.add_argument("files", nargs="+", help="exported review file(s)")
    where = reviews.add_mutually_exclusive_group(required=True)
    where.add_argument("--job", help="the job file (.yaml) whose reviews these are")
    where.add_argument("--out", help="or the job's output folder (read from its manifest)")
    reviews.set_defaults(handler=_import_reviews)

    train = commands.add_parser(
        "train",
        help="train a student model on a labeled output folder and evaluate it",
        description="Fit a student on DIR's train split (logistic regression on frozen sentence "
        "embeddings by default), self-train it for the job's student.rounds, evaluate every round "
        "on the validation split (and against --gold-column), and save it to DIR/student/model.",
    )
    train.add_argument("dir", help="output folder of a 'zslabel label' run")
    train.add_argument(
        "--gold-column", help="column of true labels to score against (never trained on)"
    )
    train.add_argument("--kind", choices=["logistic", "finetune"], help="student kind")
    train.add_argument("--rounds", type=int, help="self-training rounds after the first fit")
    train.add_argument("--model", help="embedding / base model: default, a folder or a hub id")
    train.add_argument("--out", help="folder for the saved student (default: DIR/student/model)")
    train.add_argument("--json", action="store_true", help="print the metrics as JSON")
    train.set_defaults(handler=_train)

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
    predict.set_defaults(handler=_predict)

    demo = commands.add_parser(
        "demo", help="generate example support tickets, label them and show the result"
    )
    demo.add_argument(
        "--dir", default="zslabel-demo", help="folder for the demo (default: %(default)s)"
    )
    demo.add_argument("--rows", type=int, default=400)
    demo.add_argument("--dry-run", action="store_true", help="use the fake source (no model)")
    demo.set_defaults(handler=_demo)
    return parser


def _label(args: argparse.Namespace) -> int:
    from zslabel.runner import run_job
    from zslabel.summary import format_run

    config = _job_from_args(args)
    if config.incremental:
        from zslabel.incremental import run_incremental

        outcome = run_incremental(config, progress=not args.no_progress)
        if outcome is None:
            print(f"No new input files: every file is in a version under {config.output.dir}")
            return 0
        increment, result = outcome
        print(f"Version {increment.version}: {len(increment.files)} new file(s)")
    else:
        result = run_job(config, progress=not args.no_progress)
    if args.json:
        print(json.dumps(result.manifest["counts"], indent=2))
    else:
        print(format_run(result))
    return 0


def _check(args: argparse.Namespace) -> int:
    from zslabel.preview import format_preview, preview

    if args.sample < 1:
        raise ConfigError(f"--sample {args.sample}: give at least 1 row")
    found = preview(_job_from_args(args, out_required=False), sample=args.sample)
    print(json.dumps(found.to_dict(), indent=2) if args.json else format_preview(found))
    return 0


def _job_from_args(args: argparse.Namespace, out_required: bool = True) -> Any:
    from zslabel.config import JobConfig, deep_merge, load_job

    overrides = _overrides(args)
    if Path(args.target).suffix.lower() in JOB_SUFFIXES:
        if args.labels:
            raise ConfigError(
                f"{args.target}: --labels applies without a job file; edit its labels"
            )
        config = load_job(args.target, overrides)
    else:
        if not args.labels:
            raise ConfigError(
                f"{args.target}: give a job file (.yaml), or the labels with --labels "
                '"a,b,c" to label this input directly'
            )
        if not args.out and out_required:
            raise ConfigError("--out is required when labeling without a job file")
        quick = {"input": {"path": args.target}, "labels": args.labels.split(",")}
        if not args.out:  # zslabel check writes nothing: a folder that is never made
            quick["output"] = {"dir": f"{tempfile.gettempdir()}/zslabel-check-{os.getpid()}"}
        config = JobConfig.from_dict(deep_merge(quick, overrides), origin="command line")
    config = _with_source_overrides(config, model=args.model, template=args.template)
    if args.dry_run:
        config = _dry_run(config, output_dir=f"{config.output.dir}-dry-run")
    return config


def _with_source_overrides(config: Any, **settings: str | None) -> Any:
    """Apply --model / --template to every embedding source, validated like the job file."""
    from zslabel.config import JobConfig

    given = {k: v for k, v in settings.items() if v is not None}
    if not given:
        return config
    if not any(source.kind == "embedding" for source in config.sources):
        flags = ", ".join(f"--{k}" for k in given)
        raise ConfigError(f"{flags}: the job has no embedding source to apply it to")
    raw = config.model_dump()
    raw["sources"] = [
        {**source, **given} if source["kind"] == "embedding" else source
        for source in raw["sources"]
    ]
    return JobConfig.from_dict(raw, origin="command line")


def _dry_run(config: Any, output_dir: str) -> Any:
    """The same job with the model-free fake source, written to ``output_dir``."""
    from zslabel.config import FakeSourceSpec

    return config.model_copy(
        update={
            "sources": (FakeSourceSpec(name="fake"),),
            "output": config.output.model_copy(update={"dir": output_dir}),
        }
    )


def _run(args: argparse.Namespace) -> int:
    from flows.deployments import run_flow
    from zslabel.summary import format_run

    _load_checked(args)
    outcome = run_flow(args.job, _overrides(args))
    if "manifest" not in outcome:
        print(f"No new input files: every file is in a version under {outcome['output_dir']}")
        return 0
    result = _result_of(outcome)
    if args.json:
        print(json.dumps(result.counts, indent=2))
    else:
        print(format_run(result))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from flows.deployments import serve_job

    _load_checked(args)
    serve_job(args.job, cron=args.cron, interval=args.interval, name=args.name,
              overrides=_overrides(args))  # fmt: skip
    return 0


def _load_checked(args: argparse.Namespace) -> Any:
    """Validate the job before Prefect starts, so that mistakes fail in one line and fast."""
    from zslabel.config import load_job

    return load_job(args.job, _overrides(args))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, dict[str, Any]] = {"input": {}, "output": {}, "selection": {}, "runner": {}}
    for value, section, key in (
        (args.input, "input", "path"),
        (args.text_column, "input", "text_column"),
        (args.id_column, "input", "id_column"),
        (args.out, "output", "dir"),
        (args.format, "output", "format"),
        (args.seed, "output", "seed"),
        (args.min_confidence, "selection", "min_confidence"),
        (args.per_class_top_fraction, "selection", "per_class_top_fraction"),
        (args.min_margin, "selection", "min_margin"),
        (args.threshold, "selection", "threshold"),
        (getattr(args, "runner", None), "runner", "kind"),
        (getattr(args, "address", None), "runner", "address"),
        (getattr(args, "workers", None), "runner", "workers"),
    ):
        if value is not None:
            spec[section][key] = value
    overrides: dict[str, Any] = {k: v for k, v in spec.items() if v}
    if args.multi_label:
        overrides["multi_label"] = True
    return overrides


def _eval(args: argparse.Namespace) -> int:
    from zslabel.evaluate import evaluate
    from zslabel.summary import format_evaluation

    report = evaluate(args.dir, args.gold_column)
    print(json.dumps(report, indent=2) if args.json else format_evaluation(report))
    return 0


def _report(args: argparse.Namespace) -> int:
    from zslabel.report import write_report

    print(f"Wrote {write_report(args.dir, args.gold_column)}")
    return 0


def _import_reviews(args: argparse.Namespace) -> int:
    from zslabel.review_import import import_reviews

    label_names, work_dir, output_dir = _review_target(args)
    summary = import_reviews(args.files, work_dir, label_names, output_dir=output_dir)
    print(_import_report(summary))
    return 0


def _import_report(summary: ImportSummary) -> str:
    """What ``import-reviews`` matched, stored and set apart, and why."""
    checked = [str(path) for path in summary.checked]
    where = ", ".join(checked) if len(checked) <= 2 else f"{checked[0]} and {len(checked) - 1} more"
    skipped = ", ".join(f"{why} {n:,}" for why, n in sorted(summary.skipped.items()))
    lines = [
        f"Reviews: {summary.matched:,} matched, {summary.unmatched_count:,} unmatched, "
        f"{summary.duplicate:,} duplicate (keys checked against the {summary.rows:,} rows of "
        f"{where})",
        f"Stored {summary.stored:,} review(s)"
        + (f" (skipped: {skipped})" if skipped else "")
        + f"; {summary.total:,} in {summary.path}."
        + (" The next run accepts them with their labels." if summary.stored else ""),
    ]
    for why, keys in summary.unmatched.items():
        shown = ", ".join(repr(key) for key in keys[:5])
        more = f" and {len(keys) - 5:,} more" if len(keys) > 5 else ""
        lines.append(f"  not stored: {len(keys):,} review(s): {why}: {shown}{more}")
    if summary.duplicate:
        lines.append(
            f"  duplicate: {summary.duplicate:,} record(s) repeat a key of an earlier record in "
            "the same file: records of one text count as annotations of one row, records of "
            "different texts are not stored"
        )
    if summary.rounded_keys:
        lines.append(
            f"  {summary.rounded_keys:,} unmatched review(s) have a key written as a JSON "
            "number of 2^53 or more, which a browser rounds: review files now write keys as "
            "strings; label the job again and load its new review files into the review tool"
        )
    return "\n".join(lines)


def _review_target(args: argparse.Namespace) -> tuple[list[str], Path, Path]:
    """The job's label names, work folder and output folder, from --job or --out's manifest."""
    if args.job:
        from zslabel.config import load_job

        config = load_job(args.job)
        output_dir = Path(config.output.dir).expanduser()
        work_dir = config.output.work_dir or output_dir / ".zslabel"
        return list(config.label_names), Path(work_dir).expanduser(), output_dir
    manifest_path = Path(args.out) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        labels = [label["name"] for label in manifest["labels"]]
        configured = manifest["config"]["output"].get("work_dir")
    except FileNotFoundError:
        raise InputError(f"{manifest_path}: not found; give the job with --job instead") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{manifest_path}: not a zslabel manifest ({exc})") from None
    work_dir = Path(configured).expanduser() if configured else Path(args.out) / ".zslabel"
    return labels, work_dir, Path(args.out)


def _train(args: argparse.Namespace) -> int:
    from zslabel.student import job_student_spec, train
    from zslabel.student.train import format_metrics

    flags = {"kind": args.kind, "rounds": args.rounds, "model": args.model}
    spec = job_student_spec(args.dir, {k: v for k, v in flags.items() if v is not None})
    result = train(args.dir, spec, gold_column=args.gold_column, model_dir=args.out)
    print(json.dumps(result.metrics, indent=2) if args.json else format_metrics(result))
    return 0


def _predict(args: argparse.Namespace) -> int:
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


def _demo(args: argparse.Namespace) -> int:
    from flows.deployments import run_flow
    from zslabel.demo import write_demo
    from zslabel.evaluate import evaluate
    from zslabel.summary import format_evaluation, format_run

    job_path = write_demo(args.dir, rows=args.rows)
    print(f"Wrote {job_path.parent / 'tickets.parquet'} and {job_path}")
    print("Running the label-dataset flow in Prefect's local mode...\n")
    overrides = {"sources": [{"kind": "fake"}]} if args.dry_run else None
    result = _result_of(run_flow(str(job_path), overrides))
    print(format_run(result))
    print("\nAgainst the generated gold topics (never seen by the labeling):")
    print(format_evaluation(evaluate(result.output_dir, "topic")))
    print(f"\nNext: edit {job_path} and run: zslabel run {job_path}")
    return 0


def _result_of(outcome: dict[str, Any]) -> Any:
    """The flow's plain-value return turned back into a RunResult."""
    from zslabel.runner import RunResult

    return RunResult(Path(outcome["output_dir"]), outcome["manifest"], outcome["run_info"])


def _quiet_libraries() -> None:
    # Model loading prints progress bars and load reports that bury the summary.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
