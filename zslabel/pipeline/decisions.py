"""The global decisions of a run in one record, as the write and manifest stages read them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from zslabel.combine import Combiner
from zslabel.pipeline.combine import Combined
from zslabel.pipeline.memory import return_freed_memory
from zslabel.pipeline.select import SelectedRows
from zslabel.refine import Refinement
from zslabel.selection import Predictions, Selection


class Selected(NamedTuple):
    """The global decisions: how sources combine, every row's prediction, status and split.

    ``predictions.confidence`` and ``predictions.margin`` are empty: every decision that reads
    them is made, and the export recomputes them shard by shard from the combined probabilities
    (8 bytes a row less to hold).
    """

    combiner: Combiner
    predictions: Predictions
    selection: Selection
    split_index: np.ndarray
    diagnostics: dict[str, Any]
    # What became of the stored reviews (review_counts); None without any.
    reviews: dict[str, int] | None = None
    # The refined references the probabilities were computed with (stage refine).
    refinement: Refinement | None = None


def settle(
    combined: Combined,
    chosen: SelectedRows,
    split_index: np.ndarray,
    refinement: Refinement | None,
) -> Selected:
    """The decisions of the combine, select and split stages in one record, without the
    per-row confidence and margin (the export recomputes them)."""
    predictions = replace(
        chosen.predictions,
        confidence=np.empty(0, dtype=np.float32),
        margin=np.empty(0, dtype=np.float32),
    )
    return_freed_memory()
    return Selected(
        combined.combiner,
        predictions,
        chosen.selection,
        split_index,
        combined.diagnostics,
        chosen.reviews,
        refinement,
    )
