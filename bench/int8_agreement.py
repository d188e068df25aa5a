"""How often int8 inference changes a row's top label, on public datasets with gold labels.

    .venv/bin/python bench/int8_agreement.py [ag_news sst2 banking77] \
        [--datasets ../shared/datasets] [--jobs bench/jobs]

For each dataset, the embedding source of ``bench/jobs/<name>.yaml`` scores every text twice, at
``precision: fp32`` and ``precision: int8``; prints JSON per dataset: top-1 agreement of int8 with
fp32 over all rows, the same among the rows fp32 would accept at the job's selection (its most
confident half per class), and accuracy of both against the gold ``label`` column, which only
this script reads.
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


def compare(dataset: Path, job_file: Path, scratch: Path) -> dict[str, Any]:
    config = load_job(job_file)
    (spec,) = config.sources
    assert isinstance(spec, EmbeddingSourceSpec)
    table = pq.read_table(dataset, columns=["text", "label"])
    texts = [str(t) for t in table.column("text").to_pylist()]
    names = list(config.label_names)
    gold = np.array([names.index(g) for g in table.column("label").to_pylist()])
    probs, seconds = {}, {}
    for precision in ("fp32", "int8"):
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
    same = top["fp32"] == top["int8"]
    return {
        "rows": len(texts),
        "classes": len(names),
        "top1_agreement": round(float(same.mean()), 4),
        "changed_rows": int((~same).sum()),
        "top1_agreement_on_fp32_accepted": round(float(same[accepted].mean()), 4),
        "accuracy_fp32": round(float((top["fp32"] == gold).mean()), 4),
        "accuracy_int8": round(float((top["int8"] == gold).mean()), 4),
        "speedup_int8_over_fp32": round(seconds["fp32"] / seconds["int8"], 2),
    }


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
    changed = sum(r["changed_rows"] for r in results.values())
    summary = {
        "datasets": results,
        "overall_top1_agreement": round(1 - changed / rows, 4),
        "int8_default_rule": "int8 becomes the default only at >= 0.99 agreement on every dataset",
        "load_average_after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
