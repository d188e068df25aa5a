"""Texts per second of zslabel's NLI source against transformers' zero-shot pipeline.

    .venv/bin/python bench/nli_throughput.py [--texts 160] [--rounds 2]

No NLI weights exist offline, so both run the same randomly initialised model of a small NLI
model's shape: MiniLM-L6 (6 layers, 384 wide) with an entailment / neutral / contradiction head,
built in a temporary folder with the packaged all-MiniLM-L6-v2 tokenizer. Speed does not depend
on the weights' values. Measured at 4 and 14 labels, zslabel at fp32, bf16 and int8, and the cascade
(``shortlist``: the packaged embedding model's top 3 labels, then NLI on those only; its time
includes the embedding step); bf16 is fast only on a CPU with bfloat16 matrix units (AMX), which
the JSON reports. The pipeline is called one text at a time with its candidate
labels, as a loop over a dataset does. One process, warmed up, texts cut into ``--rounds``
slices that every contender runs in turn, so load drift on a shared machine hits all alike.
Prints JSON: texts/s and ratios to the pipeline at the same label count.
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
from zslabel.config import EmbeddingSourceSpec, Label, NliSourceSpec
from zslabel.models import resolve_model
from zslabel.precision import cpu_has_bf16_units
from zslabel.sources.embedding import EmbeddingSource
from zslabel.sources.nli import NliSource, shortlist_mask

LABELS = [
    "sports", "politics", "business", "science", "technology", "health", "travel",
    "food", "music", "film", "education", "weather", "crime", "religion",
]  # fmt: skip
SHORTLIST_K = 3
PRECISIONS = ("fp32", "bf16", "int8")
WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "match",
    "goal",
    "team",
    "election",
    "government",
    "market",
    "shares",
    "profit",
    "research",
    "space",
    "software",
    "phone",
    "doctor",
    "hospital",
    "flight",
    "hotel",
    "recipe",
    "dinner",
    "concert",
    "album",
    "movie",
    "school",
    "exam",
    "storm",
    "rain",
    "police",
    "court",
    "church",
    "prayer",
    "price",
    "city",
    "river",
]
Run = Callable[[Sequence[str]], Any]


def build_model(folder: Path) -> Path:
    """A random MiniLM-L6-shaped NLI classifier with the packaged tokenizer, as safetensors."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    packaged = resolve_model("default").path
    tokenizer = AutoTokenizer.from_pretrained(packaged)
    names = {0: "entailment", 1: "neutral", 2: "contradiction"}
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        id2label=names,
        label2id={n: i for i, n in names.items()},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def texts_for(n: int, seed: int) -> list[str]:
    """Distinct texts of 3 to 120 words, most of them short (as in bench/throughput.py)."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(3 + rng.geometric(1 / 30, size=n), 120)
    return [" ".join(rng.choice(WORDS, size=int(k))) + f" #{i}" for i, k in enumerate(lengths)]


def contenders(model: Path, scratch: Path) -> dict[str, Run]:
    from transformers import pipeline

    runs: dict[str, Run] = {}
    classify = pipeline(
        "zero-shot-classification", model=str(model), tokenizer=str(model), device="cpu"
    )
    template = "This example is about {}."  # the pipeline's default, and zslabel's
    for count in (4, 14):
        names = LABELS[:count]
        labels = [Label(name=n, descriptions=(n,)) for n in names]

        def pipe(texts: Sequence[str], names: list[str] = names) -> None:
            for text in texts:
                classify(text, candidate_labels=names, hypothesis_template=template)

        runs[f"pipeline_{count}_labels"] = pipe
        for precision in PRECISIONS:
            spec = NliSourceSpec(name="nli", model=str(model), device="cpu", precision=precision)
            nli = NliSource(spec, labels, FeatureCache(scratch / f"{count}-{precision}"))
            runs[f"zslabel_{precision}_{count}_labels"] = nli.featurize
        runs[f"zslabel_fp32_cascade_top{SHORTLIST_K}_{count}_labels"] = _cascade(
            model, labels, scratch / f"cascade-{count}"
        )
    return runs


def _cascade(model: Path, labels: list[Label], cache: Path) -> Run:
    # fp32 for both, so that the cascade's gain is measured apart from bf16's.
    embed = EmbeddingSource(
        EmbeddingSourceSpec(name="embedding", device="cpu", precision="fp32"),
        labels,
        FeatureCache(cache),
    )
    nli = NliSource(NliSourceSpec(name="nli", model=str(model), device="cpu", precision="fp32"),
                    labels, FeatureCache(cache))  # fmt: skip

    def run(texts: Sequence[str]) -> np.ndarray:
        candidates = shortlist_mask(embed.probabilities(embed.featurize(texts)), SHORTLIST_K)
        return nli.featurize_candidates(texts, candidates)

    return run


def measure(n: int, rounds: int, seed: int) -> dict[str, Any]:
    texts = texts_for(n, seed)
    with tempfile.TemporaryDirectory() as scratch:
        model = build_model(Path(scratch) / "model")
        runs = contenders(model, Path(scratch))
        speed = interleaved_rates(runs, texts, texts_for(8, seed + 1), rounds, digits=2)
    ratios = []
    for name, figure in speed.items():
        count = name.rsplit("_", 2)[-2]
        baseline = f"pipeline_{count}_labels"
        if name != baseline:
            ratios.append(
                {"figure": name, "baseline": baseline, "ratio": round(figure / speed[baseline], 2)}
            )
    import torch

    fastest = max((f"zslabel_{p}_14_labels" for p in PRECISIONS), key=speed.__getitem__)
    return {
        "texts": n,
        "rounds": rounds,
        "load_average_after": round(os.getloadavg()[0], 2),
        "texts_per_s": speed,
        "ratios": ratios,
        "cpu_bf16_units": cpu_has_bf16_units(torch),
        "targets": {
            f"fastest without cascade ({fastest}) / pipeline_14_labels >= 3": speed[fastest]
            / speed["pipeline_14_labels"]
            >= 3,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--texts", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(f"load average before: {os.getloadavg()}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = measure(args.texts, args.rounds, args.seed)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
