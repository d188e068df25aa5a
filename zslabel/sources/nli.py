"""Zero-shot labels from a cross-encoder NLI model: does the text entail each label's hypothesis?

Every (text, hypothesis) pair is one forward pass, so the pairs of all texts are batched
together: texts are deduplicated, each pair is tokenised once without padding (the text is
truncated, never the hypothesis), pairs are sorted by length and cut into batches that pad only
to their own longest pair. The features of a pair are its entailment and contradiction logits;
``probabilities`` aggregates them per label, so a changed temperature, aggregation or mode never
re-runs the model:

- single-label: a softmax over the labels' entailment logits (as the transformers zero-shot
  pipeline does with one label per text);
- multi-label: each label on its own, sigmoid(entailment - contradiction), i.e. a softmax over
  the two logits of each pair.

With a ``shortlist`` (a cascade for large label sets), the runner passes each text's candidate
labels, the top k of a cheaper source, to ``featurize_candidates``: only their hypotheses are
scored, the others stay NaN, and labels with no scored hypothesis get probability 0.

The model and its label layout are :mod:`zslabel.sources.nli_model`; the shortlist mask is
:mod:`zslabel.sources.shortlist`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zslabel.batching import batch_limits, length_batches
from zslabel.cache import FeatureCache
from zslabel.config import Label, NliSourceSpec
from zslabel.errors import ConfigError
from zslabel.models import resolve_model
from zslabel.onnx import require_onnxruntime
from zslabel.precision import (
    precision_identity,
    precision_provenance,
    resolve_precision,
)
from zslabel.sources.base import (
    Source,
    aggregate_per_label,
    label_prompts,
    sigmoid,
    softmax,
)
from zslabel.sources.distinct import check_distinct_prompts, load_tokenizer
from zslabel.sources.nli_model import configured_max_length, entailment_indices, shared_nli_model
from zslabel.sources.shortlist import shortlist_mask

__all__ = ["NliSource", "shortlist_mask"]

# Pairs tokenised at a time: bounds the memory of token lists for a large shard (16k texts x many
# hypotheses), while leaving enough pairs per chunk for length sorting to pay.
PAIRS_PER_CHUNK = 32_768


class NliSource:
    """Entailment of one hypothesis per (label, description), aggregated and softmaxed."""

    def __init__(
        self,
        spec: NliSourceSpec,
        labels: Sequence[Label],
        cache: FeatureCache,
        *,
        multi_label: bool = False,
    ) -> None:
        assert spec.name is not None  # JobConfig names every source
        self.name = spec.name
        self.weight = spec.weight
        self.spec = spec
        self.multi_label = multi_label
        self.labels = tuple(labels)
        # What "auto" means: fp32 (bf16 changed over 1 % of a cross-encoder's labels; README).
        self.precision = resolve_precision(spec.precision, spec.device, bf16_when_auto=False)
        if self.precision == "int8":
            require_onnxruntime()  # fail when the job is built, not after other sources scored
        self.model = resolve_model(spec.model)
        # Checked from config.json before any weights load, so a wrong model fails the job early.
        self.entailment_index, self.contradiction_index = entailment_indices(self.model)
        self.max_length = spec.max_length or configured_max_length(self.model)
        self._cache = cache  # unused: NLI features depend on the hypotheses, not shared prompts
        # Column j of the feature matrix belongs to label owner[j].
        self.hypotheses, self._owner = label_prompts(spec.hypothesis, self.labels)
        check_distinct_prompts(
            self.name,
            [label.name for label in self.labels],
            self.hypotheses,
            self._owner,
            load_tokenizer(self.model.path),
        )
        self._network = shared_nli_model(self.model, spec.device, self.precision)
        self._room: int | None = None  # text tokens beside the longest hypothesis
        self._shortlist_source: Source | None = None

    def shortlist_from(self, source: Source) -> None:
        """Link the earlier source that ``spec.shortlist`` names: the cache key depends on it."""
        self._shortlist_source = source

    def cache_identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {
            "kind": "nli",
            "model": self.model.name,
            "weights_sha256": self.model.weights_sha256,
            "max_length": self.max_length,
            "hypotheses": list(self.hypotheses),
            "features": "entailment_and_contradiction_logits",
        }
        if self.spec.shortlist is not None:
            identity["shortlist"] = self._shortlist_identity()
        identity.update(precision_identity(self.precision))
        return identity

    def _shortlist_identity(self) -> dict[str, Any]:
        """What decides the candidates: k, and everything the shortlist source's top k depend on.

        Its cached features (cache_identity), its probability settings (provenance, less what
        cannot change a ranking) and the labels with their examples: conservative, so that a
        changed shortlist source always re-scores this one.
        """
        assert self.spec.shortlist is not None
        shortlisted = self._shortlist_source
        if shortlisted is None:
            raise ConfigError(
                f"source {self.name!r}: shortlist source {self.spec.shortlist.source!r} is not "
                "linked; build the source through a LabelingJob"
            )
        settings = {
            key: value
            for key, value in shortlisted.provenance().items()
            if key not in ("name", "weight", "model")  # the model is in cache_identity
        }
        return {
            "k": self.spec.shortlist.k,
            "source": shortlisted.cache_identity(),
            "settings": settings,
            "labels": [label.model_dump(mode="json") for label in self.labels],
        }

    def featurize(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """(n, hypotheses, 2) float32 entailment and contradiction logits; ``on_batch`` is told
        texts done."""
        return self.featurize_candidates(texts, None, on_batch)

    def featurize_candidates(
        self,
        texts: Sequence[str],
        candidates: np.ndarray | None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Like ``featurize``, scoring only each text's candidate labels.

        ``candidates`` is an (n, labels) boolean mask (see :func:`shortlist_mask`), or None for
        every label; the hypotheses of other labels are NaN in the (n, hypotheses, 2) result.
        """
        n_hyp = len(self.hypotheses)
        if not texts:
            return np.zeros((0, n_hyp, 2), dtype=np.float32)
        torch, tokenizer, network = self._network.load()
        self._text_room(tokenizer)  # fails before scoring when a hypothesis leaves no room
        unique, inverse, counts = np.unique(
            np.asarray(texts, dtype=object), return_inverse=True, return_counts=True
        )
        row_wanted = None  # (n, hypotheses): the pairs each row asked for
        if candidates is None:
            wanted = np.ones((len(unique), n_hyp), dtype=bool)
        else:
            candidates = np.asarray(candidates, dtype=bool)
            if candidates.shape != (len(texts), len(self.labels)):
                raise ValueError(
                    f"candidates must be a ({len(texts)}, {len(self.labels)}) mask, "
                    f"got shape {candidates.shape}"
                )
            # A text repeated with different candidates is scored for all of them once.
            row_wanted = candidates[:, self._owner]
            wanted = np.zeros((len(unique), n_hyp), dtype=bool)
            np.logical_or.at(wanted, inverse, row_wanted)
        text_of, hyp_of = np.nonzero(wanted)  # the pairs, text by text
        scores = np.full((len(unique), n_hyp, 2), np.nan, dtype=np.float32)
        # Each pair is its share of the rows its text stands for.
        share = counts / np.maximum(wanted.sum(axis=1), 1)
        progress = _Progress(on_batch)
        device = network.device
        limits = batch_limits(device.type, self.spec.batch_size, self.spec.batch_tokens)
        with torch.inference_mode():
            for first in range(0, len(text_of), PAIRS_PER_CHUNK):
                chunk_texts = text_of[first : first + PAIRS_PER_CHUNK]
                chunk_hyps = hyp_of[first : first + PAIRS_PER_CHUNK]
                encoded = tokenizer(
                    [str(unique[i]) for i in chunk_texts],
                    [self.hypotheses[j] for j in chunk_hyps],
                    truncation="only_first",
                    max_length=self.max_length,
                    padding=False,
                    return_attention_mask=False,
                )
                fields = [key for key in ("input_ids", "token_type_ids") if key in encoded]
                lengths = [len(ids) for ids in encoded["input_ids"]]
                for rows in length_batches(lengths, *limits):
                    batch = tokenizer.pad(
                        {key: [encoded[key][i] for i in rows] for key in fields},
                        return_tensors="pt",
                    ).to(device)
                    logits = network(**batch).logits.float()
                    scored = self._pair_logits(torch, logits).cpu().numpy()
                    scores[chunk_texts[rows], chunk_hyps[rows]] = scored
                    progress.add(float(share[chunk_texts[rows]].sum()))
        progress.finish(len(texts))
        features = scores[inverse]
        if row_wanted is not None:
            features[~row_wanted] = np.nan
        return features

    def _pair_logits(self, torch: Any, logits: Any) -> Any:
        """(pairs, 2): entailment, and contradiction (or every non-entailment class pooled)."""
        entail = logits[:, self.entailment_index]
        if self.contradiction_index is not None:
            against = logits[:, self.contradiction_index]
        else:
            others = [i for i in range(logits.shape[1]) if i != self.entailment_index]
            against = torch.logsumexp(logits[:, others], dim=1)
        return torch.stack([entail, against], dim=1)

    def count_truncated(self, texts: Sequence[str]) -> int:
        """Texts cut to fit beside the longest hypothesis within ``max_length`` tokens."""
        if not texts:
            return 0
        _, tokenizer, _ = self._network.load()
        room = self._text_room(tokenizer)
        unique, counts = np.unique(np.asarray(texts, dtype=object), return_counts=True)
        encoded = tokenizer(list(unique), add_special_tokens=False, truncation=False)
        too_long = np.asarray([len(ids) > room for ids in encoded["input_ids"]], dtype=bool)
        return int(counts[too_long].sum())

    def _text_room(self, tokenizer: Any) -> int:
        """Text tokens that fit beside the longest hypothesis; an error when there are none."""
        if self._room is None:
            longest = max(
                len(tokenizer(h, add_special_tokens=False)["input_ids"]) for h in self.hypotheses
            )
            room = self.max_length - longest - tokenizer.num_special_tokens_to_add(pair=True)
            if room < 1:
                raise ConfigError(
                    f"source {self.name!r}: a hypothesis is {longest} tokens, which leaves no "
                    f"room for the text within max_length {self.max_length}; shorten it or "
                    "raise max_length"
                )
            self._room = room
        return self._room

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(n, k) per-label logit: each label's scored hypotheses aggregated by max or mean.

        Single-label: the entailment logit; multi-label: entailment minus contradiction. NaN
        where a label has no scored hypothesis (not shortlisted, or an invalid text).
        """
        logits = features.astype(np.float64)
        per_hypothesis = logits[..., 0] - logits[..., 1] if self.multi_label else logits[..., 0]
        return aggregate_per_label(
            per_hypothesis, self._owner, len(self.labels), self.spec.aggregate
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = self.scores(features) / self.spec.temperature
        if self.multi_label:
            # Unscored labels stay NaN: the source abstains on them, others may decide.
            return sigmoid(logits)
        # Labels left out of a row's shortlist get probability 0; rows with no score at all
        # (invalid texts) stay NaN rows.
        unscored = np.isnan(logits)
        partial = unscored & ~unscored.all(axis=1, keepdims=True)
        return softmax(np.where(partial, -np.inf, logits))

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
            "mode": "multi_label" if self.multi_label else "single_label",
            "max_length": self.max_length,
            **precision_provenance(self.precision),
            "weight": self.weight,
            "shortlist": (
                None if self.spec.shortlist is None else self.spec.shortlist.model_dump(mode="json")
            ),
        }


class _Progress:
    """Report pairs done as texts done: each pair is its share of a text, remainders carried."""

    def __init__(self, on_batch: Callable[[int], None] | None) -> None:
        self.on_batch = on_batch
        self.units = 0.0  # texts done, fractions of a text included (duplicates counted)
        self.reported = 0

    def add(self, texts: float) -> None:
        self.units += texts
        # The small allowance absorbs rounding in the sum of shares.
        self._report(int(self.units + 1e-6))

    def finish(self, total: int) -> None:
        self._report(total)

    def _report(self, done: int) -> None:
        if self.on_batch is not None and done > self.reported:
            self.on_batch(done - self.reported)
        self.reported = max(self.reported, done)
