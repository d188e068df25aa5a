"""Time drift on AG News (7,600 rows) and measure the centroid distances of like halves.

Labels the AG News test set with the default model (or ``--fake``) twice into two output
folders (the second run reuses every cached shard), times :func:`zslabel.drift.compare` of two
7,600-row versions, and times :func:`zslabel.drift.centroids_from_cache`. Then labels the two
halves (rows 0-3799 and 3800-7599, the same shards: no new scoring) and compares them, so that
the figures two like versions give can be read against the default thresholds. Prints JSON.

    .venv/bin/python bench/drift.py --data ../shared/datasets/ag_news.parquet --work /tmp/drift
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

LABELS = {
    "world": "world politics and international news",
    "sports": "sports",
    "business": "business and the economy",
    "technology": "science and technology",
}


def label(data: Path, out: Path, fake: bool) -> tuple[Path, dict[str, np.ndarray] | None]:
    """Label ``data`` into ``out`` (cache shared under ``out``'s parent); its centroids."""
    from zslabel.config import JobConfig
    from zslabel.drift import centroids_from_cache
    from zslabel.runner import LabelingJob, run_job

    config = JobConfig.from_dict(
        {
            "input": {"path": str(data), "text_column": "text", "shard_rows": 200},
            "labels": LABELS,
            "sources": [{"kind": "fake"}] if fake else [{"kind": "embedding"}],
            "output": {"dir": str(out), "work_dir": str(out.parent / "work")},
        }
    )
    run_job(config)
    if fake:
        return out, None
    job = LabelingJob(config)
    scores = [job.score_shard(shard) for shard in job.dataset.shards]  # all cached: no model run
    names = pq.read_table(out / "labeled.parquet", columns=["zs_label"]).column(0).to_pylist()
    codes = np.asarray([-1 if n is None else job.label_names.index(n) for n in names])
    started = time.perf_counter()
    centroids = centroids_from_cache(job.plan, scores, codes)
    print(f"centroids_from_cache: {time.perf_counter() - started:.3f} s", flush=True)
    return out, centroids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--fake", action="store_true", help="the fake source instead of a model")
    parser.add_argument("--rows", type=int, help="only the first ROWS rows (default: all)")
    args = parser.parse_args()
    from zslabel.drift import baseline, compare, write_drift

    table = pq.read_table(args.data, columns=["text"])
    if args.rows is not None:
        table = table.slice(0, args.rows)
    inputs = args.work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    halves = [table.slice(0, table.num_rows // 2), table.slice(table.num_rows // 2)]
    for name, part in (("full", table), ("first", halves[0]), ("second", halves[1])):
        # Row groups of 200 rows: the halves' shards are the full run's, and reuse its cache.
        pq.write_table(part, inputs / f"{name}.parquet", row_group_size=200)
    started = time.perf_counter()
    full, centroids = label(inputs / "full.parquet", args.work / "full", args.fake)
    again, _ = label(inputs / "full.parquet", args.work / "again", args.fake)
    labeling = time.perf_counter() - started
    write_drift(full, baseline(full, centroids=centroids))
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        report = compare(full, again, centroids=centroids)
        timings.append(time.perf_counter() - started)
    first, first_centroids = label(inputs / "first.parquet", args.work / "first", args.fake)
    second, second_centroids = label(inputs / "second.parquet", args.work / "second", args.fake)
    write_drift(first, baseline(first, centroids=first_centroids))
    halves_report = compare(first, second, centroids=second_centroids)
    result: dict[str, Any] = {
        "rows": table.num_rows,
        "source": "fake" if args.fake else "embedding (default model)",
        "labeling_two_runs_s": round(labeling, 2),
        "compare_s": [round(t, 3) for t in timings],
        "same_rows_drifted": report.drifted,
        "halves": {m.name: m.to_dict() for m in halves_report.metrics},
        "halves_new_terms": list(halves_report.new_terms),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
