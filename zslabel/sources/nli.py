"""Zero-shot labels from a cross-encoder NLI model: does the text entail each label's hypothesis?

Every (text, hypothesis) pair is one forward pass, so the pairs of all texts are batched
together: texts are deduplicated, each pair is tokenised once without padding (the text is
truncated, never the hypothesis), pairs are sorted by length and cut into batches that pad only
to their own longest pair. A feature is one number per pair, the entailment logit minus the
contradiction logit; ``probabilities`` aggregates them per label and softmaxes over labels, so a
changed temperature or aggregation never re-runs the model.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from zslabel.cache import FeatureCache
from zslabel.config import Label, NliSourceSpec
from zslabel.encoder import _pick_device
from zslabel.errors import ConfigError, ModelError
from zslabel.models import ResolvedModel, resolve_model
from zslabel.sources.base import softmax

# Cross-encoders are trained on short pairs; 512 tokens is the most any common NLI model reads.
MAX_LENGTH_CAP = 512
# Pairs tokenised at a time: bounds the memory of token lists for a large shard (16k texts x many
# hypotheses), while leaving enough pairs per chunk for length sorting to pay.
PAIRS_PER_CHUNK = 32_768
CONTRADICTION_NAMES = ("contradiction", "not_entailment", "not entailment", "not-entailment")
EXAMPLE_MODEL = "facebook/bart-large-mnli"


class NliSource:
    """Entailment of one hypothesis per (label, description), aggregated and softmaxed."""

    def __init__(self, spec: NliSourceSpec, labels: Sequence[Label], cache: FeatureCache) -> None:
        assert spec.name is not None  # JobConfig names every source
        self.name = spec.name
        self.weight = spec.weight
        self.spec = spec
        self.labels = tuple(labels)
        self.model = resolve_model(spec.model)
        # Checked from config.json before any weights load, so a wrong model fails the job early.
        self.entailment_index, self.contradiction_index = entailment_indices(self.model)
        self.max_length = spec.max_length or configured_max_length(self.model)
        self._cache = cache  # unused: NLI features depend on the hypotheses, not shared prompts
        self.hypotheses = [
            spec.hypothesis.format(label=label.name, description=description)
            for label in self.labels
            for description in label.descriptions
        ]
        # Column j of the feature matrix belongs to label owner[j].
        self._owner = np.repeat(
            np.arange(len(self.labels)), [len(label.descriptions) for label in self.labels]
        )
        self._network = shared_nli_model(self.model, spec.device)
        self._hypotheses_fit = False

    def cache_identity(self) -> dict[str, Any]:
        return {
            "kind": "nli",
            "model": self.model.name,
            "weights_sha256": self.model.weights_sha256,
            "max_length": self.max_length,
            "hypotheses": list(self.hypotheses),
        }

    def featurize(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """(n, hypotheses) float32 entailment scores; ``on_batch`` is told texts done."""
        n_hyp = len(self.hypotheses)
        if not texts:
            return np.zeros((0, n_hyp), dtype=np.float32)
        torch, tokenizer, network = self._network.load()
        self._check_hypotheses_fit(tokenizer)
        unique, inverse, counts = np.unique(
            np.asarray(texts, dtype=object), return_inverse=True, return_counts=True
        )
        scores = np.empty(len(unique) * n_hyp, dtype=np.float32)  # pair p = text p // H
        progress = _Progress(on_batch, n_hyp)
        device = next(network.parameters()).device
        texts_per_chunk = max(1, PAIRS_PER_CHUNK // n_hyp)
        with torch.inference_mode():
            for first in range(0, len(unique), texts_per_chunk):
                chunk = unique[first : first + texts_per_chunk]
                encoded = tokenizer(
                    [str(text) for text in chunk for _ in range(n_hyp)],
                    self.hypotheses * len(chunk),
                    truncation="only_first",
                    max_length=self.max_length,
                    padding=False,
                    return_attention_mask=False,
                )
                fields = [key for key in ("input_ids", "token_type_ids") if key in encoded]
                order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
                for start in range(0, len(order), self.spec.batch_size):
                    rows = order[start : start + self.spec.batch_size]
                    batch = tokenizer.pad(
                        {key: [encoded[key][i] for i in rows] for key in fields},
                        return_tensors="pt",
                    ).to(device)
                    logits = network(**batch).logits.float()
                    scores[first * n_hyp + rows] = self._score(torch, logits).cpu().numpy()
                    progress.add(counts[first + rows // n_hyp])
        progress.finish(len(texts))
        return scores.reshape(len(unique), n_hyp)[inverse]

    def _score(self, torch: Any, logits: Any) -> Any:
        entail = logits[:, self.entailment_index]
        if self.contradiction_index is not None:
            return entail - logits[:, self.contradiction_index]
        others = [i for i in range(logits.shape[1]) if i != self.entailment_index]
        return entail - torch.logsumexp(logits[:, others], dim=1)

    def _check_hypotheses_fit(self, tokenizer: Any) -> None:
        if self._hypotheses_fit:
            return
        longest = max(
            len(tokenizer(h, add_special_tokens=False)["input_ids"]) for h in self.hypotheses
        )
        needed = longest + tokenizer.num_special_tokens_to_add(pair=True) + 1
        if needed > self.max_length:
            raise ConfigError(
                f"source {self.name!r}: a hypothesis is {longest} tokens, which leaves no room for "
                f"the text within max_length {self.max_length}; shorten it or raise max_length"
            )
        self._hypotheses_fit = True

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(n, k) per-label score: each label's hypotheses aggregated by max or mean."""
        per_hypothesis = features.astype(np.float64)
        if len(self._owner) == len(self.labels):
            return per_hypothesis
        reduce = np.max if self.spec.aggregate == "max" else np.mean
        return np.stack(
            [reduce(per_hypothesis[:, self._owner == k], axis=1) for k in range(len(self.labels))],
            axis=1,
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return softmax(self.scores(features) / self.spec.temperature)

    def provenance(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "nli",
            "model": self.model.to_dict(),
            "hypothesis": self.spec.hypothesis,
            "hypotheses": {
                label.name: [self.hypotheses[j] for j in np.flatnonzero(self._owner == k)]
                for k, label in enumerate(self.labels)
            },
            "entailment_label": self.entailment_index,
            "contradiction_label": self.contradiction_index,
            "aggregate": self.spec.aggregate,
            "temperature": self.spec.temperature,
            "max_length": self.max_length,
            "weight": self.weight,
        }


class _Progress:
    """Report pairs done as texts done: each pair is 1/H of a text, remainders carried."""

    def __init__(self, on_batch: Callable[[int], None] | None, n_hyp: int) -> None:
        self.on_batch = on_batch
        self.n_hyp = n_hyp
        self.units = 0  # texts done, times H (duplicates counted)
        self.reported = 0

    def add(self, pair_counts: np.ndarray) -> None:
        self.units += int(pair_counts.sum())
        self._report(self.units // self.n_hyp)

    def finish(self, total: int) -> None:
        self._report(total)

    def _report(self, done: int) -> None:
        if self.on_batch is not None and done > self.reported:
            self.on_batch(done - self.reported)
        self.reported = max(self.reported, done)


class NliModel:
    """A sequence-classification model and its tokenizer, loaded on first use."""

    def __init__(self, model: ResolvedModel, device: str) -> None:
        self.model = model
        self.device = device
        self._loaded: tuple[Any, Any, Any] | None = None
        self._lock = threading.Lock()  # task runners may share one model between threads

    def load(self) -> tuple[Any, Any, Any]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> tuple[Any, Any, Any]:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        device = _pick_device(self.device, torch)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model.path)
            network, info = AutoModelForSequenceClassification.from_pretrained(
                self.model.path,
                trust_remote_code=False,
                # fp16 halves memory traffic on a GPU; on a CPU it is slower than fp32.
                dtype=torch.float16 if device == "cuda" else torch.float32,
                output_loading_info=True,
            )
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load model {self.model.name!r}: {exc}") from None
        # transformers fills a missing classification head with random weights, and only warns.
        prefix = f"{network.base_model_prefix}."
        head = sorted(key for key in info.get("missing_keys", ()) if not key.startswith(prefix))
        if head:
            raise ModelError(
                f"model {self.model.name!r} has no trained classification head (missing "
                f"{', '.join(head)}): it is not an NLI model; use e.g. {EXAMPLE_MODEL}"
            )
        network.to(device).eval()
        return torch, tokenizer, network


@functools.lru_cache(maxsize=4)
def shared_nli_model(model: ResolvedModel, device: str) -> NliModel:
    """One loaded model per process and device, however many sources or jobs use it."""
    return NliModel(model, device)


def entailment_indices(model: ResolvedModel) -> tuple[int, int | None]:
    """Indices of the entailment and (if any) contradiction logits, from config.json."""
    config = model.read_json("config.json") or {}
    names = _label_names(config)
    lowered = {index: name.strip().lower() for index, name in names.items()}
    entailment = [i for i, name in lowered.items() if name.startswith("entail")]
    if len(entailment) != 1 or len(names) < 2:
        listed = ", ".join(names[i] for i in sorted(names)) or "none"
        problem = "no entailment label" if not entailment else "several entailment labels"
        raise ModelError(
            f"model {model.name!r} has {problem} (labels: {listed}): it is not an NLI model; "
            f"use e.g. {EXAMPLE_MODEL}"
        )
    contradiction = [i for i, name in lowered.items() if name in CONTRADICTION_NAMES]
    return entailment[0], contradiction[0] if len(contradiction) == 1 else None


def _label_names(config: Mapping[str, Any]) -> dict[int, str]:
    id2label = config.get("id2label")
    if isinstance(id2label, dict) and id2label:
        return {int(index): str(name) for index, name in id2label.items()}
    label2id = config.get("label2id")
    if isinstance(label2id, dict) and label2id:
        return {int(index): str(name) for name, index in label2id.items()}
    count = int(config.get("num_labels") or 2)  # what transformers assumes without a mapping
    return {i: f"LABEL_{i}" for i in range(count)}


def configured_max_length(model: ResolvedModel) -> int:
    """min(tokenizer's model_max_length, 512), read from the files without loading anything.

    Tokenizers that set no real limit (a huge sentinel, or none) fall back to the model's
    position embeddings, so that a long text is never fed past them.
    """
    tokenizer = model.read_json("tokenizer_config.json") or {}
    config = model.read_json("config.json") or {}
    limit = tokenizer.get("model_max_length")
    if not isinstance(limit, int | float) or limit > 1_000_000:
        limit = config.get("max_position_embeddings")
    if not isinstance(limit, int | float) or limit <= 0:
        return MAX_LENGTH_CAP
    return min(int(limit), MAX_LENGTH_CAP)
