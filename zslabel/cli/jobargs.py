"""From a command line to a validated job: the job file or the quick form (an input and
``--labels``), the flags merged over it, ``--model``/``--template`` applied to the embedding
sources, and ``--dry-run``'s model-free variant.

Shared by ``label``, ``check``, ``run`` and ``serve``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from zslabel.config import FakeSourceSpec, JobConfig, deep_merge, load_job
from zslabel.errors import ConfigError

JOB_SUFFIXES = (".yaml", ".yml")


def job_from_args(args: argparse.Namespace, out_required: bool = True) -> JobConfig:
    """The job a ``label`` or ``check`` command line names: a job file, or the quick form."""
    overrides = job_overrides(args)
    if Path(args.target).suffix.lower() in JOB_SUFFIXES:
        if args.labels:
            raise ConfigError(
                f"{args.target}: --labels applies without a job file; edit its labels"
            )
        config = load_job(args.target, overrides)
    else:
        if not args.labels:
            raise ConfigError(
                f"{args.target}: give a job file (.yaml), or the labels with --labels "
                '"a,b,c" to label this input directly'
            )
        if not args.out and out_required:
            raise ConfigError("--out is required when labeling without a job file")
        quick = {"input": {"path": _absolute(args.target)}, "labels": args.labels.split(",")}
        if not args.out:  # zslabel check writes nothing: a folder that is never made
            quick["output"] = {"dir": f"{tempfile.gettempdir()}/zslabel-check-{os.getpid()}"}
        config = JobConfig.from_dict(deep_merge(quick, overrides), origin="command line")
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
        flags = ", ".join(f"--{k}" for k in given)
        raise ConfigError(f"{flags}: the job has no embedding source to apply it to")
    raw = config.model_dump()
    raw["sources"] = [
        {**source, **given} if source["kind"] == "embedding" else source
        for source in raw["sources"]
    ]
    return JobConfig.from_dict(raw, origin="command line")


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
    return load_job(args.job, job_overrides(args))


def job_overrides(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, dict[str, Any]] = {"input": {}, "output": {}, "selection": {}, "runner": {}}
    for value, section, key in (
        (_absolute(args.input), "input", "path"),
        (args.text_column, "input", "text_column"),
        (args.id_column, "input", "id_column"),
        (_absolute(args.out), "output", "dir"),
        (args.format, "output", "format"),
        (args.seed, "output", "seed"),
        (args.min_confidence, "selection", "min_confidence"),
        (args.per_class_top_fraction, "selection", "per_class_top_fraction"),
        (args.min_margin, "selection", "min_margin"),
        (args.threshold, "selection", "threshold"),
        (getattr(args, "runner", None), "runner", "kind"),
        (getattr(args, "address", None), "runner", "address"),
        (getattr(args, "workers", None), "runner", "workers"),
    ):
        if value is not None:
            spec[section][key] = value
    overrides: dict[str, Any] = {k: v for k, v in spec.items() if v}
    if args.multi_label:
        overrides["multi_label"] = True
    return overrides


def _absolute(path: str | None) -> str | None:
    """A local path from the command line made absolute (a URI as it is), as job files' paths
    are: outputs record it, and must not depend on the folder a command ran from."""
    if path is None or "://" in path or Path(path).is_absolute():
        return path
    return str(Path(path).resolve())
