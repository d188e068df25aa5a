"""Sentence embeddings with transformers, batched the way that is fast on a CPU.

Texts are deduplicated, tokenised once without padding, sorted by length and cut into batches, so
that each batch pads only to its own longest text (padding unsorted batches cost 171 % here).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zslabel.errors import ModelError
from zslabel.models import ResolvedModel

# all-MiniLM-L6-v2 was trained on 128 tokens and sentence-transformers cuts it at 256.
FALLBACK_MAX_LENGTH = 256


class TextEncoder:
    """Encode texts to L2-normalised sentence embeddings; the model loads on first use."""

    def __init__(
        self,
        model: ResolvedModel,
        *,
        batch_size: int = 32,
        max_length: int | None = None,
        pooling: str = "auto",
        device: str = "auto",
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.max_length = max_length or _configured_max_length(model)
        self.pooling = _configured_pooling(model) if pooling == "auto" else pooling
        self.device = device
        self._loaded: tuple[Any, Any, Any] | None = None
        self._lock = threading.Lock()  # task runners may share one encoder between threads

    def _load(self) -> tuple[Any, Any, Any]:
        with self._lock:
            return self._load_once()

    def _load_once(self) -> tuple[Any, Any, Any]:
        if self._loaded is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            device = _pick_device(self.device, torch)
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model.path)
                network = AutoModel.from_pretrained(
                    self.model.path,
                    trust_remote_code=False,
                    # fp16 halves memory traffic on a GPU; on a CPU it is slower than fp32.
                    dtype=torch.float16 if device == "cuda" else torch.float32,
                ).to(device)
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot load model {self.model.name!r}: {exc}") from None
            network.eval()
            self._loaded = (torch, tokenizer, network)
        return self._loaded

    def encode(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Return an (n, dim) float32 array; ``on_batch`` is told how many texts each batch did."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        torch, tokenizer, network = self._load()
        # Exact duplicates are common in scraped data: encode each distinct text once.
        unique, inverse, counts = np.unique(
            np.asarray(texts, dtype=object), return_inverse=True, return_counts=True
        )
        encoded = tokenizer(
            list(unique), truncation=True, max_length=self.max_length, padding=False
        )["input_ids"]
        order = np.argsort([len(ids) for ids in encoded], kind="stable")
        out = np.empty((len(unique), self.dimension), dtype=np.float32)
        device = next(network.parameters()).device
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = tokenizer.pad(
                    {"input_ids": [encoded[i] for i in rows]}, return_tensors="pt"
                ).to(device)
                hidden = network(**batch).last_hidden_state
                pooled = _pool(hidden, batch["attention_mask"], self.pooling)
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[rows] = pooled.cpu().numpy()
                if on_batch is not None:
                    on_batch(int(counts[rows].sum()))
        return out[inverse]

    @property
    def dimension(self) -> int:
        config = self.model.read_json("config.json") or {}
        return int(config.get("hidden_size") or config.get("dim") or config.get("d_model") or 0)


@functools.lru_cache(maxsize=4)
def shared_encoder(
    model: ResolvedModel, batch_size: int, max_length: int | None, pooling: str, device: str
) -> TextEncoder:
    """One encoder (so one loaded model) per process and setting, however many jobs use it."""
    return TextEncoder(
        model, batch_size=batch_size, max_length=max_length, pooling=pooling, device=device
    )


def _pool(hidden: Any, mask: Any, pooling: str) -> Any:
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _pick_device(requested: str, torch: Any) -> str:
    if requested == "cuda" and not torch.cuda.is_available():
        raise ModelError("device: cuda was requested, but torch sees no CUDA device")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _configured_pooling(model: ResolvedModel) -> str:
    """sentence-transformers models say how they pool in 1_Pooling/config.json."""
    config = model.read_json("1_Pooling/config.json") or {}
    return "cls" if config.get("pooling_mode_cls_token") else "mean"


def _configured_max_length(model: ResolvedModel) -> int:
    config = model.read_json("sentence_bert_config.json") or {}
    return int(config.get("max_seq_length") or FALLBACK_MAX_LENGTH)
