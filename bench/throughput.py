"""Texts per second of zslabel's embedding source against the usual ways to embed texts.

    .venv/bin/python bench/throughput.py [--texts 4000] [--rounds 4]

One process, one model (the packaged all-MiniLM-L6-v2), the same seeded mixed-length texts for
every contender, all warmed up first. On a shared machine the load drifts, so the texts are cut
into ``--rounds`` slices and every contender runs each slice in turn: a drift hits all of them
alike. Prints JSON: texts/s per contender, and each one's ratio to (a) the transformers
``feature-extraction`` pipeline called one text at a time with mean pooling and (b)
sentence-transformers ``encode(batch_size=32)`` (reported as skipped where not installed).
zslabel runs at each precision; bf16 is fast only on a CPU with bfloat16 matrix units (AMX,
AVX512-BF16), which the JSON reports as ``cpu_bf16_units``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from timing import interleaved_rates

from zslabel.cache import FeatureCache
from zslabel.config import EmbeddingSourceSpec, Label
from zslabel.models import resolve_model
from zslabel.precision import cpu_has_bf16_units
from zslabel.sources.embedding import EmbeddingSource

PRECISIONS = ("fp32", "bf16", "int8")

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "bank",
    "card",
    "transfer",
    "payment",
    "refund",
    "parcel",
    "delivery",
    "late",
    "lost",
    "invoice",
    "market",
    "stocks",
    "shares",
    "profit",
    "election",
    "government",
    "troops",
    "match",
    "goal",
    "season",
    "coach",
    "team",
    "science",
    "research",
    "space",
    "software",
    "internet",
    "phone",
    "battery",
    "screen",
    "price",
    "customer",
    "support",
    "account",
    "password",
    "login",
    "error",
    "update",
    "weather",
    "city",
    "river",
    "mountain",
    "music",
    "film",
    "book",
    "school",
]
Encode = Callable[[Sequence[str]], Any]


def generate_texts(n: int, seed: int) -> list[str]:
    """Distinct texts of 3 to 300 words (most short, some past the 256-token cut)."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(3 + rng.geometric(1 / 40, size=n), 300)
    texts = [" ".join(rng.choice(WORDS, size=int(k))) + f" #{i}" for i, k in enumerate(lengths)]
    return texts


def contenders(cache_dir: Path) -> tuple[dict[str, Encode], dict[str, str]]:
    model = resolve_model("default")
    labels = [Label(name="x", descriptions=("x",))]
    runs: dict[str, Encode] = {}
    skipped: dict[str, str] = {}
    for precision in PRECISIONS:
        spec = EmbeddingSourceSpec(name=precision, device="cpu", precision=precision)
        source = EmbeddingSource(spec, labels, FeatureCache(cache_dir / precision))
        runs[f"zslabel_{precision}"] = source.featurize
    runs["pipeline_one_per_call"] = _pipeline(model.path)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        skipped["sentence_transformers_batch32"] = f"not installed ({exc})"
    else:
        st = SentenceTransformer(model.path, device="cpu")
        runs["sentence_transformers_batch32"] = lambda texts: st.encode(
            list(texts), batch_size=32, show_progress_bar=False
        )
    return runs, skipped


def _pipeline(path: str) -> Encode:
    from transformers import pipeline

    extract = pipeline("feature-extraction", model=path, tokenizer=path, device="cpu")
    cut = {"truncation": True, "max_length": 256}  # what sentence-transformers cuts at

    def encode(texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:  # one call per text, as a naive loop over a dataset does
            tokens = np.asarray(extract(text, tokenize_kwargs=cut)[0])
            mean = tokens.mean(axis=0)  # one text per call: no padding to mask out
            rows.append(mean / np.linalg.norm(mean))
        return np.stack(rows)

    return encode


def measure(n: int, rounds: int, seed: int) -> dict[str, Any]:
    texts = generate_texts(n, seed)
    with tempfile.TemporaryDirectory() as scratch:
        runs, skipped = contenders(Path(scratch))
        speed = interleaved_rates(runs, texts, generate_texts(96, seed + 1), rounds)
    rows = []
    for name, figure in speed.items():
        for baseline in ("pipeline_one_per_call", "sentence_transformers_batch32"):
            if baseline in speed and baseline != name:
                rows.append(
                    {
                        "figure": name,
                        "baseline": baseline,
                        "ratio": round(figure / speed[baseline], 2),
                    }
                )
    fastest = max((f"zslabel_{p}" for p in PRECISIONS), key=speed.__getitem__)
    return {
        "texts": n,
        "rounds": rounds,
        "threads": _threads(),
        "cpu_bf16_units": _bf16_units(),
        "load_average_after": round(os.getloadavg()[0], 2),
        "texts_per_s": speed,
        "ratios": rows,
        "skipped": skipped,
        "targets": {
            "zslabel_fp32 / pipeline >= 2.2": _ratio(speed, "zslabel_fp32") >= 2.2,
            f"fastest ({fastest}) / pipeline >= 4.5": _ratio(speed, fastest) >= 4.5,
        },
    }


def _ratio(speed: dict[str, float], name: str) -> float:
    return speed[name] / speed["pipeline_one_per_call"]


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _bf16_units() -> bool:
    """bf16 is fast only on a CPU with bfloat16 matrix units (AMX, AVX512-BF16)."""
    import torch

    return cpu_has_bf16_units(torch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(f"load average before: {os.getloadavg()}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pipeline's and exporter's advice is noise here
        result = measure(args.texts, args.rounds, args.seed)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
