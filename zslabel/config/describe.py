"""Validation errors as one line a person can act on: each names its key
(``selection.min_confidence``, ``labels[2].examples[0]``), and, for a job file, its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from zslabel.config.labels import LabelError
from zslabel.config.sources import SOURCE_KINDS
from zslabel.jobyaml import line_of


def describe_validation_error(exc: ValidationError, origin: str, root: yaml.Node | None) -> str:
    parts = []
    for error in exc.errors():
        path = yaml_path(error)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        line = line_of(root, path) if root is not None else None
        where = f", line {line}" if line else ""
        key = _dotted(path)
        # Whole-job checks name their keys in the message itself.
        parts.append(f"{key}{where}: {message}" if key else message)
    return f"{origin}: " + "; ".join(parts)


def yaml_path(error: Any) -> list[Any]:
    """Where in the job file an error is: pydantic's location less the source kind it adds for
    the discriminated union, plus the label or item a labels check names."""
    loc = list(error["loc"])
    if len(loc) > 2 and loc[0] == "sources" and isinstance(loc[1], int) and loc[2] in SOURCE_KINDS:
        del loc[2]
    loc = [part for part in loc if part != "[key]"]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, LabelError):
        loc += list(cause.at)
    return loc


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
