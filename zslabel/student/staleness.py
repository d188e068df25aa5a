"""Whether a saved student's training labels are still its output folder's labels.

``zslabel train`` records the sha256 of the folder's ``labeled.parquet`` (its manifest's
``files`` entry); a later run into the folder (new reviews, other settings) writes another. A new
user's trial predicted with a student trained before 33 reviews relabeled the folder, without a
word: ``StudentModel.load`` now warns, in the CLI and in Python alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zslabel.export import MANIFEST
from zslabel.pipeline.write import LABELED


def staleness(training: dict[str, Any]) -> str | None:
    """Why the labels a student was trained on (its ``student.json`` ``training`` record) are
    no longer its output folder's, or None. None as well when the folder or its manifest is
    gone, or the student predates the record: nothing to compare. Never raises."""
    trained_on = training.get("labeled_file_sha256")
    folder = training.get("output_dir")
    if not trained_on or not folder:
        return None
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
        now = manifest["files"][LABELED]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if now == trained_on:
        return None
    return (
        f"the labels of {folder} changed since this student was trained on them (a later run: "
        f"reviews, settings); train it again: zslabel train {folder}"
    )
