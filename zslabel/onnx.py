"""int8 inference on a CPU: a transformers model exported to ONNX, quantized, run by ONNX Runtime.

``precision: int8`` on a source lands here. The model is exported once per weights with
``torch.onnx.export`` (the TorchScript exporter: ``optimum`` 2.x has no ONNX export here), its
Linear weights are quantized to int8 per output channel (per-channel kept the most labels of the
recipes measured) with activations quantized on the fly, and the file is kept in a user cache
folder so that later runs and processes only load it. ``OnnxNetwork`` is called like the
transformers model it replaces and returns torch tensors, so pooling and logits code is shared.

ONNX Runtime is an optional extra: ``pip install 'zslabel[onnx]'``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

from zslabel.errors import ModelError
from zslabel.models import ResolvedModel, quiet_loading

# Part of the file name and of every source's cache identity: a changed recipe re-exports and
# re-scores instead of mixing features of two different int8 models.
RECIPE = "onnx-dynamic-qint8-per-channel-v1"
GRAPH_OPTIMIZATION = "extended"
_export_lock = threading.Lock()


def require_onnxruntime() -> ModuleType:
    """The ``onnxruntime`` module, or an ImportError that names the extra to install."""
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "precision: int8 runs the model with ONNX Runtime: pip install 'zslabel[onnx]'"
        ) from None
    module: ModuleType = onnxruntime
    return module


def int8_identity() -> dict[str, str]:
    """What besides the weights decides the int8 model's outputs (for cache keys, manifests)."""
    from importlib.metadata import version

    import torch

    ort = require_onnxruntime()
    return {
        "recipe": RECIPE,
        "graph_optimization": GRAPH_OPTIMIZATION,
        "onnxruntime": str(ort.__version__),
        "onnx": version("onnx"),
        "torch": torch.__version__,  # the exporter
    }


def cache_root() -> Path:
    """``$ZSLABEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/zslabel``, else ``~/.cache/zslabel``."""
    explicit = os.environ.get("ZSLABEL_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "zslabel"


class OnnxNetwork:
    """An ONNX Runtime session called like a transformers model: ``network(**batch).<head>``."""

    device: Any  # torch.device("cpu"): callers move batches to ``network.device``

    def __init__(self, path: Path, head: str, threads: int) -> None:
        import torch

        ort = require_onnxruntime()
        options = ort.SessionOptions()
        # As many threads as torch uses (its default: the physical cores), one op at a time.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Extended fusion ran int8 1.2-1.5x faster than basic here; "all" (layout changes)
        # was slower. It changes the arithmetic, so it is part of int8_identity.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.head = head
        self.device = torch.device("cpu")
        self._torch = torch

    def __call__(self, **batch: Any) -> SimpleNamespace:
        ids = batch["input_ids"].cpu().numpy()
        # Padding only ids yields no token_type_ids: all zeros, as the torch model assumes.
        feed = {
            name: batch[name].cpu().numpy() if name in batch else np.zeros_like(ids)
            for name in self.input_names
        }
        (out,) = self._session.run([self.head], feed)
        return SimpleNamespace(**{self.head: self._torch.from_numpy(out)})


def int8_network(model: ResolvedModel, head: str, input_names: Sequence[str]) -> OnnxNetwork:
    """Load (exporting and quantizing once per weights) the int8 ONNX model of ``model``."""
    import torch

    path = quantized_path(model, head, tuple(input_names))
    return OnnxNetwork(path, head, torch.get_num_threads())


def quantized_path(model: ResolvedModel, head: str, input_names: tuple[str, ...]) -> Path:
    """The cached int8 file for these weights, head and inputs; made if missing."""
    require_onnxruntime()
    folder = cache_root() / "onnx" / f"{model.weights_sha256[:32]}-{head}"
    target = folder / f"{RECIPE}-{'-'.join(input_names)}.onnx"
    with _export_lock:  # threads sharing a process export once
        if not target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            _export_int8(model, head, input_names, target)
    return target


def _export_int8(
    model: ResolvedModel, head: str, input_names: tuple[str, ...], target: Path
) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        _export_fp32(model, head, input_names, fp32)
        staged = Path(scratch) / "int8.onnx"
        with _quiet():
            quantize_dynamic(fp32, staged, per_channel=True, weight_type=QuantType.QInt8)
        # Atomic: another process exporting the same model at once replaces it with equal bytes.
        os.replace(staged, target)


@quiet_loading()
def _export_fp32(model: ResolvedModel, head: str, input_names: tuple[str, ...], out: Path) -> None:
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    loader = AutoModel if head == "last_hidden_state" else AutoModelForSequenceClassification
    try:
        # Eager attention traces to plain ops; SDPA does not export with dynamic shapes.
        network = loader.from_pretrained(
            model.path, attn_implementation="eager", dtype=torch.float32
        ).eval()
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model {model.name!r} for int8 export: {exc}") from None
    wrapped = _positional(network, input_names, head)
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in input_names)
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    axes[head] = {0: "batch"} if head == "logits" else {0: "batch", 1: "tokens"}
    with _quiet(), torch.no_grad():
        torch.onnx.export(
            wrapped,
            example,
            str(out),
            dynamo=False,  # the dynamo exporter needs onnxscript and failed on these models
            input_names=list(input_names),
            output_names=[head],
            dynamic_axes=axes,
            opset_version=17,
        )


def _positional(network: Any, names: tuple[str, ...], head: str) -> Any:
    """A module taking the inputs by position (as tracing passes them) and returning ``head``."""
    import torch

    class Positional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *tensors: Any) -> Any:
            return getattr(self.network(**dict(zip(names, tensors, strict=True))), head)

    return Positional()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter and quantizer warn about tracing and pre-processing: not actionable here."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs its advice on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
