"""The next run's use of the stored reviews: matched to its rows by key, then fixed labels and
calibration gold."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from zslabel.dataset import text_status
from zslabel.gold import GoldSet
from zslabel.review.fields import HUMAN_REVIEW, same_text
from zslabel.review.store import Reviews
from zslabel.rowkeys import match_keys, match_positions
from zslabel.selection import ACCEPTED, INVALID, Predictions, Selection, reason_code


@dataclass(frozen=True)
class MatchedReviews:
    """The stored reviews of rows in a run's input: ``rows`` their row indices (ascending) and
    ``reviews`` the same reviews in that order. ``stored`` counts every stored review, so
    ``unmatched`` are those whose key names no row (or several) of this input.

    ``store`` is the store read; ``move_to`` the job's own store when ``store`` is the old
    place (the output's work folder); ``ignored`` the stores found but not read, with their
    review counts (None: unreadable).
    """

    rows: np.ndarray
    reviews: Reviews
    stored: int
    store: str | None = None
    move_to: str | None = None
    ignored: tuple[tuple[str, int | None], ...] = ()

    @property
    def unmatched(self) -> int:
        return self.stored - len(self.reviews)


def match_reviews(
    reviews: Reviews,
    row_keys: int | Iterable[tuple[int, pa.Array]],
    row_texts: Callable[[np.ndarray], Sequence[object]] | None = None,
) -> MatchedReviews:
    """The reviews whose key names exactly one row of a run's input, with those rows.

    ``row_keys`` is the number of rows when rows are keyed by position (no id column), else the
    id column batch by batch with the row index of each batch's first row. ``row_texts`` gives
    the text of each of some rows (ascending); a review whose row has another text than the one
    reviewed (row numbers of an input that changed since) is no review of that row.
    """
    if isinstance(row_keys, int):
        found = match_positions(reviews.keys, row_keys)
    else:
        found = match_keys(reviews.keys, row_keys)
    matched = np.flatnonzero(found >= 0)
    matched = matched[np.argsort(found[matched], kind="stable")]
    if row_texts is not None and len(matched):
        texts = row_texts(found[matched])
        same = [same_text(reviews.texts[i], text) for i, text in zip(matched, texts, strict=True)]
        matched = matched[np.asarray(same, dtype=bool)]
    return MatchedReviews(
        rows=found[matched],
        reviews=Reviews(
            keys=[reviews.keys[i] for i in matched.tolist()],
            texts=[reviews.texts[i] for i in matched.tolist()],
            label=reviews.label[matched],
        ),
        stored=len(reviews),
    )


def apply_reviews(
    predictions: Predictions, selection: Selection, reviewed: MatchedReviews | None
) -> tuple[Predictions, Selection]:
    """Reviewed rows become accepted with the human label, confidence 1.0 and reason
    ``human_review``; other rows are left alone.

    Invalid rows stay invalid: there is no text to train on.
    """
    if reviewed is None or len(reviewed.reviews) == 0:
        return predictions, selection
    keep = selection.status[reviewed.rows] != INVALID
    rows, labels = reviewed.rows[keep], reviewed.reviews.label[keep]
    label = predictions.label.copy()
    confidence = predictions.confidence.copy()
    margin = predictions.margin.copy()
    status = selection.status.copy()
    reason = selection.reason_code.copy()
    label[rows] = labels
    confidence[rows] = 1.0
    margin[rows] = 1.0
    status[rows] = ACCEPTED
    reason[rows] = reason_code(HUMAN_REVIEW)
    assigned = predictions.assigned
    if assigned is not None:
        # Multi-label jobs: a review names one label, which becomes the row's whole label set.
        assigned = assigned.copy()
        assigned[rows] = False
        assigned[rows, labels] = True
    return (
        replace(predictions, label=label, confidence=confidence, margin=margin, assigned=assigned),
        replace(selection, status=status, reason_code=reason),
    )


def review_counts(reviewed: MatchedReviews | None, selection: Selection) -> dict[str, Any] | None:
    """What became of the stored reviews in a run, for the manifest's ``counts.reviews``.

    ``store`` (the file read), ``stored``, ``applied``, ``invalid_rows`` (of invalid rows, left
    invalid) and ``unmatched`` (of no row of the input); ``move_to`` when the store is at the
    old place; and, when some reviews were not applied, ``not_applied`` (their number) and
    ``not_applied_reasons`` (``[{"reviews": n, "reason": ..., "store"?: ...}]``), which
    also counts stores found but not read.
    """
    if reviewed is None:
        return None
    invalid = int(np.count_nonzero(selection.status[reviewed.rows] == INVALID))
    counts: dict[str, Any] = {
        "store": reviewed.store,
        "stored": reviewed.stored,
        "applied": len(reviewed.rows) - invalid,
        "invalid_rows": invalid,
        "unmatched": reviewed.unmatched,
    }
    if reviewed.move_to is not None:
        counts["move_to"] = reviewed.move_to
    reasons: list[dict[str, Any]] = []
    if reviewed.unmatched:
        reasons.append({"reviews": reviewed.unmatched, "reason": NO_ROW_OF_INPUT})
    if invalid:
        reasons.append({"reviews": invalid, "reason": INVALID_ROWS})
    for path, n in reviewed.ignored:
        reasons.append(
            {"reviews": n, "reason": ignored_store_reason(reviewed.store), "store": path}
        )
    if reasons:
        counts["not_applied"] = sum(entry["reviews"] or 0 for entry in reasons)
        counts["not_applied_reasons"] = reasons
    return counts


# Why stored reviews were not applied (counts.reviews.not_applied_reasons).
NO_ROW_OF_INPUT = (
    "their keys name no row of this input (or several rows, or a row with another text)"
)
INVALID_ROWS = "their rows are invalid (no text to label): left invalid"


def ignored_store_reason(store: str | None) -> str:
    """Why a store at the old place (an output's work folder) is not read."""
    return (
        f"stored at the old place and not read: the job's store {store} is used; import those "
        "reviews again with import-reviews --job, or delete the old file"
    )


def review_gold(gold: GoldSet | None, reviews: Reviews | None) -> GoldSet | None:
    """The calibration gold file's rows plus the reviewed rows that have a text; ``reviews``
    should be those of rows in the input (:attr:`MatchedReviews.reviews`).

    None when there is nothing, or too little (fewer than 2 rows) to fit a temperature on
    reviews alone.
    """
    texts = list(gold.texts) if gold is not None else []
    labels = list(gold.label.tolist()) if gold is not None else []
    skipped = gold.skipped if gold is not None else 0
    if reviews is not None:
        for text, label in zip(reviews.texts, reviews.label.tolist(), strict=True):
            if text is None or text_status(text) is not None:
                skipped += 1
                continue
            texts.append(text)
            labels.append(label)
    if gold is None and len(texts) < 2:
        return None
    return GoldSet(texts, np.asarray(labels, dtype=np.int64), skipped)
