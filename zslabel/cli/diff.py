"""``zslabel diff A B``: how output folder B drifted from A, one screen; exit 1 on drift.

Thresholds are B's job's ``drift`` section (from its manifest), else the defaults; each flag
overrides one. Exit codes: 0 within every threshold, 1 when one is crossed (for CI-style data
checks), 2 when a folder is not a zslabel output (the command layer maps InputError to 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from zslabel.cli.options import Commands, job_default
from zslabel.config import DriftSpec
from zslabel.errors import ConfigError

# DriftSpec's numeric thresholds, each a --flag with dashes.
THRESHOLDS = tuple(name for name in DriftSpec.model_fields if name != "on_drift")
EXIT_DRIFT = 1
# What each threshold measures, for --help (docs/drift.md, "Thresholds").
MEANINGS = {
    "psi": "class-mix shift (population stability index) that counts as drift",
    "abstain_rate_change": "change of the abstained share, either way, that counts as drift",
    "invalid_rate_change": "change of the invalid share (empty, unreadable texts), either way",
    "duplicate_rate_change": "change of the share of duplicate texts, either way",
    "confidence_ks": "Kolmogorov-Smirnov D between the two confidence distributions",
    "margin_ks": "Kolmogorov-Smirnov D between the two margin distributions",
    "length_ks": "Kolmogorov-Smirnov D between the two text-length distributions",
    "ks_p_value": "p-value a Kolmogorov-Smirnov D must also fall below to count",
    "centroid_distance": "cosine distance between a class's embedding centroids",
    "centroid_min_rows": "rows a class needs in both folders for its centroid to count",
    "chi2_p_value": "chi-square p-value of the class counts below which the mix drifted",
}


def add_parser(commands: Commands) -> None:
    diff = commands.add_parser(
        "diff",
        help="compare two output folders (drift of B from A); exit 1 when a threshold is crossed",
        description="Compare output folder B with A: class mix (PSI, chi-square), confidence, "
        "margin and text length (Kolmogorov-Smirnov), abstain, invalid and duplicate rates, "
        "class centroids, and new terms among abstained rows. Thresholds: B's job's drift "
        "section, else the defaults; the flags override them. Exit 0: within every "
        "threshold; 1: a threshold crossed; 2: not an output folder.",
    )
    diff.add_argument("baseline", metavar="A", help="the earlier output folder (the baseline)")
    diff.add_argument("current", metavar="B", help="the later output folder")
    for name in THRESHOLDS:
        diff.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=int if name == "centroid_min_rows" else float,
            metavar="N" if name == "centroid_min_rows" else "X",
            help=f"{MEANINGS[name]} (default: the job's drift.{name}, "
            f"{job_default(DriftSpec, name)})",
        )
    diff.add_argument("--json", action="store_true", help="print the drift.json payload")
    diff.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from zslabel.drift import compare

    spec = _spec(Path(args.current), args)
    report = compare(args.baseline, args.current, spec)
    print(report.to_json() if args.json else report.to_text(), end="")
    return EXIT_DRIFT if report.drifted else 0


def _spec(current: Path, args: argparse.Namespace) -> DriftSpec:
    """B's job's drift thresholds with the flags' overrides; ConfigError for a bad value."""
    recorded: dict[str, Any] = {}
    try:
        manifest = json.loads((current / "manifest.json").read_text(encoding="utf-8"))
        section = manifest["config"]["drift"]
        if isinstance(section, dict):
            recorded = section
    except (OSError, ValueError, KeyError, TypeError):
        pass  # an older output, or no output at all: compare() names what is missing
    flags = {name: getattr(args, name) for name in THRESHOLDS if getattr(args, name) is not None}
    try:
        return DriftSpec.model_validate({**recorded, **flags})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"zslabel diff: {problems}") from None
