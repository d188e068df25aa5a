"""Reading a job file: YAML 1.2 with names kept as typed, paths made relative to the file, the
CLI's overrides merged in, and errors that name the file, the key and the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from zslabel.config.describe import describe_validation_error, yaml_path
from zslabel.config.job import JobConfig
from zslabel.config.review import with_review_store
from zslabel.errors import ConfigError
from zslabel.jobyaml import construct, load_yaml_nodes, retype_as_typed


def load_job(
    path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    flags: Mapping[str, str] | None = None,
) -> JobConfig:
    """Load and validate a YAML job file; relative paths in it are relative to the file.

    The file is read as YAML 1.2 with names kept as typed (:mod:`zslabel.jobyaml`): ``labels:
    [yes, no]`` names the labels ``yes`` and ``no``. ``overrides`` is a nested dict merged over
    the file before validation (the CLI's flags); ``flags`` maps each dotted key the overrides
    set to the flag as typed (``selection.min_margin`` -> ``--min-margin 2``), so that a bad
    value there is blamed on the flag rather than on the file's line for that key. Raises
    ConfigError naming the file, the key path and its line, or the flag.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: job file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read job file ({exc})") from None
    try:
        root = load_yaml_nodes(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: YAML syntax error: {problem}") from None
    # A text setting given something that reads as a number (text_column: 2024) is read again
    # as typed; each pass fixes every such value pydantic reported, nested unions need a few.
    for _ in range(_RETYPE_PASSES):
        raw = construct(root)
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of job settings at the top level")
        resolved = with_review_store(_resolve_paths(raw, path.parent.resolve()), path)
        merged = deep_merge(resolved, overrides or {})
        try:
            return JobConfig.model_validate(merged)
        except ValidationError as exc:
            error = exc
            retyped = [
                retype_as_typed(root, yaml_path(e), e.get("input"))
                for e in exc.errors()
                if e["type"] == "string_type"
            ]
            if not any(retyped):
                break
    raise ConfigError(describe_validation_error(error, str(path), root, flags)) from None


# Passes of reading text settings as typed: one per level of nesting that can hide an error.
_RETYPE_PASSES = 4


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the file's relative paths absolute, from the job file's folder (not the caller's
    cwd): the manifest, card and report record them, and ``label`` from any folder and the
    flow (which loads the job by its absolute path) must write the same bytes."""
    resolved = dict(raw)
    sections = (
        ("input", "path"),
        ("output", "dir"),
        ("output", "work_dir"),
        ("output", "cache_dir"),
        ("review", "store"),
        ("calibration", "gold"),
    )
    for section, key in sections:
        block = resolved.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            value = block[key]
            if "://" not in value and not Path(value).is_absolute():
                resolved[section] = {**block, key: str(base / value)}
    return resolved


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
