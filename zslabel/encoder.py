"""Sentence embeddings with transformers, batched the way that is fast on a CPU.

Texts are deduplicated, tokenised once without padding, sorted by length and cut into batches of
about equal padded size (:mod:`zslabel.batching`), so that each batch pads only to its own
longest text.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zslabel.batching import batch_limits, length_batches
from zslabel.errors import ConfigError, ModelError
from zslabel.models import ResolvedModel, max_input_tokens, quiet_loading
from zslabel.precision import torch_dtype

# all-MiniLM-L6-v2 was trained on 128 tokens and sentence-transformers cuts it at 256.
FALLBACK_MAX_LENGTH = 256


class TextEncoder:
    """Encode texts to L2-normalised sentence embeddings; the model loads on first use."""

    def __init__(
        self,
        model: ResolvedModel,
        *,
        batch_size: int | None = None,
        max_length: int | None = None,
        pooling: str = "auto",
        device: str = "auto",
        precision: str = "fp32",
        batch_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.precision = precision
        self.requested_batch_size = batch_size
        self.requested_batch_tokens = batch_tokens
        self.max_length = max_length or _configured_max_length(model)
        self.pooling = _configured_pooling(model) if pooling == "auto" else pooling
        self.device = device
        self._loaded: tuple[Any, Any, Any] | None = None
        self._lock = threading.Lock()  # task runners may share one encoder between threads

    def _load(self) -> tuple[Any, Any, Any]:
        with self._lock:
            return self._load_once()

    @quiet_loading()
    def _load_once(self) -> tuple[Any, Any, Any]:
        if self._loaded is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            # int8 is a CPU runtime (ONNX Runtime); config refuses int8 with device: cuda.
            device = "cpu" if self.precision == "int8" else pick_device(self.device, torch)
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model.path)
                if self.precision == "int8":
                    from zslabel.onnx import int8_network

                    network = int8_network(
                        self.model, "last_hidden_state", tokenizer.model_input_names
                    )
                    self._loaded = (torch, tokenizer, network)
                    return self._loaded
                network = AutoModel.from_pretrained(
                    self.model.path,
                    trust_remote_code=False,
                    dtype=torch_dtype(self.precision, device, torch),
                ).to(device)
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot load model {self.model.name!r}: {exc}") from None
            network.eval()
            self._loaded = (torch, tokenizer, network)
        return self._loaded

    def encode(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Return an (n, dim) float32 array; ``on_batch`` is told how many texts each batch did.

        Texts longer than ``max_length`` tokens are truncated; see :meth:`encode_chunks`.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        _, tokenizer, _ = self._load()
        # Exact duplicates are common in scraped data: encode each distinct text once.
        unique, inverse, counts = np.unique(
            np.asarray(texts, dtype=object), return_inverse=True, return_counts=True
        )
        ids = tokenizer(list(unique), truncation=True, max_length=self.max_length)["input_ids"]
        report = None if on_batch is None else (lambda rows: on_batch(int(counts[rows].sum())))
        return self._embed(ids, report)[inverse]

    def count_truncated(
        self, texts: Sequence[str], *, overlap: int = 0, max_chunks: int = 1
    ) -> int:
        """How many of ``texts`` do not fit, so that part of them is never read: longer than
        ``max_length`` tokens for :meth:`encode`, or than ``max_chunks`` overlapping windows for
        :meth:`encode_chunks`."""
        if not texts:
            return 0
        _, tokenizer, _ = self._load()
        room = self.max_length - len(tokenizer("")["input_ids"])  # minus special tokens
        readable = room + (max_chunks - 1) * (room - overlap)
        unique, counts = np.unique(np.asarray(texts, dtype=object), return_counts=True)
        # Counted whole on purpose: transformers' once-only "will result in indexing errors"
        # warning is false here (a trial's notebook showed it), so it is marked as given.
        warned = getattr(tokenizer, "deprecation_warnings", None)
        if isinstance(warned, dict):
            warned["sequence-length-is-longer-than-the-specified-maximum"] = True
        lengths = tokenizer(list(unique), add_special_tokens=False, truncation=False)["input_ids"]
        too_long = np.asarray([len(ids) > readable for ids in lengths], dtype=bool)
        return int(counts[too_long].sum())

    def encode_chunks(
        self,
        texts: Sequence[str],
        *,
        overlap: int,
        max_chunks: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """(n, max_chunks, dim) embeddings of overlapping token windows; NaN where none.

        A text of any length is cut into windows of ``max_length`` tokens (special tokens
        included) that overlap by ``overlap`` tokens; windows past ``max_chunks`` are dropped.
        """
        out = np.full((len(texts), max_chunks, self.dimension), np.nan, dtype=np.float32)
        if not texts:
            return out
        _, tokenizer, _ = self._load()
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        room = self.max_length - len(tokenizer("")["input_ids"])  # minus special tokens
        if overlap >= room:
            raise ConfigError(
                f"chunk_overlap ({overlap}) must be smaller than the {room} text tokens that fit "
                f"a window of max_length {self.max_length}"
            )
        # The fast tokenizer cuts the windows itself, special tokens included in each.
        encoded = tokenizer(
            list(unique),
            truncation=True,
            max_length=self.max_length,
            stride=overlap,
            return_overflowing_tokens=True,
        )
        windows, owners, slots = [], [], []
        seen: dict[int, int] = {}
        for ids, owner in zip(
            encoded["input_ids"], encoded["overflow_to_sample_mapping"], strict=True
        ):
            slot = seen.get(owner, 0)
            seen[owner] = slot + 1
            if slot < max_chunks:
                windows.append(ids)
                owners.append(owner)
                slots.append(slot)
        embedded = self._embed(windows, None)
        per_unique = np.full((len(unique), max_chunks, self.dimension), np.nan, dtype=np.float32)
        per_unique[owners, slots] = embedded
        if on_batch is not None:
            on_batch(len(texts))
        return per_unique[inverse]

    def _embed(
        self, ids: Sequence[Sequence[int]], report: Callable[[np.ndarray], None] | None
    ) -> np.ndarray:
        """Embed token id lists in length-sorted batches; ``report`` gets each batch's rows."""
        torch, tokenizer, network = self._load()
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        device = network.device
        lengths = [len(x) for x in ids]
        with torch.inference_mode():
            for rows in length_batches(lengths, *self.batch_limits):
                batch = tokenizer.pad(
                    {"input_ids": [ids[i] for i in rows]}, return_tensors="pt"
                ).to(device)
                hidden = network(**batch).last_hidden_state
                if self.precision == "int8":
                    # In numpy: a torch op this size wakes torch's OpenMP threads, which then
                    # spin against ONNX Runtime's on the same cores (int8 ran 15-20 % slower).
                    mask = batch["attention_mask"].numpy()
                    out[rows] = _normalized(_pool_numpy(hidden.numpy(), mask, self.pooling))
                else:
                    # Summed in fp32: a mean over hundreds of tokens in 16 bits loses digits.
                    pooled = _pool(hidden.float(), batch["attention_mask"], self.pooling)
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                    out[rows] = pooled.cpu().numpy()
                if report is not None:
                    report(rows)
        return out

    @property
    def batch_limits(self) -> tuple[int, int]:
        """(most rows, most padded tokens) of a batch: as asked, else by device."""
        return batch_limits(
            self.device_in_use, self.requested_batch_size, self.requested_batch_tokens
        )

    @property
    def device_in_use(self) -> str:
        if self._loaded is None:
            return "cpu" if self.device == "cpu" else "unknown"
        return str(self._loaded[2].device.type)

    @property
    def dimension(self) -> int:
        config = self.model.read_json("config.json") or {}
        return int(config.get("hidden_size") or config.get("dim") or config.get("d_model") or 0)


