"""Zero-shot labels from sentence-embedding similarity between texts and label descriptions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zslabel.cache import FeatureCache, cache_key
from zslabel.config import EmbeddingSourceSpec, Label
from zslabel.encoder import shared_encoder
from zslabel.models import resolve_model
from zslabel.onnx import require_onnxruntime
from zslabel.precision import precision_identity, precision_provenance, resolve_precision
from zslabel.sources.base import (
    aggregate_per_label,
    independent_probabilities,
    label_prompts,
    softmax,
)
from zslabel.sources.distinct import (
    SIMILAR_PROMPT_COSINE,
    check_distinct_prompts,
    closest_label_pairs,
    label_cosines,
    load_tokenizer,
)
from zslabel.sources.languages import TemplateLanguages

# The manifest carries the label-by-label prompt cosine matrix (the report's heat map) for jobs
# of at most this many labels: it grows with the square of the labels, manifests stay small.
MAX_COSINE_MATRIX_LABELS = 40


class EmbeddingSource:
    """Cosine similarity of each text to each label's descriptions, softmaxed over labels."""

    def __init__(
        self,
        spec: EmbeddingSourceSpec,
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
        self.label_names = [label.name for label in self.labels]
        # What "auto" means on this machine (bf16 where the CPU has bfloat16 units: measured to
        # change under 1 % of top labels); recorded in the cache key and the manifest.
        self.precision = resolve_precision(spec.precision, spec.device, bf16_when_auto=True)
        if self.precision == "int8":
            require_onnxruntime()  # fail when the job is built, not after other sources scored
        self.model = resolve_model(spec.model)
        self.encoder = shared_encoder(
            self.model,
            spec.batch_size,
            spec.max_length,
            spec.pooling,
            spec.device,
            self.precision,
            spec.batch_tokens,
        )
        self._cache = cache
        templates = spec.template if isinstance(spec.template, dict) else {"": spec.template}
        self.prompts, prompt_owner, prompt_slot = _template_prompts(
            self.name, self.labels, templates, load_tokenizer(self.model.path)
        )
        self.examples = [
            (k, label.examples) for k, label in enumerate(self.labels) if label.examples
        ]
        # Column j of the reference matrix (prompts, then example prototypes) is label owner[j].
        self._owner = np.concatenate(
            [prompt_owner, np.asarray([k for k, _ in self.examples], dtype=np.int64)]
        )
        # Per-language templates (None: one template): which rows meet which reference columns.
        self.languages = (
            TemplateLanguages(
                tuple(templates),
                spec.language_column,
                np.concatenate([prompt_slot, np.full(len(self.examples), -1, np.int64)]),
            )
            if isinstance(spec.template, dict)
            else None
        )
        self._references: np.ndarray | None = None

    @property
    def chunks_long_texts(self) -> bool:
        return self.spec.long_texts == "chunk"

    def cache_identity(self) -> dict[str, Any]:
        identity = {
            "kind": "embedding",
            "model": self.model.name,
            "weights_sha256": self.model.weights_sha256,
            "max_length": self.encoder.max_length,
            "pooling": self.encoder.pooling,
        }
        if self.spec.long_texts == "chunk":
            identity["chunks"] = [self.spec.chunk_overlap, self.spec.max_chunks]
        identity.update(precision_identity(self.precision))
        if self.languages:
            # The language slot stored with each row depends on the keys' order and on how
            # languages are found; the templates themselves only shape the references.
            identity["languages"] = {"keys": list(self.languages.keys), "by": self.languages.by}
        return identity

    def featurize(
        self,
        texts: Sequence[str],
        on_batch: Callable[[int], None] | None = None,
        languages: Sequence[object] | None = None,
    ) -> np.ndarray:
        """(n, dim) text embeddings, or (n, max_chunks, dim) window embeddings when chunking;
        per-language templates append each row's language slot, from ``languages`` (the rows'
        ``language_column`` values) or detected (:meth:`TemplateLanguages.with_slots`)."""
        if self.spec.long_texts == "chunk":
            embeddings = self.encoder.encode_chunks(
                texts,
                overlap=self.spec.chunk_overlap,
                max_chunks=self.spec.max_chunks,
                on_batch=on_batch,
            )
        else:
            embeddings = self.encoder.encode(texts, on_batch)
        if self.languages is None:
            return embeddings
        return self.languages.with_slots(embeddings, texts, languages)

    def count_truncated(self, texts: Sequence[str]) -> int:
        """Texts cut at ``max_length`` tokens, or past ``max_chunks`` windows when chunking."""
        if self.chunks_long_texts:
            return self.encoder.count_truncated(
                texts, overlap=self.spec.chunk_overlap, max_chunks=self.spec.max_chunks
            )
        return self.encoder.count_truncated(texts)

    def reference_embeddings(self) -> np.ndarray:
        """One row per prompt, then one prototype per label with examples (their mean, unit)."""
        if self._references is None:
            key = cache_key("prompts", self.cache_identity(), self.prompts, self.examples)
            self._references, _ = self._cache.get_or_compute(key, self._encode_references)
        return self._references

    def _encode_references(self) -> np.ndarray:
        rows = [self.encoder.encode(self.prompts)]
        for _, examples in self.examples:
            mean = self.encoder.encode(list(examples)).mean(axis=0)
            rows.append((mean / np.linalg.norm(mean))[None, :])
        return np.concatenate(rows).astype(np.float32)

    def label_references(self) -> tuple[np.ndarray, np.ndarray]:
        """The reference embeddings (prompts, then example prototypes) and each one's label."""
        return self.reference_embeddings(), self._owner

    def similarities(
        self, features: np.ndarray, references: np.ndarray | None = None
    ) -> np.ndarray:
        """(n, k) cosine similarity of each text to each label (its references aggregated);
        ``references``: in place of :meth:`reference_embeddings` (refined ones, zslabel.refine).

        With chunked features, each window is scored and the windows are aggregated per label.
        """
        if references is None:
            references = self.reference_embeddings()
        if features.ndim == 3:
            return _aggregate_windows(
                self._window_similarities(features, references), self.spec.chunk_aggregate
            )
        return self._by_language(features, references, self._row_scores)

    def _window_similarities(
        self, features: np.ndarray, references: np.ndarray | None = None
    ) -> np.ndarray:
        """(n, windows, k); NaN for windows a text does not have."""
        if references is None:
            references = self.reference_embeddings()
        return self._by_language(features, references, self._window_scores)

    def _by_language(
        self,
        features: np.ndarray,
        references: np.ndarray,
        score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        if self.languages is None:
            return score(features, references, self._owner)
        return self.languages.per_template(features, references, self._owner, score)

    def _row_scores(self, rows: np.ndarray, refs: np.ndarray, owner: np.ndarray) -> np.ndarray:
        return aggregate_per_label(rows @ refs.T, owner, len(self.labels), self.spec.aggregate)

    def _window_scores(self, rows: np.ndarray, refs: np.ndarray, owner: np.ndarray) -> np.ndarray:
        n, windows, dim = rows.shape
        flat = self._row_scores(rows.reshape(n * windows, dim), refs, owner)
        return flat.reshape(n, windows, len(self.labels))

    def deciding_window(self, features: np.ndarray) -> np.ndarray:
        """Per text, the window that scored highest for the text's top label (-1 if unscored)."""
        if features.ndim != 3:
            return np.zeros(len(features), dtype=np.int64)
        windows = self._window_similarities(features)
        top = np.nan_to_num(self.similarities(features), nan=-np.inf).argmax(axis=1)
        at_top = np.take_along_axis(windows, top[:, None, None], axis=2)[:, :, 0]
        filled = np.where(np.isnan(at_top), -np.inf, at_top)
        return np.where(np.isfinite(filled).any(axis=1), filled.argmax(axis=1), -1)

    def probabilities(
        self,
        features: np.ndarray,
        references: np.ndarray | None = None,
        *,
        temperature_scale: float = 1.0,
    ) -> np.ndarray:
        """(n, k) probabilities: the similarities over the temperature times
        ``temperature_scale`` (refined ``references`` are scored at ``refine.temperature_scale``,
        zslabel.refine); NaN feature rows give NaN rows."""
        similarities = self.similarities(features, references)
        temperature = self.spec.temperature * temperature_scale
        if self.multi_label:
            spec = self.spec
            return independent_probabilities(similarities, temperature, spec.within, spec.center)
        return softmax(similarities / temperature)

    def provenance(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "embedding",
            "model": self.model.to_dict(),
            "template": self.spec.template,
            **({"languages": self.languages.describe()} if self.languages else {}),
            "prompts": {
                label.name: [
                    self.prompts[j]
                    for j in np.flatnonzero(self._owner == k)
                    if j < len(self.prompts)
                ]
                for k, label in enumerate(self.labels)
            },
            "examples_per_label": {self.labels[k].name: len(ex) for k, ex in self.examples},
            "aggregate": self.spec.aggregate,
            "temperature": self.spec.temperature,
            **(
                {"within": self.spec.within, "center": self.spec.center} if self.multi_label else {}
            ),
            "max_length": self.encoder.max_length,
            "pooling": self.encoder.pooling,
            "long_texts": self.spec.long_texts,
            **precision_provenance(self.precision),
            "weight": self.weight,
            **self._similar_labels(),
        }

    def label_cosines(self) -> np.ndarray:
        """(k, k) cosine of each pair of labels' closest references (zslabel.sources.distinct);
        with per-language templates, see :meth:`TemplateLanguages.label_cosines`."""
        references, n_labels = self.reference_embeddings(), len(self.labels)
        if self.languages is None:
            return label_cosines(references, self._owner, n_labels)
        return self.languages.label_cosines(references, self._owner, n_labels)

    def _similar_labels(self) -> dict[str, Any]:
        """Labels whose prompts the model places nearly together (the summary warns of them;
        nothing when there are none), and, for jobs of at most MAX_COSINE_MATRIX_LABELS labels,
        the whole label-by-label matrix (rounded to 3 places) that the report draws."""
        cosines = self.label_cosines()
        pairs = closest_label_pairs(cosines, self.label_names, SIMILAR_PROMPT_COSINE)
        described: dict[str, Any] = {"similar_labels": pairs} if pairs else {}
        if len(self.labels) <= MAX_COSINE_MATRIX_LABELS:
            described["prompt_cosine"] = [[round(float(c), 3) for c in row] for row in cosines]
        return described


def _template_prompts(
    source: str, labels: Sequence[Label], templates: dict[str, str], tokenizer: Any
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every template's prompts in turn, each prompt's label and the index of its template;
    each template's prompts checked apart (zslabel.sources.distinct), since a row meets one."""
    names = [label.name for label in labels]
    prompts: list[str] = []
    owners, slots = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for slot, (language, template) in enumerate(templates.items()):
        own, owner = label_prompts(template, labels)
        check_distinct_prompts(source, names, own, owner, tokenizer, language or None)
        prompts += own
        owners.append(owner)
        slots.append(np.full(len(own), slot, dtype=np.int64))
    return prompts, np.concatenate(owners), np.concatenate(slots)


def _aggregate_windows(windows: np.ndarray, how: str) -> np.ndarray:
    """(n, windows, k) -> (n, k), ignoring missing windows; NaN rows for texts with none."""
    present = ~np.isnan(windows[:, :, 0])  # (n, windows)
    any_window = present.any(axis=1)
    if how == "max":
        best = np.where(present[:, :, None], windows, -np.inf).max(axis=1)
    else:
        counts = np.maximum(present.sum(axis=1), 1)[:, None]
        best = np.where(present[:, :, None], windows, 0.0).sum(axis=1) / counts
    result: np.ndarray = np.where(any_window[:, None], best, np.nan)
    return result
