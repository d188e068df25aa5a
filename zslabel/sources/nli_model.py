"""The NLI cross-encoder: loaded once per process, device and precision, and its entailment and
contradiction logits found from config.json before any weights load."""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

from zslabel.encoder import pick_device
from zslabel.errors import ModelError
from zslabel.models import ResolvedModel, max_input_tokens, quiet_loading
from zslabel.onnx import int8_network
from zslabel.precision import torch_dtype

# Cross-encoders are trained on short pairs; 512 tokens is the most any common NLI model reads.
MAX_LENGTH_CAP = 512
CONTRADICTION_NAMES = ("contradiction", "not_entailment", "not entailment", "not-entailment")
EXAMPLE_MODEL = "facebook/bart-large-mnli"


class NliModel:
    """A sequence-classification model and its tokenizer, loaded on first use."""

    def __init__(self, model: ResolvedModel, device: str, precision: str = "fp32") -> None:
        self.model = model
        self.device = device
        self.precision = precision
        self._loaded: tuple[Any, Any, Any] | None = None
        self._lock = threading.Lock()  # task runners may share one model between threads

    def load(self) -> tuple[Any, Any, Any]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    @quiet_loading()
    def _load(self) -> tuple[Any, Any, Any]:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        # int8 is a CPU runtime (ONNX Runtime); config refuses int8 with device: cuda.
        device = "cpu" if self.precision == "int8" else pick_device(self.device, torch)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model.path)
            network, info = AutoModelForSequenceClassification.from_pretrained(
                self.model.path,
                trust_remote_code=False,
                dtype=torch_dtype(self.precision, device, torch),
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
        if self.precision == "int8":
            # Loaded in torch first all the same: that is where a missing head is caught.
            del network
            return torch, tokenizer, int8_network(self.model, "logits", _pair_inputs(tokenizer))
        network.to(device).eval()
        if self.precision == "bf16":
            _head_in_fp32(network)
        return torch, tokenizer, network


def _head_in_fp32(network: Any) -> None:
    """Run the layers after the encoder (pooler and classifier) in fp32 when it runs in bf16.

    A bf16 logit keeps 8 significant bits, and the entailment logits of close labels flipped:
    on an NLI model built offline (bench/nli_agreement.py) agreement with fp32 went from 86 / 84 %
    to 97 / 98 % on its two uncertain datasets with these few layers in fp32, at no measurable cost.
    """
    heads = [m for name, m in network.named_children() if name != network.base_model_prefix]
    pooler = getattr(network.base_model, "pooler", None)  # BERT keeps it inside the encoder
    for module in [*heads, *([pooler] if pooler is not None else [])]:
        module.float()
        module.register_forward_pre_hook(_inputs_in_fp32, with_kwargs=True)


def _inputs_in_fp32(
    module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    def cast(value: Any) -> Any:
        floating = getattr(value, "is_floating_point", None)
        return value.float() if floating is not None and floating() else value

    return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}


def _pair_inputs(tokenizer: Any) -> list[str]:
    """What a padded pair batch carries: ids, mask, and token types where the model has them."""
    names = ["input_ids", "attention_mask"]
    return [*names, "token_type_ids"] if "token_type_ids" in tokenizer.model_input_names else names


@functools.lru_cache(maxsize=4)
def shared_nli_model(model: ResolvedModel, device: str, precision: str = "fp32") -> NliModel:
    """One loaded model per process, device and precision, however many sources or jobs use it."""
    return NliModel(model, device, precision)


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
    """Cross-encoders are trained on short pairs: the most tokens the model reads, at most 512."""
    return max_input_tokens(model, MAX_LENGTH_CAP)
