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
