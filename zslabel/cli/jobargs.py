"""From a command line to a validated job: the job file or the quick form (an input and
``--labels``), the flags merged over it, ``--model``/``--template`` applied to the embedding
sources, and ``--dry-run``'s model-free variant.

Shared by ``label``, ``check``, ``run`` and ``serve``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from zslabel.config import FakeSourceSpec, JobConfig, deep_merge, load_job
from zslabel.config.describe import describe_validation_error
from zslabel.errors import ConfigError

JOB_SUFFIXES = (".yaml", ".yml")


def job_from_args(args: argparse.Namespace, out_required: bool = True) -> JobConfig:
    """The job a ``label`` or ``check`` command line names: a job file, or the quick form."""
    overrides, flags = job_overrides(args), override_flags(args)
    if Path(args.target).suffix.lower() in JOB_SUFFIXES:
        if args.labels:
            raise ConfigError(
                f"{args.target}: --labels applies without a job file; edit its labels"
            )
        config = load_job(args.target, overrides, flags=flags)
    else:
        if not args.labels:
            raise ConfigError(
                f"{args.target}: give a job file (.yaml), or the labels with --labels "
                '"a,b,c" to label this input directly'
            )
        if not args.out and out_required:
            raise ConfigError("--out is required when labeling without a job file")
        quick = {"input": {"path": _absolute(args.target)}, "labels": args.labels.split(",")}
        flags = {"input.path": args.target, "labels": f"--labels {_shown(args.labels)}", **flags}
        if not args.out:  # zslabel check writes nothing: a folder that is never made
            quick["output"] = {"dir": f"{tempfile.gettempdir()}/zslabel-check-{os.getpid()}"}
        config = _validated(deep_merge(quick, overrides), flags)
    config = with_source_overrides(config, model=args.model, template=args.template)
    if args.dry_run:
        config = dry_run(config, output_dir=f"{config.output.dir}-dry-run")
    return config


def with_source_overrides(config: JobConfig, **settings: str | None) -> JobConfig:
    """Apply --model / --template to every embedding source, validated like the job file."""
    given = {k: v for k, v in settings.items() if v is not None}
    if not given:
        return config
    if not any(source.kind == "embedding" for source in config.sources):
        named = ", ".join(f"--{k}" for k in given)
        raise ConfigError(f"{named}: the job has no embedding source to apply it to")
    raw = config.model_dump()
    raw["sources"] = [
        {**source, **given} if source["kind"] == "embedding" else source
        for source in raw["sources"]
    ]
    flags = {
        f"sources[{i}].{key}": f"--{key} {_shown(value)}"
        for i, source in enumerate(raw["sources"])
        if source["kind"] == "embedding"
        for key, value in given.items()
    }
    return _validated(raw, flags)


def _validated(raw: dict[str, Any], flags: dict[str, str]) -> JobConfig:
    """A job built on the command line; errors name the flag that set the bad value."""
    try:
        return JobConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "command line", None, flags)) from None


def dry_run(config: JobConfig, output_dir: str) -> JobConfig:
    """The same job with the model-free fake source, written to ``output_dir``."""
    return config.model_copy(
        update={
            "sources": (FakeSourceSpec(name="fake"),),
            "output": config.output.model_copy(update={"dir": output_dir}),
        }
    )


def load_checked(args: argparse.Namespace) -> JobConfig:
    """Validate the job before Prefect starts, so that mistakes fail in one line and fast."""
    job = getattr(args, "job", None) or args.target  # serve names it job; run, label target
    return load_job(job, job_overrides(args), flags=override_flags(args))


def job_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The job keys the flags set, as a nested dict to merge over the job file."""
    overrides: dict[str, Any] = {}
    for (section, key), (_, value) in _flag_values(args).items():
        if section:
            overrides.setdefault(section, {})[key] = value
        else:
            overrides[key] = value
    return overrides


def override_flags(args: argparse.Namespace) -> dict[str, str]:
    """Which flag set each overridden job key, as validation errors name it: dotted key ->
    ``--flag value`` (``selection.per_class_top_fraction`` -> ``--per-class-top-fraction
    1.5``), so that a bad value is blamed on the flag, not on the job file's line."""
    flags = {}
    for (section, key), (flag, value) in _flag_values(args).items():
        typed = getattr(args, _dest(flag))
        shown = "" if value is True else f" {_shown(typed)}"
        flags[f"{section}.{key}" if section else key] = f"{flag}{shown}"
    return flags


def _shown(value: Any) -> str:
    """A flag's value as it was likely typed: ``-1`` rather than ``-1.0``, quoted if needed."""
    return f"{value:g}" if isinstance(value, float) else shlex.quote(str(value))


# Flag -> (section, key) of the job it overrides; a section of "" is a top-level key.
_JOB_FLAGS = (
    ("--input", "input", "path"),
    ("--text-column", "input", "text_column"),
    ("--id-column", "input", "id_column"),
    ("--out", "output", "dir"),
    ("--format", "output", "format"),
    ("--seed", "output", "seed"),
    ("--min-confidence", "selection", "min_confidence"),
    ("--per-class-top-fraction", "selection", "per_class_top_fraction"),
    ("--min-above-chance", "selection", "min_above_chance"),
    ("--min-margin", "selection", "min_margin"),
    ("--threshold", "selection", "threshold"),
    ("--review-limit", "review", "limit"),
    ("--runner", "runner", "kind"),
    ("--address", "runner", "address"),
    ("--workers", "runner", "workers"),
    ("--multi-label", "", "multi_label"),
)
_PATH_FLAGS = ("--input", "--out")


def _flag_values(args: argparse.Namespace) -> dict[tuple[str, str], tuple[str, Any]]:
    """(section, key) -> (flag, value) for each job flag given; a command without a flag
    (``serve`` has no runner flags of its own) simply has none of it."""
    given = {}
    for flag, section, key in _JOB_FLAGS:
        value = getattr(args, _dest(flag), None)
        if value is None or (flag == "--multi-label" and not value):
            continue
        given[section, key] = (flag, _absolute(value) if flag in _PATH_FLAGS else value)
    return given


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _absolute(path: str | None) -> str | None:
    """A local path from the command line made absolute (a URI as it is), as job files' paths
    are: outputs record it, and must not depend on the folder a command ran from."""
    if path is None or "://" in path or Path(path).is_absolute():
        return path
    return str(Path(path).resolve())
