"""Reviews: the stored human reviews (``zslabel import-reviews``) matched to this input's rows.

Matched reviews are gold for calibration and fixed labels for selection.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from zslabel.pipeline.ids import check_ids, id_batches
from zslabel.pipeline.plan import JobPlan
from zslabel.review import MatchedReviews, load_reviews, match_reviews


def matched_reviews(plan: JobPlan) -> MatchedReviews | None:
    """The stored reviews matched to the input's rows by key and text; None without reviews
    (and then no pass over the id column). Raises InputError for duplicate or null ids."""
    reviews = load_reviews(plan.work_dir, plan.label_names)
    if reviews is None:
        return None
    texts = functools.partial(_texts_at, plan) if plan.reads_text else None
    if plan.config.input.id_column is None:
        return match_reviews(reviews, plan.dataset.num_rows, texts)
    check_ids(plan)
    return match_reviews(reviews, id_batches(plan), texts)


def _texts_at(plan: JobPlan, rows: np.ndarray) -> list[object]:
    """The text column at ``rows`` (ascending), read only in shards that hold one of them."""
    texts: list[object] = []
    for shard in plan.dataset.shards:
        start = shard.start_row
        if not np.any((rows >= start) & (rows < start + shard.num_rows)):
            continue
        for batch in plan.dataset.iter_batches(shard, [plan.config.input.text_column]):
            mine = rows[(rows >= start) & (rows < start + batch.num_rows)] - start
            texts.extend(batch.column(0).take(pa.array(mine)).to_pylist())
            start += batch.num_rows
    return texts
