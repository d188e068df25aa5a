"""How a source's model computes: its ``precision`` resolved for the device, and the torch dtype.

``fp32`` is exact on a CPU and runs in fp16 on a GPU (half the memory traffic there; on a CPU
fp16 is slower than fp32). ``bf16`` runs in bfloat16 on either: on a CPU with bfloat16 matrix
units (Intel AMX, AVX512-BF16) it was the fastest option measured, 2-2.8x fp32, and changed
0.3-0.6 % of top labels (README, Performance); without those units torch emulates it, slower
than fp32, and a warning says so. ``int8`` is not a torch type: :mod:`zslabel.onnx` runs it.
``auto`` (the default) is bf16 for embedding sources on a CPU with bfloat16 units and fp32
everywhere else: a default may change at most 1 % of top labels. bf16 embeddings changed 0.3-0.6 %
on three public datasets; int8 changed 4-8 %; an NLI cross-encoder in bf16 (its head in fp32)
changed up to 2.7 % on its uncertain datasets (bench/nli_agreement.py); CLIP is unmeasured.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# torch's own CPU feature checks; private, so a torch without them counts as "no units".
_BF16_UNIT_CHECKS = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")


def resolve_precision(requested: str, device: str, *, bf16_when_auto: bool) -> str:
    """``requested``, or for ``auto`` bf16 where the source's kind allows it and this CPU has
    bfloat16 units, else fp32."""
    if requested != "auto":
        return requested
    import torch

    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return "fp32"  # which runs in fp16 there
    return "bf16" if bf16_when_auto and cpu_has_bf16_units(torch) else "fp32"


def torch_dtype(precision: str, device: str, torch: Any) -> Any:
    """The dtype to load a model in for ``precision`` ("fp32" or "bf16") on ``device``."""
    if precision == "bf16":
        if device == "cpu" and not cpu_has_bf16_units(torch):
            log.warning(
                "precision: bf16 on a CPU without bfloat16 matrix units (AMX or AVX512-BF16) "
                "is emulated and slower than fp32; use precision: fp32 or int8 on this machine"
            )
        return torch.bfloat16
    return torch.float16 if device == "cuda" else torch.float32


def cpu_has_bf16_units(torch: Any) -> bool:
    """Whether this CPU computes bfloat16 matrix products natively."""
    checks = [getattr(torch.cpu, name, None) for name in _BF16_UNIT_CHECKS]
    return any(bool(check()) for check in checks if check is not None)


def precision_provenance(precision: str) -> dict[str, str]:
    """What a source's manifest entry says of its precision: nothing for fp32, whose manifests
    keep the bytes they had before the option existed."""
    return {} if precision == "fp32" else {"precision": precision}


def precision_identity(precision: str) -> dict[str, Any]:
    """What a precision adds to a source's cache identity: for int8 also the recipe and the
    runtime versions, which decide its outputs; otherwise what the manifest says."""
    if precision == "int8":
        from zslabel.onnx import int8_identity

        return {"int8": int8_identity()}
    return precision_provenance(precision)
