"""Zero-shot image labels from CLIP: similarity of each image to each label's text prompts.

Features are the images' unit embeddings (cached per shard), so prompts, temperature and
aggregation change without re-running the vision model. Prompt embeddings are computed once per
run. Single-label: a softmax over labels of similarity x the model's learned logit scale (as CLIP
was trained). Multi-label: as the embedding source (see ``independent_probabilities``).

Images that are missing or cannot be decoded get NaN features: their rows become invalid with
the reason ``unreadable_image``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zslabel.cache import FeatureCache, cache_key
from zslabel.config import ClipSourceSpec, Label
from zslabel.encoder import pick_device
from zslabel.errors import ModelError
from zslabel.images import load_image, require_pillow
from zslabel.models import ResolvedModel, quiet_loading, resolve_model
from zslabel.precision import (
    precision_identity,
    precision_provenance,
    resolve_precision,
    torch_dtype,
)
from zslabel.sources.base import (
    aggregate_per_label,
    independent_probabilities,
    label_prompts,
    softmax,
)
from zslabel.sources.distinct import check_distinct_prompts, load_tokenizer

EXAMPLE_MODEL = "openai/clip-vit-base-patch32"


class ClipSource:
    """Cosine similarity of each image to each label's prompts, aggregated per label."""

    def __init__(
        self,
        spec: ClipSourceSpec,
        labels: Sequence[Label],
        cache: FeatureCache,
        *,
        multi_label: bool = False,
    ) -> None:
        assert spec.name is not None  # JobConfig names every source
        require_pillow()
        self.name = spec.name
        self.weight = spec.weight
        self.spec = spec
        self.column = spec.column
        self.multi_label = multi_label
        self.labels = tuple(labels)
        # What "auto" means: fp32 (bf16's effect on CLIP labels is not measured; README).
        self.precision = resolve_precision(spec.precision, spec.device, bf16_when_auto=False)
        self.model = resolve_model(spec.model)
        _check_is_clip(self.model)
        self._cache = cache
        self.prompts, self._owner = label_prompts(spec.template, self.labels)
        check_distinct_prompts(
            self.name,
            [label.name for label in self.labels],
            self.prompts,
            self._owner,
            load_tokenizer(self.model.path),
        )
        self._network = shared_clip_model(self.model, spec.device, self.precision)
        self._references: np.ndarray | None = None

    def cache_identity(self) -> dict[str, Any]:
        return {
            "kind": "clip",
            "model": self.model.name,
            "weights_sha256": self.model.weights_sha256,
            "preprocessor": self.model.read_json("preprocessor_config.json"),
            **precision_identity(self.precision),
        }

    def featurize(
        self, images: Sequence[Any], /, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """(n, dim) unit image embeddings; NaN rows for images that cannot be decoded."""
        clip = self._network.load()
        features = np.full((len(images), clip.dim), np.nan, dtype=np.float32)
        size = self.spec.batch_size
        for start in range(0, len(images), size):
            decoded = [(i, load_image(ref)) for i, ref in enumerate(images[start : start + size])]
            readable = [(i, image) for i, image in decoded if image is not None]
            if readable:
                rows = [start + i for i, _ in readable]
                features[rows] = clip.embed_images([image for _, image in readable])
            if on_batch is not None:
                on_batch(len(decoded))
        return features

    def reference_embeddings(self) -> np.ndarray:
        """(prompts, dim) unit prompt embeddings, and the learned logit scale in the last row."""
        if self._references is None:
            key = cache_key("clip-prompts", self.cache_identity(), self.prompts)
            self._references, _ = self._cache.get_or_compute(key, self._encode_references)
        return self._references

    def _encode_references(self) -> np.ndarray:
        clip = self._network.load()
        scale = np.full((1, clip.dim), clip.logit_scale, dtype=np.float32)
        return np.concatenate([clip.embed_texts(self.prompts), scale]).astype(np.float32)

    def label_references(self) -> tuple[np.ndarray, np.ndarray]:
        """The prompt embeddings (without the logit scale row) and each one's label."""
        return self.reference_embeddings()[:-1], self._owner

    def similarities(
        self, features: np.ndarray, references: np.ndarray | None = None
    ) -> np.ndarray:
        """(n, k) cosine similarity of each image to each label (its prompts aggregated);
        ``references``: in place of the prompt embeddings (refined ones, zslabel.refine)."""
        if references is None:
            references = self.reference_embeddings()[:-1]
        per_prompt: np.ndarray = features.astype(np.float64) @ references.T
        return aggregate_per_label(per_prompt, self._owner, len(self.labels), self.spec.aggregate)

    def temperature(self) -> float:
        if self.spec.temperature is not None:
            return self.spec.temperature
        return 1.0 / float(self.reference_embeddings()[-1, 0])

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
        temperature = self.temperature() * temperature_scale
        if self.multi_label:
            spec = self.spec
            return independent_probabilities(similarities, temperature, spec.within, spec.center)
        return softmax(similarities / temperature)

    def provenance(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "clip",
            "model": self.model.to_dict(),
            "column": self.column,
            "template": self.spec.template,
            "prompts": {
                label.name: [self.prompts[j] for j in np.flatnonzero(self._owner == k)]
                for k, label in enumerate(self.labels)
            },
            "aggregate": self.spec.aggregate,
            "temperature": self.spec.temperature,
            **(
                {"within": self.spec.within, "center": self.spec.center} if self.multi_label else {}
            ),
            **precision_provenance(self.precision),
            "weight": self.weight,
        }


class LoadedClip:
    """A CLIP model with its tokenizer and image processor, embedding to unit vectors."""

    def __init__(self, torch: Any, tokenizer: Any, processor: Any, network: Any) -> None:
        self.torch, self.tokenizer = torch, tokenizer
        self.processor, self.network = processor, network
        self.device = next(network.parameters()).device
        self.dim = int(network.config.projection_dim)
        self.logit_scale = float(network.logit_scale.exp().item())
        self._lock = threading.Lock()

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        with self._lock, self.torch.inference_mode():
            output = self.network.get_image_features(
                pixel_values=pixels.to(self.device, self.network.dtype)
            )
        return _unit(output)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        encoded = self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        with self._lock, self.torch.inference_mode():
            output = self.network.get_text_features(
                input_ids=encoded["input_ids"].to(self.device),
                attention_mask=encoded["attention_mask"].to(self.device),
            )
        return _unit(output)


def _unit(output: Any) -> np.ndarray:
    # transformers 5 returns a model output with the projected embedding as pooler_output;
    # transformers 4 returned the tensor itself.
    tensor = getattr(output, "pooler_output", output)
    embeddings = tensor.float().cpu().numpy()
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    unit: np.ndarray = embeddings / np.maximum(norms, 1e-12)
    return unit


class ClipModel:
    """Loaded on first use, once per process, device and precision."""

    def __init__(self, model: ResolvedModel, device: str, precision: str = "fp32") -> None:
        self.model = model
        self.device = device
        self.precision = precision
        self._loaded: LoadedClip | None = None
        self._lock = threading.Lock()

    def load(self) -> LoadedClip:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    @quiet_loading()
    def _load(self) -> LoadedClip:
        import torch
        import transformers
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        device = pick_device(self.device, torch)
        # transformers 5 picks a torchvision image processor by default; the PIL one needs no
        # extra package and gives the same pixels.
        backend = {"backend": "pil"} if int(transformers.__version__.split(".")[0]) >= 5 else {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model.path)
            processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                self.model.path, **backend
            )
            network = AutoModel.from_pretrained(
                self.model.path,
                trust_remote_code=False,
                dtype=torch_dtype(self.precision, device, torch),
            )
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load model {self.model.name!r}: {exc}") from None
        network.to(device).eval()
        return LoadedClip(torch, tokenizer, processor, network)


@functools.lru_cache(maxsize=4)
def shared_clip_model(model: ResolvedModel, device: str, precision: str = "fp32") -> ClipModel:
    return ClipModel(model, device, precision)


def _check_is_clip(model: ResolvedModel) -> None:
    """Fail before loading anything when the checkpoint has no image and text towers."""
    config = model.read_json("config.json") or {}
    if not ({"text_config", "vision_config"} <= set(config) and "projection_dim" in config):
        kind = config.get("model_type", "unknown")
        raise ModelError(
            f"model {model.name!r} (model_type {kind!r}) is not a CLIP-style image-text model; "
            f"use e.g. {EXAMPLE_MODEL}"
        )
