"""Stratified, seeded, deterministic assignment of accepted rows to train/validation/test.

Each class's accepted rows are ordered by a seeded hash of their row key (the id column, or the
row's position), then cut by the split fractions. The assignment of a row depends only on the
seed, its key and its class's rows, never on shard boundaries or batch sizes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

NOT_IN_SPLIT = -1


def assign_splits(
    label: np.ndarray,
    accepted: np.ndarray,
    row_keys: Sequence[object],
    fractions: Mapping[str, float],
    seed: int,
) -> np.ndarray:
    """Split index per row (position in ``fractions``), or NOT_IN_SPLIT for rows not accepted."""
    out = np.full(len(label), NOT_IN_SPLIT, dtype=np.int8)
    weights = np.asarray(list(fractions.values()), dtype=np.float64)
    for k in np.unique(label[accepted]):
        rows = np.flatnonzero(accepted & (label == k))
        keys = np.fromiter((_hash(seed, row_keys[int(i)]) for i in rows), np.uint64, len(rows))
        ordered = rows[np.lexsort((rows, keys))]
        counts = split_counts(len(rows), weights)
        out[ordered] = np.repeat(np.arange(len(weights), dtype=np.int8), counts)
    return out


def assign_splits_streamed(
    label: np.ndarray,
    accepted: np.ndarray,
    key_batches: Iterable[tuple[int, Sequence[object]]],
    fractions: Mapping[str, float],
    seed: int,
) -> np.ndarray:
    """``assign_splits`` with the row keys read batch by batch: ``(first row, keys)`` in order.

    Only accepted rows' positions and hashes are kept (16 bytes a row, filled in place), never
    every key; the result is the same array ``assign_splits`` returns for the same keys.
    """
    rows = np.flatnonzero(accepted)
    hashes = np.empty(len(rows), dtype=np.uint64)
    filled = 0
    for start, keys in key_batches:
        local = np.flatnonzero(accepted[start : start + len(keys)])
        hashes[filled : filled + len(local)] = np.fromiter(
            (_hash(seed, keys[int(i)]) for i in local), np.uint64, len(local)
        )
        filled += len(local)
    # By class, then key; ties keep row order (the sort is stable and rows ascend).
    classes = label[rows]
    rows = rows[np.lexsort((hashes, classes))]
    del hashes
    out = np.full(len(label), NOT_IN_SPLIT, dtype=np.int8)
    weights = np.asarray(list(fractions.values()), dtype=np.float64)
    _, sizes = np.unique(classes, return_counts=True)
    for end, size in zip(np.cumsum(sizes), sizes, strict=True):
        out[rows[end - size : end]] = np.repeat(
            np.arange(len(weights), dtype=np.int8), split_counts(int(size), weights)
        )
    return out


def split_counts(n: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding: counts that add up to n and are as close to n*w as can be."""
    exact = weights * n
    counts = np.floor(exact).astype(np.int64)
    remainder = n - int(counts.sum())
    # Ties go to the split listed first, so train gets the odd row before validation.
    order = np.lexsort((np.arange(len(weights)), -(exact - counts)))
    counts[order[:remainder]] += 1
    return np.asarray(counts, dtype=np.int64)


def _hash(seed: int, key: object) -> int:
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
