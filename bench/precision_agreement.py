"""How often bf16 and int8 inference change a row's top label, on public datasets with gold.

    .venv/bin/python bench/precision_agreement.py [ag_news sst2 banking77] \
        [--datasets ../shared/datasets] [--jobs bench/jobs]

For each dataset, the embedding source of ``bench/jobs/<name>.yaml`` scores every text at
``precision: fp32``, ``bf16`` and ``int8``; prints JSON per dataset and precision: top-1
agreement with fp32 over all rows, the same among the rows fp32 would accept at the job's
selection (its most confident half per class), accuracy against the gold ``label`` column (which
only this script reads) and the speed-up over fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from zslabel.cache import FeatureCache
from zslabel.config import EmbeddingSourceSpec, load_job
from zslabel.selection import ACCEPTED, Predictions, select
from zslabel.sources.embedding import EmbeddingSource

ROOT = Path(__file__).resolve().parent
FAST = ("bf16", "int8")


def compare(dataset: Path, job_file: Path, scratch: Path) -> dict[str, Any]:
    config = load_job(job_file)
    (spec,) = config.sources
    assert isinstance(spec, EmbeddingSourceSpec)
    table = pq.read_table(dataset, columns=["text", "label"])
    texts = [str(t) for t in table.column("text").to_pylist()]
    names = list(config.label_names)
    gold = np.array([names.index(g) for g in table.column("label").to_pylist()])
    probs, seconds = {}, {}
    for precision in ("fp32", *FAST):
        source = EmbeddingSource(
            spec.model_copy(update={"precision": precision, "device": "cpu"}),
            config.labels,
            FeatureCache(scratch / dataset.stem / precision),
        )
        source.featurize(texts[:64])  # load (and, for int8, export) outside the timing
        start = time.perf_counter()
        probs[precision] = source.probabilities(source.featurize(texts))
        seconds[precision] = time.perf_counter() - start
    top = {p: v.argmax(axis=1) for p, v in probs.items()}
    accepted = (
        select(Predictions.from_probabilities(probs["fp32"]), config.selection, names).status
        == ACCEPTED
    )
    result: dict[str, Any] = {
        "rows": len(texts),
        "classes": len(names),
        "accuracy_fp32": round(float((top["fp32"] == gold).mean()), 4),
    }
    for precision in FAST:
        same = top["fp32"] == top[precision]
        result[precision] = {
            "top1_agreement": round(float(same.mean()), 4),
            "changed_rows": int((~same).sum()),
            "top1_agreement_on_fp32_accepted": round(float(same[accepted].mean()), 4),
            "accuracy": round(float((top[precision] == gold).mean()), 4),
            "speedup_over_fp32": round(seconds["fp32"] / seconds[precision], 2),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", default=["ag_news", "sst2", "banking77"])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent.parent / "shared/datasets")
    parser.add_argument("--jobs", type=Path, default=ROOT / "jobs")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in args.names:
            results[name] = compare(
                args.datasets / f"{name}.parquet", args.jobs / f"{name}.yaml", Path(scratch)
            )
            print(json.dumps({name: results[name]}), flush=True)
    rows = sum(r["rows"] for r in results.values())
    summary = {
        "datasets": results,
        "overall_top1_agreement": {
            p: round(1 - sum(r[p]["changed_rows"] for r in results.values()) / rows, 4)
            for p in FAST
        },
        "default_rule": "a precision becomes the default only at >= 0.99 agreement everywhere",
        "load_average_after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
