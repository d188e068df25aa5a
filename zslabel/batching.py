"""Length-sorted batches bounded by rows and by padded tokens: how inference is fast on a CPU.

Sorting by length makes each batch pad only to its own longest sequence (padding unsorted batches
cost 171 % here). A budget of padded tokens (rows x longest) then keeps every batch about the
same amount of work: many short texts in one batch, few long ones. On 2 CPU cores, 2,048 tokens
a batch ran all-MiniLM-L6-v2 5-14 % faster than 32 rows at fp32 and 21 % faster at int8 (ONNX
Runtime), where large batches of long texts fall out of the caches (README, Performance).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

CPU_BATCH_TOKENS, CPU_BATCH_ROWS = 2048, 128
# A GPU wants large batches (at 32 rows it was slower than 16 CPU cores and 8x faster at 256,
# bench/gpu_check.py); the token budget only stops long pairs of a large NLI model from filling
# its memory.
GPU_BATCH_TOKENS, GPU_BATCH_ROWS = 65536, 256


def batch_limits(
    device: str, rows: int | None = None, tokens: int | None = None
) -> tuple[int, int]:
    """(most rows, most padded tokens) of a batch on ``device``: as asked, else the defaults."""
    if device == "cuda":
        return rows or GPU_BATCH_ROWS, tokens or GPU_BATCH_TOKENS
    return rows or CPU_BATCH_ROWS, tokens or CPU_BATCH_TOKENS


def length_batches(
    lengths: Sequence[int] | np.ndarray, max_rows: int, max_tokens: int
) -> Iterator[np.ndarray]:
    """Indices into ``lengths`` in ascending length, cut into batches of at most ``max_rows``
    rows whose padded size (rows x the batch's longest) stays within ``max_tokens``. A single
    sequence longer than ``max_tokens`` is a batch of its own.

    The batches depend on the lengths only (a stable sort), so the same texts are always batched
    the same way.
    """
    sizes = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order):
            yield order[start:end]
            break
        rows = end + 1 - start  # the batch if order[end] joined it
        longest = int(sizes[order[end]])  # ascending: the newcomer is the longest
        if rows > max_rows or rows * longest > max_tokens:
            yield order[start:end]
            start = end
