"""Split: each accepted row into train / validation / test, by a hash of its key (its id, else
its position), stratified by label; other rows into none."""

from __future__ import annotations

import numpy as np

from zslabel.pipeline.ids import check_ids, key_batches
from zslabel.pipeline.memory import return_freed_memory
from zslabel.pipeline.plan import JobPlan
from zslabel.selection import ACCEPTED, Predictions, Selection
from zslabel.splits import assign_splits_streamed


def assign_splits(plan: JobPlan, predictions: Predictions, selection: Selection) -> np.ndarray:
    """Every row's split, (rows,) int: an index into ``output.splits``, or its length for rows
    in no split. Raises InputError for duplicate or null ids."""
    # Keys are streamed batch by batch: a list of every id would grow with the input.
    check_ids(plan)
    split_index = assign_splits_streamed(
        predictions.label,
        selection.status == ACCEPTED,
        key_batches(plan),
        plan.config.output.splits,
        plan.config.output.seed,
    )
    return_freed_memory()
    return split_index
