"""All-rows and accepted accuracy of a job under several refinement settings, on a public set,
an imbalanced variant of it, or one of bench/bootstrap.py's parts.

    python bench/refine_guards.py ../shared/datasets/banking77.parquet \
        --job bench/jobs/banking77.yaml --gold-column label [--zipf 4 | --class-shares ...] \
        [--part all|pool|evaluation] [--absent gardening] \
        [--setting NAME='{"min_rows": 1, "stray_mads": 4.0}' ...]

``--part evaluation`` labels bench/bootstrap.py's evaluation part alone (20 %, seed 0): the small
jobs where refinement's guards matter (docs/label-quality.md, "Small jobs and labels no text
fits"). ``--absent NAME`` adds a label that no row's gold is; ``absent_accepted`` counts the rows
accepted under it, all wrong. Each setting replaces the ``refine`` key of the job's first source
(``false``: off). Without ``--setting``: the defaults, ``min_rows: 2`` without the stray guard
(the earlier default) and refinement off.

Prints one JSON object: per setting, all-rows accuracy (every row at its top label), accepted
accuracy and coverage, the expected calibration error of the top label's confidence (``ece``, 10
equal-width bins, all rows), how many rows have a confidence of at least 0.999, and how many
labels the stray guard kept at their prompts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

# Run as a script, bench/ is on the path: the subsampling and splits of bench/bootstrap.py.
from bootstrap import evaluation_rows, subsample_rows, teacher_probs, zipf_shares

from zslabel.calibration import expected_calibration_error
from zslabel.config import load_job
from zslabel.runner import LABELED, run_job

DEFAULT_SETTINGS: dict[str, Any] = {
    "default": {},
    "min_rows 2, no stray guard": {"min_rows": 2, "stray_mads": None},
    "off": False,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--gold-column", default="label")
    parser.add_argument("--zipf", type=float, metavar="RATIO")
    parser.add_argument("--class-shares", metavar="LABEL=SHARE,...")
    parser.add_argument("--part", choices=["all", "pool", "evaluation"], default="all")
    parser.add_argument("--absent", metavar="LABEL", help="add a label no row's gold is")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="a refine setting to measure (JSON object, or false); repeatable",
    )
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    table = pq.read_table(args.dataset)
    names = list(load_job(args.job).label_names)
    gold_values = table.column(args.gold_column).to_pylist()
    shares = None
    if args.zipf is not None:
        shares = zipf_shares(names, args.zipf)
    elif args.class_shares is not None:
        shares = {
            name.strip(): float(share)
            for name, _, share in (p.rpartition("=") for p in args.class_shares.split(","))
        }
    if shares is not None:
        table = table.filter(pa.array(subsample_rows(gold_values, 0, shares=shares)))
    if args.part != "all":
        held = evaluation_rows(table.column(args.gold_column).to_pylist(), 0.2, 0)
        table = table.filter(pa.array(held if args.part == "evaluation" else ~held))
    gold = np.asarray([names.index(str(g)) for g in table.column(args.gold_column).to_pylist()])
    settings = dict(DEFAULT_SETTINGS)
    if args.setting:
        settings = {}
        for item in args.setting:
            name, _, value = item.partition("=")
            settings[name] = json.loads(value)
    scored_names = [*names, args.absent] if args.absent else names
    result: dict[str, Any] = {
        "dataset": str(args.dataset),
        "part": args.part,
        "rows": table.num_rows,
        "settings": {},
    }
    with tempfile.TemporaryDirectory(prefix="zsguards-") as tmp:
        path = Path(tmp) / "input.parquet"
        pq.write_table(table.drop_columns([args.gold_column]), path)
        for name, refine in settings.items():
            raw = yaml.safe_load(args.job.read_text(encoding="utf-8"))
            raw["sources"][0]["refine"] = refine
            raw["input"]["path"] = str(path)
            raw["output"] = {"dir": str(Path(tmp) / f"out-{len(result['settings'])}")}
            if args.absent:
                if isinstance(raw["labels"], list):
                    raw["labels"].append(args.absent)
                else:
                    raw["labels"][args.absent] = args.absent
            job = Path(tmp) / "job.yaml"
            job.write_text(yaml.safe_dump(raw), encoding="utf-8")
            run = run_job(load_job(job))
            probs = teacher_probs(run.output_dir, scored_names)
            top = probs.argmax(axis=1)
            status = pq.read_table(run.output_dir / LABELED, columns=["zs_status"]).column(0)
            accepted = np.asarray(status.to_pylist()) == "accepted"
            records = (run.manifest.get("refinement") or {}).values()
            result["settings"][name] = {
                "refine": refine,
                "all_rows_accuracy": round(float(np.mean(top == gold)), 4),
                "accepted_accuracy": round(float(np.mean(top[accepted] == gold[accepted])), 4)
                if accepted.any()
                else None,
                "coverage": round(float(accepted.mean()), 4),
                "ece": round(expected_calibration_error(probs.max(axis=1), top == gold), 4),
                "at_least_0.999": int(np.count_nonzero(probs.max(axis=1) >= 0.999)),
                "stray_labels": sum(
                    1
                    for record in records
                    for label in record.get("labels", {}).values()
                    if label.get("kept_prompts") == "stray"
                ),
                "absent_accepted": int(((top == len(names)) & accepted).sum()),
            }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    print(json.dumps(measure(parse_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
