"""``zslabel import-reviews``: store the human labels of Label Studio or Argilla exports in a
job's review store for its next runs, and say what matched, what did not and why.

The job's store is named by its file (``--job``: ``review.store``, by default beside the job
file) or by an output folder's manifest (``--out``); the exported keys are checked against the
rows of ``--out`` (else the job's output folder). An output written without a job file (the
quick form), or by an older zslabel, keeps its reviews in its work folder as before.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from zslabel.cli.options import Commands
from zslabel.errors import InputError

if TYPE_CHECKING:
    from zslabel.review.summary import ImportSummary


class Target(NamedTuple):
    """Where an import goes: the job's labels, its store, the output whose rows the keys are
    checked against, that output's old-place store, and a note for the user (or None)."""

    labels: list[str]
    store: Path
    output_dir: Path
    old_place: Path | None
    note: str | None


def add_parser(commands: Commands) -> None:
    reviews = commands.add_parser(
        "import-reviews",
        help="store human labels from Label Studio or Argilla exports for the next run",
        description="Read Label Studio JSON exports or Argilla JSON/JSONL exports of the review "
        "files a run wrote (review.label_studio.json, review.argilla.jsonl), check each key "
        "against the rows of an output folder of the job, and store the labels of the reviews "
        "that name exactly one row in the job's review store (review.store; by default "
        "<job>.reviews.parquet beside the job file), which every output of the job reads: its "
        "next runs accept those rows with the human label. It prints how many reviews matched, "
        "how many did not (not stored, with the keys and why) and how many records repeat a "
        "key.",
    )
    reviews.add_argument("files", nargs="+", help="exported review file(s)")
    reviews.add_argument(
        "--job",
        help="the job file (.yaml) whose reviews these are: they go to its store (default: "
        "none; then --out's manifest names the store)",
    )
    reviews.add_argument(
        "--out",
        help="the output folder the review files were exported from (default: the job's "
        "output.dir with --job); alone, the job's store is read from its manifest",
    )
    reviews.add_argument(
        "--skip-invalid",
        action="store_true",
        help="store the valid records and list the invalid ones (a label that is not the "
        "job's, several choices in one annotation, no row key) instead of importing nothing",
    )
    reviews.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.review.importing import import_reviews
    from zslabel.review.store import move_store

    if not args.job and not args.out:
        raise InputError("import-reviews: give the job file with --job (or an output with --out)")
    target = _review_target(args)
    moved = None
    if target.old_place is not None and target.old_place.is_file() and not target.store.exists():
        moved = move_store(target.old_place, target.store)
    summary = import_reviews(
        args.files,
        target.store,
        target.labels,
        output_dir=target.output_dir,
        skip_invalid=args.skip_invalid,
    )
    if moved is not None:
        print(f"Moved {moved:,} earlier review(s) from the old place {target.old_place} to the "
              f"job's store {target.store}.")  # fmt: skip
    print(_import_report(summary))
    if target.note:
        print(target.note)
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
    if summary.case_folded:
        folded = ", ".join(f"{pair} {n:,}" for pair, n in sorted(summary.case_folded.items()))
        lines.append(f"  read in the job's letter case: {folded}")
    for problem in summary.invalid[:10]:
        lines.append(f"  not stored (invalid): {problem}")
    if len(summary.invalid) > 10:
        lines.append(f"  not stored (invalid): {len(summary.invalid) - 10:,} more")
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


def _review_target(args: argparse.Namespace) -> Target:
    """The job's labels and store, the output folder to check keys against, from --job (and
    --out) or from --out's manifest."""
    from zslabel.config.io import work_folder

    if args.job:
        from zslabel.config import load_job
        from zslabel.config.review import job_review_store

        config = load_job(args.job)
        # A job file that names no store keeps it beside itself (load_job fills it in too).
        store = Path(config.review.store or job_review_store(args.job)).expanduser()
        if args.out is None:
            output_dir = Path(config.output.dir).expanduser()
            return Target(
                list(config.label_names), store, output_dir, work_folder(config.output) / _OLD, None
            )
        output_dir = Path(args.out)
        manifest = _read_manifest(output_dir)
        _check_same_labels(manifest, list(config.label_names), output_dir, args.job)
        return Target(
            list(config.label_names), store, output_dir, _old_place(manifest, output_dir), None
        )
    output_dir = Path(args.out)
    manifest = _read_manifest(output_dir)
    labels, review = manifest.labels, manifest.review
    old = _old_place(manifest, output_dir)
    if isinstance(review, dict) and review.get("store"):
        return Target(labels, Path(review["store"]), output_dir, old, None)
    note = None
    if review is None:  # a manifest from before jobs kept their reviews
        note = (
            f"note: the manifest of {output_dir} names no review store (an older zslabel wrote "
            f"it), so the reviews stay in {old}, read only by runs into {output_dir}; import "
            "with --job JOB_FILE to keep them with the job, for every output of it"
        )
    return Target(labels, old, output_dir, None, note)


_OLD = "reviews.parquet"


class Written(NamedTuple):
    """What an output's manifest says about its job: labels, review section, work folder."""

    labels: list[str]
    review: Any  # the job's review section; None in manifests of older versions
    work_dir: str | None


def _read_manifest(output_dir: Path) -> Written:
    path = output_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        return Written(
            [label["name"] for label in manifest["labels"]],
            manifest["config"].get("review"),
            manifest["config"]["output"].get("work_dir"),
        )
    except FileNotFoundError:
        raise InputError(f"{path}: not found; give the job with --job instead") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a zslabel manifest ({exc})") from None


def _old_place(written: Written, output_dir: Path) -> Path:
    """The output's work-folder store, where reviews were kept before jobs kept their own."""
    work = Path(written.work_dir).expanduser() if written.work_dir else output_dir / ".zslabel"
    return work / _OLD


def _check_same_labels(written: Written, labels: list[str], output_dir: Path, job: str) -> None:
    if written.labels != labels:
        raise InputError(
            f"{output_dir}: written with labels {written.labels}, but the job {job} has {labels}; "
            "give the output folder of this job with --out"
        )
