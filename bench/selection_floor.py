"""Measure selection rules (per-class top fraction, confidence floor) against gold labels.

    python bench/selection_floor.py ../shared/datasets/ag_news.parquet \
        --job bench/jobs/ag_news.yaml [--gold-column label] [--work-dir DIR] [--out DIR] \
        [--zipf RATIO ...] [--fraction 0.5 ...] [--chance-multiple 0 1.5 2 ...]

The job labels each variant once, gold column hidden (as bench/quality.py does), with every row
accepted (``per_class_top_fraction: 1.0``, no ``min_confidence``). Each candidate rule is then
applied to the exported per-row probabilities with zslabel's own ``select`` (the floor as
``min_confidence``): selection reads only the probabilities, so a rule accepts the rows it would
have accepted in a run of its own. Variants: ``full`` (every row) and, per ``--zipf RATIO``, the
same seeded imbalanced subsample as bench/bootstrap.py's, labeled in a run of its own (label
refinement reads the whole input, so the subsample's probabilities differ from the full run's).

A candidate is a top fraction (``--fraction``) with a confidence floor (``--rule``): ``none``;
``chance:C``, ``C / k`` for ``k`` labels; ``above:T``, ``T`` of the way from chance ``1 / k`` to
1; ``fixed:F``. Prints, per variant and candidate, accepted accuracy (accepted rows whose label
equals gold), coverage (accepted share of valid rows), accepted rows and the floor; progress
lines (one per variant) go to stderr, the whole report as one JSON object to stdout.
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
from bootstrap import subsample_rows, zipf_shares

from zslabel import columns
from zslabel.config import SelectionSpec, load_job
from zslabel.runner import LABELED, run_job
from zslabel.selection import ACCEPTED, Predictions, select


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dataset", type=Path, help="Parquet file with a text and a gold column")
    parser.add_argument("--job", type=Path, required=True, help="YAML job file")
    parser.add_argument("--gold-column", default="label")
    parser.add_argument("--work-dir", help="feature cache folder (default: the job's)")
    parser.add_argument("--out", help="output folder (default: the job's output.dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --zipf subsample")
    parser.add_argument(
        "--zipf", type=float, nargs="*", default=[], help="imbalanced variants: first/last ratio"
    )
    parser.add_argument("--fraction", type=float, nargs="+", default=[0.5, 0.7, 1.0])
    parser.add_argument(
        "--rule",
        nargs="+",
        default=["none", "chance:1.5", "chance:2", "chance:3", "above:0.2", "above:0.3"],
        help="floor rules: none, chance:C (C / k), above:T (1/k + T (1 - 1/k)), fixed:F",
    )
    return parser.parse_args(argv)


def rule_spec(rule: str, fraction: float, labels: int) -> SelectionSpec:
    """The selection of ``fraction`` with the floor ``rule`` names for ``labels`` classes:
    ``above:T`` is zslabel's ``min_above_chance: T``; ``chance:C`` a ``min_confidence`` of
    ``min(C / k, 1)``; ``fixed:F`` one of ``F``."""
    kind, _, value = rule.partition(":")
    spec: dict[str, Any] = {"per_class_top_fraction": fraction, "min_above_chance": None}
    if kind == "above":
        spec["min_above_chance"] = float(value)
    elif kind == "chance":
        spec["min_confidence"] = min(float(value) / labels, 1.0)
    elif kind == "fixed":
        spec["min_confidence"] = float(value)
    elif kind != "none":
        raise SystemExit(f"--rule {rule!r}: expected none, chance:C, above:T or fixed:F")
    return SelectionSpec.model_validate(spec)


def label_all(
    args: argparse.Namespace, table: pa.Table, variant: str
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Label ``table`` with every row accepted: its (n, k) probabilities in input order, the
    label names, and gold (object, n)."""
    gold = np.asarray([str(g) for g in table.column(args.gold_column).to_pylist()], object)
    with tempfile.TemporaryDirectory(prefix="zsfloor-") as tmp:
        path = Path(tmp) / "input.parquet"
        pq.write_table(table.drop_columns([args.gold_column]), path)
        output: dict[str, str] = {}
        if args.out:
            output["dir"] = str(Path(args.out).resolve() / variant)
        if args.work_dir:
            output["work_dir"] = str(Path(args.work_dir).resolve())
        overrides: dict[str, Any] = {
            "input": {"path": str(path)},
            "output": output,
            "selection": {
                "per_class_top_fraction": 1.0,
                "min_confidence": 0.0,
                "min_above_chance": None,
            },
        }
        config = load_job(args.job, overrides)
        if config.multi_label:
            raise SystemExit("single-label jobs only")
        result = run_job(config)
        names = [columns.score_column(name) for name in config.label_names]
        labeled = pq.read_table(result.output_dir / LABELED, columns=[columns.ROW, *names])
    order = np.argsort(labeled.column(columns.ROW).to_numpy())
    probs = np.column_stack([labeled.column(n).to_numpy(zero_copy_only=False) for n in names])
    return probs[order].astype(np.float64), list(config.label_names), gold


def figures(
    probs: np.ndarray, gold: np.ndarray, labels: list[str], spec: SelectionSpec
) -> dict[str, Any]:
    """Accepted accuracy, coverage and the accepted-row count of ``spec`` on these rows."""
    predictions = Predictions.from_probabilities(probs)
    selection = select(predictions, spec, labels)
    accepted = selection.status == ACCEPTED
    valid = predictions.label >= 0
    predicted = np.asarray(labels, object)[np.maximum(predictions.label, 0)]
    correct = int(np.sum(accepted & (predicted == gold)))
    n = int(accepted.sum())
    return {
        "accuracy": round(correct / n, 4) if n else None,
        "coverage": round(n / int(valid.sum()), 4),
        "accepted": n,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    table = pq.read_table(args.dataset)
    if args.gold_column not in table.column_names:
        raise SystemExit(f"{args.dataset}: no gold column {args.gold_column!r}")
    labels = list(load_job(args.job).label_names)
    gold = [str(g) for g in table.column(args.gold_column).to_pylist()]
    variants = {"full": table}
    for ratio in args.zipf:
        mask = subsample_rows(gold, args.seed, shares=zipf_shares(labels, ratio))
        variants[f"zipf{ratio:g}"] = table.filter(pa.array(mask))
    report: dict[str, Any] = {"dataset": str(args.dataset), "labels": len(labels), "variants": {}}
    for variant, rows_table in variants.items():
        probs, labels, truth = label_all(args, rows_table, variant)
        rows: dict[str, Any] = {"rows": len(truth)}
        everything = figures(probs, truth, labels, rule_spec("none", 1.0, len(labels)))
        rows["all_rows_accuracy"] = everything["accuracy"]
        for fraction in args.fraction:
            for rule in args.rule:
                spec = rule_spec(rule, fraction, len(labels))
                measured = figures(probs, truth, labels, spec)
                measured["floor"] = round(max(spec.min_confidence, spec.floor(len(labels))), 4)
                rows[f"fraction={fraction:g},{rule}"] = measured
        report["variants"][variant] = rows
        print(json.dumps({variant: rows}), file=sys.stderr, flush=True)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
