"""Select: each row accepted, abstained (kept for review) or invalid, and reviewed rows
accepted with their human label."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from zslabel.pipeline.memory import return_freed_memory
from zslabel.pipeline.plan import JobPlan
from zslabel.review import MatchedReviews, apply_reviews, review_counts
from zslabel.selection import Predictions, Selection, select


class SelectedRows(NamedTuple):
    """The predictions with reviewed rows' labels applied, every row's status and reason, and
    what became of the stored reviews (None without any), for the manifest."""

    predictions: Predictions
    selection: Selection
    reviews: dict[str, int] | None


def select_rows(
    plan: JobPlan,
    predictions: Predictions,
    reviewed: MatchedReviews | None = None,
    uncovered: np.ndarray | None = None,
    unranked: np.ndarray | None = None,
) -> SelectedRows:
    """Apply the job's selection (languages, thresholds, coverage, margin, balance) to
    ``predictions``; then rows a person labeled (``reviewed``) are accepted with that label.
    ``uncovered``: (n,) bool, rows in languages no model covers, abstained; ``unranked``: such
    rows labeled all the same, kept out of the class quotas (:mod:`.row_languages`)."""
    selection = select(predictions, plan.config.selection, plan.label_names, uncovered, unranked)
    predictions, selection = apply_reviews(predictions, selection, reviewed)
    return_freed_memory()
    return SelectedRows(predictions, selection, review_counts(reviewed, selection))
