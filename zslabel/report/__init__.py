"""The HTML report of an output folder, and the documents a labeling run writes beside its data.

:func:`write_report` (re)renders ``report.html`` of a finished output folder, optionally against
a gold column and with the student's rounds; :func:`stage_documents` is what a labeling run
calls to write the report, the dataset card and the review files into its staging folder, so
that they are committed atomically with the data they describe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zslabel.errors import InputError, OutputError
from zslabel.export import MANIFEST, file_sha256
from zslabel.report.class_rows import pick_class_rows
from zslabel.report.page import render
from zslabel.report.stats import collect
from zslabel.version_index import version_hint

__all__ = ["CARD", "REPORT", "STUDENT_METRICS", "render_report", "stage_documents", "write_report"]

REPORT = "report.html"
CARD = "README.md"
LABELED = "labeled.parquet"  # zslabel.runner.LABELED; not imported, the runner imports this
STUDENT_METRICS = Path("student") / "metrics.json"


def render_report(
    folder: Path,
    manifest: Mapping[str, Any],
    gold_column: str | None = None,
    student: Mapping[str, Any] | None = None,
) -> str:
    """The report of the rows in ``folder/labeled.parquet`` described by ``manifest``."""
    manifest = normalized(manifest)
    names = [label["name"] for label in manifest["labels"]]
    stats = collect(folder / LABELED, names, gold_column)
    source = manifest["config"]["input"]
    examples = pick_class_rows(
        folder / LABELED, names, source.get("text_column"), source.get("id_column")
    )
    title = f"zslabel report: {Path(str(manifest['config']['output']['dir'])).name}"
    return render(manifest, stats, gold_column, student, title, examples)


def stage_documents(folder: Path, manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Write the review files, ``report.html`` and ``README.md`` into ``folder`` (a staging
    folder holding the run's data files); return their entries for the manifest's ``files``.

    The student's rounds are left out: a labeling run replaces the rows a student was trained on,
    so earlier metrics no longer describe them (``zslabel report`` adds current ones).
    """
    from zslabel.card import render_card
    from zslabel.review import write_review_files

    entries = write_review_files(folder, manifest)
    described = {**manifest, "files": {**manifest["files"], **entries}}
    for name, text in (
        (REPORT, render_report(folder, described)),
        (CARD, render_card(normalized(described))),
    ):
        path = folder / name
        path.write_text(text, encoding="utf-8", newline="\n")
        entries[name] = {"sha256": file_sha256(path)}
    return entries


def normalized(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest as ``manifest.json`` stores it (keys sorted, values JSON): a document
    rendered during the run and one rendered later from the file come out the same."""
    loaded: dict[str, Any] = json.loads(json.dumps(manifest, sort_keys=True, default=str))
    return loaded


def write_report(output_dir: str | Path, gold_column: str | None = None) -> Path:
    """Render ``report.html`` of a finished output folder again and return its path.

    With ``gold_column`` (a column of true labels that passed through labeling) the report adds
    accuracy, the coverage-accuracy curve, the confusion matrix and a reliability diagram on the
    labeled rows; ``student/metrics.json``, when present, adds the student's rounds. The
    manifest's entry for the report is updated to the new file's hash.
    """
    folder = Path(output_dir)
    manifest = _read_json(folder / MANIFEST, "manifest")
    student_path = folder / STUDENT_METRICS
    student = _read_json(student_path, "student metrics") if student_path.is_file() else None
    text = render_report(folder, manifest, gold_column, student)
    path = folder / REPORT
    _replace_text(path, text)
    files = manifest.get("files")
    if isinstance(files, dict) and REPORT in files:
        files[REPORT] = {"sha256": file_sha256(path)}
        # The same layout as StagedOutput.write_json, so that an unchanged report leaves the
        # manifest's bytes unchanged too.
        dumped = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        _replace_text(folder / MANIFEST, dumped + "\n")
    return path


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = version_hint(path.parent, "report on")
        raise InputError(hint or f"{path}: not found; is this a zslabel output folder?") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc})") from None
    if not isinstance(payload, dict):
        raise InputError(f"{path}: expected a JSON object in the {what}")
    return payload


def _replace_text(path: Path, text: str) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8", newline="\n")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc})") from None
