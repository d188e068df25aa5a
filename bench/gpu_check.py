"""Check the CUDA path of the embedding encoder against the CPU path, and time both.

    python bench/gpu_check.py [--texts 4000] [--out gpu_check.json]

Builds a randomly initialised model of all-MiniLM-L6-v2's shape (6 layers, 384 hidden) in a temp
folder, so no weights are needed, and encodes the same generated texts on the CPU (fp32) and with
``device: auto`` on CUDA (fp16 and batches of 256, what zslabel picks there). Prints JSON: cosine
agreement of the embeddings, top-1 agreement of label similarities, texts/s on each device (and on
CUDA at the CPU's batch size of 32) and the GPU/CPU ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from zslabel.encoder import TextEncoder
from zslabel.models import resolve_model

WORDS = [
    "the",
    "a",
    "market",
    "team",
    "storm",
    "rain",
    "goal",
    "bank",
    "stocks",
    "league",
    "forecast",
    "match",
    "sunny",
    "interest",
    "price",
    "player",
    "election",
    "minister",
    "court",
    "science",
    "phone",
    "chip",
    "launch",
    "film",
    "music",
    "award",
    "school",
    "health",
]


def build_model(folder: Path) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS)), ".", ","]
    BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder


def texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(5, 120))) + "." for _ in range(n)]


def timed(encoder: TextEncoder, batch: list[str]) -> tuple[np.ndarray, float]:
    encoder.encode(batch[:64])  # warm-up: first batches of a process are slower
    start = time.perf_counter()
    out = encoder.encode(batch)
    return out, len(batch) / (time.perf_counter() - start)


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--out")
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        model = resolve_model(str(build_model(Path(tmp))))
        sample = texts(args.texts)
        cpu, cpu_rate = timed(TextEncoder(model, device="cpu"), sample)
        result: dict[str, Any] = {"texts": len(sample), "cpu_texts_per_s": round(cpu_rate, 1)}
        if torch.cuda.is_available():
            gpu_encoder = TextEncoder(model, device="auto")
            gpu, gpu_rate = timed(gpu_encoder, sample)
            small = TextEncoder(model, device="auto", batch_size=32)
            _, small_rate = timed(small, sample)
            cosine = np.sum(cpu * gpu, axis=1)
            prompts = TextEncoder(model, device="cpu").encode(texts(8, seed=1))
            agree = np.mean((cpu @ prompts.T).argmax(1) == (gpu @ prompts.T).argmax(1))
            result.update(
                device=torch.cuda.get_device_name(0),
                gpu_dtype=str(next(gpu_encoder._load()[2].parameters()).dtype),
                gpu_batch_limits=list(gpu_encoder.batch_limits),
                gpu_texts_per_s=round(gpu_rate, 1),
                gpu_batch32_texts_per_s=round(small_rate, 1),
                ratio_gpu_to_cpu=round(gpu_rate / cpu_rate, 2),
                cosine_min=round(float(cosine.min()), 6),
                cosine_mean=round(float(cosine.mean()), 6),
                top1_agreement_8_labels=round(float(agree), 4),
            )
        else:
            result["device"] = "no CUDA device"
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
