"""``zslabel import-reviews``: store the human labels of Label Studio or Argilla exports in a
job's work folder for its next run, and say what matched, what did not and why.

The job is found from its file (``--job``) or from its output folder's manifest (``--out``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from zslabel.cli.options import Commands
from zslabel.errors import InputError

if TYPE_CHECKING:
    from zslabel.review.summary import ImportSummary


def add_parser(commands: Commands) -> None:
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
    reviews.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.review.importing import import_reviews

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
