"""Peak memory (RSS) of a full labeling job as the dataset grows.

    .venv/bin/python bench/memory.py [--rows 10000 100000 1000000] [--model-rows 2000 10000]

Each size runs in a fresh subprocess, which reports its own peak resident set size after the
job (VmHWM of /proc/self/status: unlike ``ru_maxrss`` it does not inherit the parent's peak).
The read, score, select, split and export steps all count. The generated input has an id
column (so the id-uniqueness check runs), texts of 3 to 60 words and row groups of 16,384 rows.
``--rows`` sizes run with the fake source (no model: the global steps' memory alone),
``--model-rows`` with the packaged all-MiniLM-L6-v2 (CPU inference limits how large that can
be here). Prints JSON: peak MiB per size and the ratio to the smallest size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# As a user's program does: zslabel first, so that it sets pyarrow's allocator up before pyarrow
# loads (zslabel/allocator.py).
import zslabel  # noqa: F401

# isort: split
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

WORDS = np.array(
    [
        "bank",
        "card",
        "transfer",
        "refund",
        "parcel",
        "delivery",
        "late",
        "invoice",
        "market",
        "stocks",
        "election",
        "match",
        "goal",
        "team",
        "science",
        "space",
        "software",
        "phone",
        "battery",
        "price",
        "account",
        "password",
        "error",
        "weather",
        "music",
    ]
)
LABELS = ["billing", "shipping", "account", "technical"]
ROW_GROUP = 16_384  # the default shard_rows: a shard never splits a row group


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write ``rows`` texts in row groups, a few at a time: the generator stays small too."""
    rng = np.random.default_rng(seed)
    schema = pa.schema([("ticket_id", pa.string()), ("text", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            lengths = rng.integers(3, 60, size=n)
            words = rng.choice(WORDS, size=int(lengths.sum()))
            cuts = np.cumsum(lengths)[:-1]
            texts = [" ".join(part) for part in np.split(words, cuts)]
            ids = [f"t{start + i:09d}" for i in range(n)]
            writer.write_table(pa.table({"ticket_id": ids, "text": texts}, schema=schema))


def child(data: Path, out: Path, source: str) -> dict[str, Any]:
    """Run one job in this process; return its peak RSS."""
    from zslabel.config import JobConfig
    from zslabel.runner import run_job

    kind = {"kind": "fake"} if source == "fake" else {"kind": "embedding", "device": "cpu"}
    config = JobConfig.model_validate(
        {
            "input": {"path": str(data), "text_column": "text", "id_column": "ticket_id"},
            "labels": LABELS,
            "sources": [kind],
            "selection": {"per_class_top_fraction": 0.5},
            "output": {"dir": str(out)},
        }
    )
    before = _peak_mib()
    start = time.perf_counter()
    result = run_job(config)
    return {
        "rows": result.counts["rows"],
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mib_before_job": before,
        "peak_rss_mib": _peak_mib(),
    }


def _peak_mib() -> float:
    """VmHWM: this process image's peak. ru_maxrss would carry the parent's peak over the exec."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def measure(rows: list[int], source: str, scratch: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for n in rows:
        data = scratch / f"input-{n}.parquet"
        if not data.exists():
            generate(data, n)
        out = scratch / f"out-{source}-{n}"
        command = [sys.executable, __file__, "--child", str(data), str(out), source]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{source} job at {n} rows failed:\n{done.stderr[-3000:]}")
        figures[str(n)] = json.loads(done.stdout.strip().splitlines()[-1])
    smallest = figures[str(rows[0])]["peak_rss_mib"]
    for figure in figures.values():
        figure["ratio_to_smallest"] = round(figure["peak_rss_mib"] / smallest, 3)
    return figures


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        print(json.dumps(child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--model-rows", type=int, nargs="*", default=[2_000, 10_000])
    args = parser.parse_args()
    result: dict[str, Any] = {"load_average_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as scratch:
        if args.rows:
            result["fake_source"] = measure(sorted(args.rows), "fake", Path(scratch))
            print(json.dumps({"fake_source": result["fake_source"]}), flush=True)
        if args.model_rows:
            result["real_model"] = measure(sorted(args.model_rows), "model", Path(scratch))
    fake = result.get("fake_source", {})
    if len(fake) > 1:
        largest = max(fake, key=int)
        result["target_largest_within_1.2x_of_smallest"] = fake[largest]["ratio_to_smallest"] <= 1.2
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
