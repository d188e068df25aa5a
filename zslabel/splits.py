"""Stratified, seeded, deterministic assignment of accepted rows to train/validation/test.

Two roundings decide how many rows each split gets. First the totals: the accepted rows are
shared out by the fractions, largest remainders first (a tie to the split listed first), with at
least one row for every split of positive fraction when there are as many rows as such splits.
Then each split's total is shared out over the classes, split by split, in proportion to the rows
each class has left (the last split takes what is left), largest remainders first, a tie to the
class a seeded hash favours. So the totals are as close to the fractions as rounding allows, every
class is in every split in proportion (within a row of its share in the first split, two in the
others with three splits), and the odd rows of small classes spread over the splits instead of
all going to the first.

Each class's accepted rows are ordered by a seeded hash of their row key (the id column, or the
row's position) and cut by its counts. The assignment of a row depends only on the seed, its key,
and how many accepted rows each class has, never on shard boundaries or batch sizes. Rows that
share a key (copies of one text, zslabel.pipeline.split) are adjacent in that order, and a cut
never falls inside them: it moves to their end, so a split can hold a few rows more or less than
its count.
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
    classes, sizes = np.unique(label[accepted], return_counts=True)
    counts = class_split_counts(classes, sizes, weights, seed)
    for k, per_split in zip(classes, counts, strict=True):
        rows = np.flatnonzero(accepted & (label == k))
        keys = np.fromiter((_hash(seed, row_keys[int(i)]) for i in rows), np.uint64, len(rows))
        order = np.lexsort((rows, keys))
        out[rows[order]] = _cut(keys[order], per_split)
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
    order = np.lexsort((hashes, classes))
    rows, hashes = rows[order], hashes[order]
    out = np.full(len(label), NOT_IN_SPLIT, dtype=np.int8)
    weights = np.asarray(list(fractions.values()), dtype=np.float64)
    values, sizes = np.unique(classes, return_counts=True)
    counts = class_split_counts(values, sizes, weights, seed)
    for end, size, per_split in zip(np.cumsum(sizes), sizes, counts, strict=True):
        out[rows[end - size : end]] = _cut(hashes[end - size : end], per_split)
    return out


def _cut(hashes: np.ndarray, per_split: np.ndarray) -> np.ndarray:
    """The split of each of a class's rows, ordered by ``hashes``: ``per_split`` rows each,
    except that a cut inside a run of equal hashes (one key) moves to the run's end."""
    splits = np.repeat(np.arange(len(per_split), dtype=np.int8), per_split)
    if len(hashes) < 2:
        return splits
    same = np.flatnonzero(hashes[1:] == hashes[:-1]) + 1  # rows that repeat the key before them
    if len(same):  # each repeated row takes its predecessor's split, cascading along the run
        for i in same.tolist():
            splits[i] = splits[i - 1]
    return splits


def split_counts(n: int, weights: np.ndarray) -> np.ndarray:
    """How many of n rows each split gets: counts that add up to n, as close to n * weights as
    rounding allows, and at least 1 for every split of positive weight when n is at least the
    number of such splits.

    Largest remainders (Hamilton's method) from the floors, or from 1 where a floor is 0; ties go
    to the split listed first. Where the ones overshoot n, rows come back from the splits furthest
    above their share (ties: the split listed last). Each step moves one row where it brings the
    counts closest to n * weights, so the result minimises the total distance to them, sum of
    |count - n * weight|, under those constraints (greedy is exact for a separable convex cost).
    """
    exact = weights * n
    positive = weights > 0
    low = (positive & (n >= int(positive.sum()))).astype(np.int64)
    counts = np.maximum(np.floor(exact).astype(np.int64), low)
    missing = n - int(counts.sum())
    if missing > 0:
        order = np.lexsort((np.arange(len(weights)), -(exact - counts)))
        counts[order[:missing]] += 1
    for _ in range(-missing):
        over = np.where(counts > low, counts - exact, -np.inf)
        counts[len(over) - 1 - int(np.argmax(over[::-1]))] -= 1
    return np.asarray(counts, dtype=np.int64)


def class_split_counts(
    classes: np.ndarray, sizes: np.ndarray, weights: np.ndarray, seed: int
) -> np.ndarray:
    """(classes, splits) row counts: each class's row adds up to its size, each split's column
    to ``split_counts(sizes.sum(), weights)``.

    Split by split, the split's total is shared over the classes in proportion to the rows each
    has left, largest remainders first (exact integer arithmetic); a tie goes to the class with
    the smaller seeded hash of (split, class), so that over several splits and classes the odd
    rows spread out. A class gets the floor or the ceiling of its share of what is left, so it is
    within a row of ``size * total / sizes.sum()`` in the first split and, with three splits,
    within two in the others.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    totals = split_counts(int(sizes.sum()), weights)
    left = sizes.copy()
    counts = np.zeros((len(sizes), len(weights)), dtype=np.int64)
    for j, total in enumerate(totals.tolist()):
        pool = int(left.sum())
        if total == 0 or pool == 0:
            continue
        share = left * total
        floor, remainder = share // pool, share % pool
        extra = total - int(floor.sum())
        ties = np.fromiter(
            (_hash(seed, f"split {j} class {c}") for c in classes.tolist()), np.uint64, len(sizes)
        )
        floor[np.lexsort((ties, -remainder))[:extra]] += 1
        counts[:, j] = floor
        left -= floor
    return counts


def _hash(seed: int, key: object) -> int:
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def split_size_warnings(manifest: Mapping[str, object]) -> list[str]:
    """A warning for each split far smaller than its fraction of the accepted rows: empty
    where a row was due, or under half its share where that share is 10 rows or more.
    Identical texts stay in one split, so copies of a few texts can empty one (a trial labeled
    a 4-value channel column: train 737, validation 0, test 0, and no word)."""
    counts = manifest.get("counts")
    config = manifest.get("config")
    if not isinstance(counts, Mapping) or not isinstance(config, Mapping):
        return []
    sizes = counts.get("splits") or {}
    fractions = (config.get("output") or {}).get("splits") or {}
    total = sum(sizes.values())
    warnings = []
    for name, fraction in fractions.items():
        due, held = fraction * total, sizes.get(name, 0)
        if (held == 0 and due >= 1) or (due >= 10 and held < due / 2):
            warnings.append(
                f"split {name!r} holds {held:,} of {total:,} accepted rows where its fraction "
                f"{fraction:g} is {due:,.0f}: identical texts stay in one split, so copies of "
                "few texts (see 'Repeated texts'), or few accepted rows, unbalance the splits"
            )
    return warnings
