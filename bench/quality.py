"""Measure label quality of a job against a gold column the pipeline never sees.

    python bench/quality.py ../shared/datasets/ag_news.parquet --job bench/jobs/ag_news.yaml \
        --gold-column label [--sample N --seed S] [--work-dir DIR] [--out DIR]

The dataset is copied, without the gold column, to a temporary Parquet file; the job runs on that
copy (its ``input.path`` overridden), and gold is joined back to ``labeled.parquet`` by ``zs_row``
only afterwards. Prints one JSON object: full-coverage (every valid row at its top label) and
accepted-set figures, and a majority-class baseline with ``ratio`` = accuracy / baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.config import load_job
from zslabel.evaluate import score_labels
from zslabel.runner import LABELED, run_job


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dataset", type=Path, help="Parquet file with a text and a gold column")
    parser.add_argument("--job", type=Path, required=True, help="YAML job file")
    parser.add_argument("--gold-column", default="label")
    parser.add_argument("--sample", type=int, help="label a random sample of N rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample")
    parser.add_argument("--work-dir", help="feature cache folder (default: the job's)")
    parser.add_argument("--out", help="output folder (default: the job's output.dir)")
    return parser.parse_args(argv)


def load_rows(path: Path, sample: int | None, seed: int) -> pa.Table:
    table = pq.read_table(path)
    if sample is not None and sample < table.num_rows:
        rng = np.random.default_rng(seed)
        table = table.take(np.sort(rng.choice(table.num_rows, size=sample, replace=False)))
    return table


def ratio(accuracy: float | None, baseline: float) -> float | None:
    return None if accuracy is None or baseline == 0 else round(accuracy / baseline, 3)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    table = load_rows(args.dataset, args.sample, args.seed)
    if args.gold_column not in table.column_names:
        raise SystemExit(f"{args.dataset}: no gold column {args.gold_column!r}")
    gold: list[object] = table.column(args.gold_column).to_pylist()
    hidden = table.drop_columns([args.gold_column])

    with tempfile.TemporaryDirectory(prefix="zsbench-") as tmp:
        input_path = Path(tmp) / "input.parquet"
        pq.write_table(hidden, input_path)
        output: dict[str, str] = {}
        if args.out:
            output["dir"] = str(Path(args.out).resolve())
        if args.work_dir:
            output["work_dir"] = str(Path(args.work_dir).resolve())
        config = load_job(args.job, {"input": {"path": str(input_path)}, "output": output})
        if config.input.text_column == args.gold_column:
            raise SystemExit("the job's text column is the gold column")
        started = time.perf_counter()
        result = run_job(config)
        seconds = time.perf_counter() - started

    labeled = pq.read_table(
        result.output_dir / LABELED, columns=[columns.ROW, columns.LABEL, columns.STATUS]
    )
    rows = labeled.column(columns.ROW).to_pylist()
    scores = score_labels(
        gold=[gold[row] for row in rows],
        predicted=labeled.column(columns.LABEL).to_pylist(),
        status=labeled.column(columns.STATUS).to_pylist(),
        label_names=config.label_names,
    )
    counts = Counter(str(g) for g in gold if g is not None)
    majority, majority_rows = counts.most_common(1)[0]
    baseline = round(majority_rows / sum(counts.values()), 4)
    full, accepted = scores["forced"], scores["accepted"]
    return {
        "dataset": str(args.dataset),
        "rows": len(rows),
        "job": str(args.job),
        "full_coverage": {
            "accuracy": full["accuracy"],
            "macro_f1": full["macro_f1"],
            "ratio": ratio(full["accuracy"], baseline),
        },
        "accepted": {
            "accuracy": accepted["accuracy"],
            "macro_f1": accepted["macro_f1"],
            "coverage": scores["coverage"],
            "ratio": ratio(accepted["accuracy"], baseline),
        },
        "baseline": {
            "kind": "majority_class",
            "label": majority,
            "accuracy": baseline,
            "uniform_random_accuracy": round(1 / len(counts), 4),
        },
        "gold_labels_not_in_job": scores["gold_labels_not_in_job"],
        "seconds": round(seconds, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    print(json.dumps(measure(parse_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
