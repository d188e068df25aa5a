"""How human-readable outputs (the run summary, the report, the dataset card) name a run's input,
from the manifest alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def input_named(record: Mapping[str, Any]) -> str:
    """How summaries name a run's input (a manifest's ``input`` record): its path, and for a run
    over some of its files, which (``inbox (week05.parquet)``; three named, then a count)."""
    path = str(record["path"])
    files = record.get("files")
    if not files:
        return path
    names = [_relative(str(f), path) for f in files]
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{path} ({listed})"


def _relative(file: str, root: str) -> str:
    prefix = root.rstrip("/") + "/"
    return file[len(prefix) :] if file.startswith(prefix) else file
