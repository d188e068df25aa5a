"""How often bf16 and int8 change an NLI source's top label, on a cross-encoder built offline.

    .venv/bin/python bench/nli_agreement.py [--train-texts 600] [--eval-texts 300] \
        [--eval-texts-many 120]

No NLI weights exist offline, and a random model's labels mean nothing, so this builds a real
(if small) zero-shot cross-encoder: the packaged all-MiniLM-L6-v2 encoder fine-tuned end to end
for one epoch (fp32, AdamW) as an NLI classifier. Pairs "(text, This example is about
<description>.)" from a seeded training part of AG News, SST-2 and BANKING77 are labeled
entailment when the description is the text's gold class and contradiction otherwise (three
random wrong classes a text for BANKING77). zslabel's NLI
source then scores a disjoint evaluation part of each dataset, every label, at fp32, bf16 and
int8. Prints JSON per dataset: top-1 agreement of bf16 and int8 with fp32, and accuracy against
gold (which shows the model is a working classifier, not noise). The gold column is read only
here. A proxy: hub NLI models are larger and fine-tuned end to end, and their activations may
quantize better or worse than this one's.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from zslabel.cache import FeatureCache
from zslabel.config import JobConfig, NliSourceSpec, load_job
from zslabel.models import resolve_model
from zslabel.sources.base import label_prompts
from zslabel.sources.nli import NliSource

ROOT = Path(__file__).resolve().parent
DATASETS = ("ag_news", "sst2", "banking77")
HYPOTHESIS = "This example is about {description}."  # the NLI source's default
NEGATIVES_IF_MANY = 3
PRECISIONS = ("fp32", "bf16", "int8")
BATCH, LEARNING_RATE = 16, 3e-5


def load(name: str, datasets: Path) -> tuple[JobConfig, list[str], np.ndarray]:
    config = load_job(ROOT / "jobs" / f"{name}.yaml")
    table = pq.read_table(datasets / f"{name}.parquet", columns=["text", "label"])
    names = list(config.label_names)
    gold = np.array([names.index(g) for g in table.column("label").to_pylist()])
    return config, [str(t) for t in table.column("text").to_pylist()], gold


def parts(n: int, train: int, evaluate: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[:train], order[train : train + evaluate]


def training_pairs(
    config: JobConfig, texts: list[str], gold: np.ndarray, rows: np.ndarray, seed: int
) -> tuple[list[tuple[str, str]], list[int]]:
    """(text, hypothesis) pairs and 1 for entailment, 0 for contradiction."""
    hypotheses, owner = label_prompts(HYPOTHESIS, config.labels)
    rng = np.random.default_rng(seed)
    pairs, entails = [], []
    classes = len(config.labels)
    for row in rows:
        wrong = [k for k in range(classes) if k != gold[row]]
        if classes > 4:
            wrong = list(rng.choice(wrong, NEGATIVES_IF_MANY, replace=False))
        for k in [gold[row], *wrong]:
            for j in np.flatnonzero(owner == k):
                pairs.append((texts[row], hypotheses[j]))
                entails.append(int(k == gold[row]))
    return pairs, entails


def build_cross_encoder(
    pairs: list[tuple[str, str]], entails: list[int], folder: Path, seed: int
) -> Path:
    """The packaged encoder fine-tuned end to end, one epoch in fp32, as an NLI classifier."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    packaged = resolve_model("default").path
    tokenizer = AutoTokenizer.from_pretrained(packaged)
    names = {0: "entailment", 1: "neutral", 2: "contradiction"}
    torch.manual_seed(seed)
    network = BertForSequenceClassification.from_pretrained(
        packaged, num_labels=3, id2label=names, label2id={n: i for i, n in names.items()}
    )
    optimizer = torch.optim.AdamW(network.parameters(), lr=LEARNING_RATE)
    targets = torch.tensor([0 if e else 2 for e in entails])
    order = np.random.default_rng(seed).permutation(len(pairs))
    network.train()
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        batch = tokenizer(
            [pairs[i][0] for i in rows], [pairs[i][1] for i in rows], truncation="only_first",
            max_length=128, padding=True, return_tensors="pt",
        )  # fmt: skip
        loss = network(**batch, labels=targets[rows]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    network.save_pretrained(folder)  # dropout is off once NliSource loads it for inference
    tokenizer.save_pretrained(folder)
    return folder


def compare(
    model: Path, config: JobConfig, texts: list[str], gold: np.ndarray, scratch: Path
) -> dict[str, Any]:
    top = {}
    for precision in PRECISIONS:
        spec = NliSourceSpec(name="nli", model=str(model), device="cpu", precision=precision)
        source = NliSource(spec, config.labels, FeatureCache(scratch / precision))
        top[precision] = source.probabilities(source.featurize(texts)).argmax(axis=1)
    result: dict[str, Any] = {
        "texts": len(texts),
        "classes": len(config.labels),
        "accuracy_fp32": round(float((top["fp32"] == gold).mean()), 4),
    }
    for precision in PRECISIONS[1:]:
        same = top[precision] == top["fp32"]
        result[precision] = {
            "top1_agreement": round(float(same.mean()), 4),
            "changed_rows": int((~same).sum()),
            "accuracy": round(float((top[precision] == gold).mean()), 4),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--datasets", type=Path, default=ROOT.parent.parent / "shared/datasets")
    parser.add_argument("--train-texts", type=int, default=600)
    parser.add_argument("--eval-texts", type=int, default=300)
    parser.add_argument("--eval-texts-many", type=int, default=120, help="for BANKING77's 77")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    loaded = {name: load(name, args.datasets) for name in DATASETS}
    evaluation, pairs, entails = {}, [], []
    for name, (config, texts, gold) in loaded.items():
        many = len(config.labels) > 4
        train, evaluate = parts(
            len(texts), args.train_texts, args.eval_texts_many if many else args.eval_texts,
            args.seed,
        )  # fmt: skip
        evaluation[name] = evaluate
        more_pairs, more_entails = training_pairs(config, texts, gold, train, args.seed)
        pairs += more_pairs
        entails += more_entails
    results: dict[str, Any] = {"training_pairs": len(pairs)}
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.environ["ZSLABEL_CACHE_DIR"] = str(Path(scratch) / "cache")  # the int8 export
        model = build_cross_encoder(pairs, entails, Path(scratch) / "model", args.seed)
        for name, (config, texts, gold) in loaded.items():
            rows = evaluation[name]
            results[name] = compare(
                model, config, [texts[i] for i in rows], gold[rows], Path(scratch) / name
            )
            print(json.dumps({name: results[name]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
