"""Measure refinement settings (zslabel.refine) on labeled datasets, from cached features.

    python bench/refine_grid.py [--datasets ../shared/datasets] [--names ag_news sst2 banking77]
        [--jobs bench/jobs] [--work-root out/bench/refine_grid] [--max-loss 0.005]

Each dataset is copied without its gold column into the work root and scored once by its job
(``JOBS/NAME.yaml``; features cached under the work root, so a second run runs no model). Then
every setting of the grid (weight x top_fraction x passes) and refinement off are run through
the library (``LabelingJob.select_rows``: refine, combine, predict, select) on the cached
features, and gold is compared with the predicted label only afterwards. Prints one JSON
object: per setting and dataset, all-rows accuracy (every valid row at its top label) and
accepted accuracy (rows the job's selection accepts), their deltas against refinement off, and
the setting the rule picks: the best mean all-rows accuracy among settings where no dataset
loses more than ``--max-loss`` against off (none if off is best).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from zslabel.config import JobConfig, load_job
from zslabel.runner import LabelingJob, ShardScore
from zslabel.selection import ACCEPTED

WEIGHTS = (0.25, 0.5, 0.75)
FRACTIONS = (0.1, 0.2, 0.3)
PASSES = (1, 2)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--names", nargs="+", default=["ag_news", "sst2", "banking77"])
    parser.add_argument("--jobs", type=Path, default=Path("bench/jobs"))
    parser.add_argument("--gold-column", default="label")
    parser.add_argument("--work-root", type=Path, default=Path("out/bench/refine_grid"))
    parser.add_argument("--max-loss", type=float, default=0.005)
    return parser.parse_args(argv)


def with_refine(config: JobConfig, refine: dict[str, Any] | None) -> JobConfig:
    raw = config.model_dump(mode="json")
    for source in raw["sources"]:
        if source["kind"] in ("embedding", "clip"):
            source["refine"] = refine
    return JobConfig.model_validate(raw)


def measure(
    config: JobConfig, scores: Sequence[ShardScore] | None, gold: np.ndarray
) -> tuple[dict[str, float], list[ShardScore]]:
    job = LabelingJob(config)
    if scores is None:
        scores = [job.score_shard(shard) for shard in job.dataset.shards]
    selected = job.select_rows(scores)
    names = np.asarray(job.label_names, dtype=object)
    label = selected.predictions.label.astype(np.int64)
    valid = selected.predictions.has_text & (label >= 0)
    predicted = names[np.maximum(label, 0)]
    predicted[~valid] = None
    correct = predicted == gold
    accepted = selected.selection.status == ACCEPTED
    figures = {
        "all_rows_accuracy": round(float(correct[valid].mean()), 4),
        "accepted_accuracy": round(float(correct[accepted].mean()), 4),
        "accepted_rows": int(accepted.sum()),
    }
    return figures, list(scores)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings: list[dict[str, Any] | None] = [None] + [
        {"passes": p, "weight": w, "top_fraction": f}
        for p, w, f in itertools.product(PASSES, WEIGHTS, FRACTIONS)
    ]
    results: dict[str, list[dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    for name in args.names:
        table = pq.read_table(args.datasets / f"{name}.parquet")
        gold = np.asarray(table.column(args.gold_column).to_pylist(), dtype=object)
        root = (args.work_root / name).resolve()
        root.mkdir(parents=True, exist_ok=True)
        hidden = root / "input.parquet"
        if not hidden.exists():
            pq.write_table(table.drop_columns([args.gold_column]), hidden)
        base = load_job(
            args.jobs / f"{name}.yaml",
            {
                "input": {"path": str(hidden)},
                "output": {"dir": str(root / "out"), "work_dir": str(root / "work")},
            },
        )
        started = time.perf_counter()
        scores: list[ShardScore] | None = None
        results[name] = []
        for setting in settings:
            figures, scores = measure(with_refine(base, setting), scores, gold)
            results[name].append(figures)
        seconds[name] = round(time.perf_counter() - started, 1)

    rows = []
    for i, setting in enumerate(settings):
        per_dataset = {}
        for name in args.names:
            off, on = results[name][0], results[name][i]
            per_dataset[name] = {
                **on,
                "delta_all_rows": round(on["all_rows_accuracy"] - off["all_rows_accuracy"], 4),
                "delta_accepted": round(on["accepted_accuracy"] - off["accepted_accuracy"], 4),
            }
        mean = float(np.mean([d["all_rows_accuracy"] for d in per_dataset.values()]))
        worst = min(d["delta_all_rows"] for d in per_dataset.values())
        rows.append(
            {
                "refine": setting,
                "datasets": per_dataset,
                "mean_all_rows_accuracy": round(mean, 4),
                "worst_delta_all_rows": round(worst, 4),
                "eligible": worst >= -args.max_loss,
            }
        )
    eligible = [row for row in rows if row["eligible"]]  # refinement off always is
    best = max(eligible, key=lambda row: row["mean_all_rows_accuracy"])
    print(
        json.dumps(
            {
                "baseline": rows[0],
                "grid": rows[1:],
                "rule": f"best mean all-rows accuracy; no dataset loses > {args.max_loss}",
                "chosen": best["refine"],
                "seconds": seconds,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
