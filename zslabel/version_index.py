"""An incremental job's version index, ``versions.json`` in its output root: reading it, and the
error for a command given that root where it needs one version folder.

Light on purpose (no pipeline imports): the report, drift, evaluation and the student read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zslabel.errors import OutputError

INDEX = "versions.json"


def version_hint(folder: Path, use: str) -> str | None:
    """For a command given an incremental job's output root instead of a version folder: the
    error that says so and names the latest version (``use``: what to do with it, e.g.
    ``"train on"``); None when ``folder`` has no version index."""
    if not (folder / INDEX).is_file():
        return None
    try:
        latest = read_index(folder).get("latest")
    except OutputError:
        latest = None
    example = f", e.g. {folder / latest} (the latest)" if latest else ""
    return f"{folder}: an incremental output folder ({INDEX}); {use} one of its versions{example}"


# A run's manifest (zslabel.export.MANIFEST; not imported: this module stays light).
_MANIFEST = "manifest.json"


def check_not_mixed(root: Path, *, incremental: bool) -> None:
    """Refuse to mix a job that is not incremental and an incremental one in one output folder.

    Each would leave the other's outputs in place: an incremental job's versions beside an
    earlier run's ``labeled.parquet`` and splits (which ``eval``, ``train``, ``import-reviews``
    and ``datasets.load_dataset`` then read, though they are stale: a new user's trial), or a
    run's outputs beside the versions. Raises OutputError naming the folder and the fix."""
    if incremental and (root / _MANIFEST).is_file():
        raise OutputError(
            f"{root}: holds the outputs of a run that was not incremental ({_MANIFEST}, "
            "labeled.parquet, the splits); an incremental job would write its versions "
            "(v0001, ...) beside them, and eval, train, import-reviews and "
            "datasets.load_dataset would go on reading the old files: give the incremental job "
            "a new output.dir, or move the old outputs out of this folder"
        )
    if not incremental and (root / INDEX).is_file():
        raise OutputError(
            f"{root}: an incremental job's output folder ({INDEX}); a run that is not "
            "incremental would write its outputs beside the versions: set incremental: true "
            "in the job, or give it another output.dir (--out)"
        )


def read_index(root: Path) -> dict[str, Any]:
    path = root / INDEX
    try:
        index: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"versions": [], "latest": None}
    except ValueError as exc:
        raise OutputError(f"{path}: the version index is not valid JSON ({exc})") from None
    return index


def current_versions(index: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The versions of ``index`` (:func:`read_index`) whose rows are current, in version order,
    and of those, the ones a later version relabeled part of.

    A version's file is superseded when a later version labeled the same path again: a settings
    change relabels every file still in the input, and a file rewritten in place is labeled
    anew. A version whose every file is superseded is not current: gathering it too would give
    every relabeled row twice, once under the old settings. A version from before versions
    named their files counts as current."""
    versions: list[dict[str, Any]] = list(index.get("versions", []))
    last_labeled = {path: entry["dir"] for entry in versions for path in entry.get("files") or {}}

    def current(entry: dict[str, Any]) -> list[bool]:
        return [last_labeled[path] == entry["dir"] for path in entry.get("files") or {}]

    kept = [entry for entry in versions if not current(entry) or any(current(entry))]
    partly = [entry for entry in kept if not all(current(entry))]
    return kept, partly
