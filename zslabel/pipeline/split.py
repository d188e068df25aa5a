"""Split: each accepted row into train / validation / test, by a hash of its key (its id, else
its position), stratified by label; other rows into none. Rows a person labeled are split apart
from the rows the selection accepted, so that importing reviews never moves another row."""

from __future__ import annotations

import numpy as np

from zslabel.pipeline.ids import check_ids, key_batches
from zslabel.pipeline.memory import return_freed_memory
from zslabel.pipeline.plan import JobPlan
from zslabel.selection import ACCEPTED, HUMAN_REVIEW, Predictions, Selection, reason_code
from zslabel.splits import assign_splits_streamed


def assign_splits(plan: JobPlan, predictions: Predictions, selection: Selection) -> np.ndarray:
    """Every row's split, (rows,) int: an index into ``output.splits``, or its length for rows
    in no split. Raises InputError for duplicate or null ids.

    Reviewed rows (accepted with reason ``human_review``) are stratified among themselves: the
    per-class counts of the machine-accepted rows, and so their splits, stay what they were
    before the reviews (tests/test_review_calibration.py).
    """
    # Keys are streamed batch by batch: a list of every id would grow with the input.
    check_ids(plan)
    accepted = selection.status == ACCEPTED
    reviewed = accepted & (selection.reason_code == reason_code(HUMAN_REVIEW))
    split_index = _split(plan, predictions.label, accepted & ~reviewed)
    if reviewed.any():  # a second pass over the keys, only for a job with reviews
        of_reviewed = _split(plan, predictions.label, reviewed)
        split_index = np.where(reviewed, of_reviewed, split_index)
    return_freed_memory()
    return split_index


def _split(plan: JobPlan, label: np.ndarray, rows: np.ndarray) -> np.ndarray:
    output = plan.config.output
    return assign_splits_streamed(label, rows, key_batches(plan), output.splits, output.seed)