@functools.lru_cache(maxsize=4)
def shared_encoder(
    model: ResolvedModel,
    batch_size: int | None,
    max_length: int | None,
    pooling: str,
    device: str,
    precision: str = "fp32",
    batch_tokens: int | None = None,
) -> TextEncoder:
    """One encoder (so one loaded model) per process and setting, however many jobs use it."""
    return TextEncoder(
        model,
        batch_size=batch_size,
        max_length=max_length,
        pooling=pooling,
        device=device,
        precision=precision,
        batch_tokens=batch_tokens,
    )


def _pool(hidden: Any, mask: Any, pooling: str) -> Any:
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _pool_numpy(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """``_pool`` for numpy arrays (the int8 path)."""
    if pooling == "cls":
        return np.asarray(hidden[:, 0])
    weights = mask[..., None].astype(hidden.dtype)
    summed = (hidden * weights).sum(axis=1)
    return np.asarray(summed / np.maximum(weights.sum(axis=1), 1e-9))


def _normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as ``torch.nn.functional.normalize`` does."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def pick_device(requested: str, torch: Any) -> str:
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
    """sentence-transformers' max_seq_length, else 256, never past what the model can read."""
    config = model.read_json("sentence_bert_config.json") or {}
    wanted = int(config.get("max_seq_length") or FALLBACK_MAX_LENGTH)
    return min(wanted, max_input_tokens(model))
