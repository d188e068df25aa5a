"""Split: each accepted row into train / validation / test, by a hash of its key (its id, else
its position), stratified by label; other rows into none. Rows a person labeled are split apart
from the rows the selection accepted, so that importing reviews never moves another row.

Copies of one text are one group: among the rows split together, a text more than one of them
has is their common key, and a split never ends inside a group (zslabel.splits), so a text in
the test split is never also in train. Without it, copies with their own ids split apart (a new
user's trial: 3 of 12 test rows were word for word in train). Copies are compared case-folded
and by their words alone (:func:`comparable`)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

from zslabel.idcheck import hash_values
from zslabel.pipeline.ids import key_batches
from zslabel.pipeline.memory import return_freed_memory
from zslabel.pipeline.plan import JobPlan
from zslabel.selection import ACCEPTED, HUMAN_REVIEW, Predictions, Selection, reason_code
from zslabel.splits import assign_splits_streamed

# Words, for comparable(): letters and digits of any script.
_WORDS = re.compile(r"\w+")


def assign_splits(
    plan: JobPlan,
    predictions: Predictions,
    selection: Selection,
    pinned: np.ndarray | None = None,
) -> np.ndarray:
    """Every row's split, (rows,) int: an index into ``output.splits``, or its length for rows
    in no split. The ids are unique: run_job, the flow and LabelingJob check them
    (:func:`zslabel.pipeline.ids.check_ids`) before scoring.

    Reviewed rows (accepted with reason ``human_review``) are stratified among themselves: the
    per-class counts of the machine-accepted rows, and so their splits, stay what they were
    before the reviews (tests/test_review_calibration.py). ``pinned``: (rows,) int8, a split
    index for accepted rows that must be in it (ids an earlier version of an incremental job
    put there, :mod:`zslabel.pipeline.reused_ids`), -1 elsewhere; the other rows are stratified
    without them.
    """
    # Keys are streamed batch by batch: a list of every id would grow with the input.
    accepted = selection.status == ACCEPTED
    reviewed = accepted & (selection.reason_code == reason_code(HUMAN_REVIEW))
    # One pass over the texts serves both groups of rows split below.
    hashes = _text_hashes(plan, accepted) if plan.reads_text else None
    if pinned is not None and hashes is not None:
        pinned = _pin_copies(accepted, pinned, hashes)
    fixed = accepted & (pinned >= 0) if pinned is not None else np.zeros_like(accepted)
    label = predictions.label
    split_index = _split(plan, label, accepted, accepted & ~reviewed & ~fixed, hashes)
    if (reviewed & ~fixed).any():  # a second pass over the keys, only for a job with reviews
        of_reviewed = _split(plan, label, accepted, reviewed & ~fixed, hashes)
        split_index = np.where(reviewed & ~fixed, of_reviewed, split_index)
    if pinned is not None:
        split_index = np.where(fixed, pinned, split_index)
    return_freed_memory()
    return split_index


def _pin_copies(accepted: np.ndarray, pinned: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """``pinned`` with each accepted row whose text a pinned accepted row has pinned to that
    row's split: copies never part (``hashes``: the accepted rows' text hashes, row order)."""
    rows = np.flatnonzero(accepted)
    own = pinned[rows] >= 0
    if not own.any():
        return pinned
    order = np.argsort(hashes[own], kind="stable")
    texts, splits = hashes[own][order], pinned[rows[own]][order]
    at = np.minimum(np.searchsorted(texts, hashes), len(texts) - 1)
    copy = (texts[at] == hashes) & ~own
    result = pinned.copy()
    result[rows[copy]] = splits[at[copy]]
    return result


def _split(
    plan: JobPlan,
    label: np.ndarray,
    accepted: np.ndarray,
    rows: np.ndarray,
    hashes: np.ndarray | None,
) -> np.ndarray:
    """Split ``rows`` (a subset of ``accepted``); ``hashes``: the texts' hashes of the accepted
    rows, in row order (None: a job without texts, whose keys are never grouped)."""
    output = plan.config.output
    keys = key_batches(plan)
    if hashes is not None:
        keys = _grouped_keys(keys, rows, hashes[rows[np.flatnonzero(accepted)]])
    return assign_splits_streamed(label, rows, keys, output.splits, output.seed)


def _text_hashes(plan: JobPlan, rows: np.ndarray) -> np.ndarray:
    """(n,) uint64: the hash of each of ``rows``' texts (in row order, n = rows.sum()), read
    shard by shard: 8 bytes a row in memory. ``rows`` are scored rows, so each has a text."""
    chosen = np.flatnonzero(rows)
    hashes = np.zeros(len(chosen), dtype=np.uint64)
    for shard in plan.dataset.shards:
        texts = plan.dataset.read_texts(shard)
        at = shard.start_row + np.asarray(texts.valid_rows, dtype=np.int64)
        mine = rows[at] if len(at) else np.zeros(0, dtype=bool)
        picked: list[object] = [
            comparable(t) for t, keep in zip(texts.texts, mine, strict=True) if keep
        ]
        hashes[np.searchsorted(chosen, at[mine])] = hash_values(picked)
    return hashes


def comparable(text: object) -> object:
    """The form in which two texts count as copies: case folded, words only (``Great service!!``
    and `` great service`` are one text; a new user's trial found 15 of 21 validation and test
    rows in train that way). A text without a word (``👍``, ``!!!``) stays as it is."""
    if not isinstance(text, str):
        return text
    words = _WORDS.findall(text.casefold())
    return " ".join(words) if words else text


def _grouped_keys(
    keys: Iterator[tuple[int, Sequence[object]]], rows: np.ndarray, hashes: np.ndarray
) -> Iterator[tuple[int, Sequence[object]]]:
    """``keys`` (:func:`key_batches`), with the key of each of ``rows`` whose text another of
    ``rows`` has (``hashes``: of ``rows``' texts, in row order) replaced by the text's hash:
    copies share a key."""
    chosen = np.flatnonzero(rows)
    values, counts = np.unique(hashes, return_counts=True)
    copied = np.isin(hashes, values[counts > 1])
    for start, batch in keys:
        local = np.flatnonzero(rows[start : start + len(batch)])
        if not len(local):
            yield start, batch
            continue
        where = np.searchsorted(chosen, start + local)
        grouped = list(batch)
        for i, at_chosen in zip(local.tolist(), where.tolist(), strict=True):
            if copied[at_chosen]:
                grouped[i] = f"text {int(hashes[at_chosen]):016x}"
        yield start, grouped
