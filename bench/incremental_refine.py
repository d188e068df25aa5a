"""Label a public dataset as weekly files of an incremental job and measure each version's labels.

    python bench/incremental_refine.py ../shared/datasets/ag_news.parquet \
        --job bench/jobs/ag_news.yaml --gold-column label [--weeks 8] [--skew 0.7] \
        [--drop-label Sci/Tech] [--seed 0] [--work DIR]

The dataset (gold column hidden) is cut into ``--weeks`` files. ``--skew S`` makes each week
dominated by one class (a row of class c goes to a week where c dominates with weight ``S``, to
another with ``(1 - S) / (k - 1)``; the dominant class rotates over the labels); ``--drop-label``
removes a label from the job, so that its rows are about a topic no label describes (scored as
wrong wherever they are accepted). Three ways of labeling the same files, each scored per week
against gold:

- ``incremental``: one file added per run of an incremental job (each version adds the earlier
  versions' label prototype rows to its own: zslabel.pipeline.prototypes);
- ``alone``: each week's file labeled by itself (what an incremental version did before);
- ``pooled``: all the files in one run.

Prints JSON: per way and week, accepted accuracy and coverage, all-rows accuracy, and the means.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from zslabel.config import load_job
from zslabel.incremental import run_incremental
from zslabel.runner import run_job

ID = "bench_row"


def week_of_rows(
    gold: list[Any], classes: list[Any], weeks: int, skew: float, seed: int
) -> np.ndarray:
    """(n,) the week of each row: uniform, or skewed toward the week's dominant class."""
    rng = np.random.default_rng(seed)
    if skew <= 0:
        return rng.permutation(np.arange(len(gold)) % weeks)
    k = len(classes)
    dominant = np.asarray([w % k for w in range(weeks)])
    index = {c: i for i, c in enumerate(classes)}
    result = np.empty(len(gold), dtype=np.int64)
    for row, value in enumerate(gold):
        weights = np.where(dominant == index[value], skew, (1 - skew) / (k - 1))
        result[row] = rng.choice(weeks, p=weights / weights.sum())
    return result


def write_weeks(table: pa.Table, weeks: np.ndarray, folder: Path, gold_column: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    hidden = table.drop_columns([gold_column])
    paths = []
    for week in range(int(weeks.max()) + 1):
        path = folder / f"week{week + 1:02d}.parquet"
        pq.write_table(hidden.filter(pa.array(weeks == week)), path)
        paths.append(path)
    return paths


def labeled_rows(folder: Path) -> pa.Table:
    return pq.read_table(folder / "labeled.parquet", columns=[ID, "zs_label", "zs_status"])


def scores_of(labeled: pa.Table, gold: dict[int, Any]) -> dict[str, float | None]:
    """Accepted accuracy and coverage, and all-rows accuracy, of labeled.parquet's rows."""
    ids = labeled.column(ID).to_pylist()
    labels = labeled.column("zs_label").to_pylist()
    accepted = np.asarray([s == "accepted" for s in labeled.column("zs_status").to_pylist()])
    right = np.asarray(
        [lab is not None and lab == gold[i] for i, lab in zip(ids, labels, strict=True)]
    )
    return {
        "rows": len(ids),
        "accepted_accuracy": round(float(right[accepted].mean()), 4) if accepted.any() else None,
        "coverage": round(float(accepted.mean()), 4),
        "all_rows_accuracy": round(float(right.mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--gold-column", default="label")
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--skew", type=float, default=0.0)
    parser.add_argument("--drop-label", action="append", default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="zsinc-"))
    table = pq.read_table(args.dataset)
    table = table.append_column(ID, pa.array(np.arange(table.num_rows), pa.int64()))
    gold_values = table.column(args.gold_column).to_pylist()
    gold = dict(enumerate(gold_values))
    job = yaml.safe_load(args.job.read_text(encoding="utf-8"))
    classes = list(job["labels"])
    weeks = week_of_rows(gold_values, classes, args.weeks, args.skew, args.seed)
    for name in args.drop_label:
        del job["labels"][name]
    shutil.rmtree(work / "weeks", ignore_errors=True)
    paths = write_weeks(table, weeks, work / "weeks", args.gold_column)

    def config(input_path: Path, out: Path, incremental: bool = False) -> Any:
        settings = {**job, "input": {**job["input"], "path": str(input_path), "id_column": ID}}
        settings["output"] = {**job.get("output", {}), "dir": str(out)}
        settings["incremental"] = incremental
        path = work / "job.yaml"
        path.write_text(yaml.safe_dump(settings), encoding="utf-8")
        return load_job(path)

    results: dict[str, list[dict[str, float | None]]] = {
        "incremental": [],
        "alone": [],
        "pooled": [],
    }
    shutil.rmtree(work / "out", ignore_errors=True)
    growing = work / "out" / "input"
    growing.mkdir(parents=True)
    for week, path in enumerate(paths):
        shutil.copy(path, growing / path.name)
        done = run_incremental(config(growing, work / "out" / "incremental", incremental=True))
        assert done is not None
        results["incremental"].append(scores_of(labeled_rows(done[1].output_dir), gold))
        alone = run_job(config(path, work / "out" / f"alone{week + 1:02d}"))
        results["alone"].append(scores_of(labeled_rows(alone.output_dir), gold))
    pooled = labeled_rows(run_job(config(work / "weeks", work / "out" / "pooled")).output_dir)
    week_of = weeks[np.asarray(pooled.column(ID).to_pylist(), dtype=np.int64)]
    for week in range(len(paths)):
        results["pooled"].append(scores_of(pooled.filter(pa.array(week_of == week)), gold))
    summary = {
        way: {
            key: round(float(np.mean([r[key] for r in rows if r[key] is not None])), 4)
            for key in ("accepted_accuracy", "coverage", "all_rows_accuracy")
        }
        for way, rows in results.items()
    }
    print(
        json.dumps(
            {
                "dataset": str(args.dataset),
                "weeks": args.weeks,
                "skew": args.skew,
                "dropped": args.drop_label,
                "mean": summary,
                "per_week": results,
            }
        )
    )


if __name__ == "__main__":
    main()
