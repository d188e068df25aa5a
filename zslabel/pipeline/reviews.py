"""Reviews: the stored human reviews (``zslabel import-reviews``) matched to this input's rows.

The job's store (``review.store``: beside its job file unless it names one) is read by every
output of the job; while it does not exist, a store at the old place (the output's work folder,
where reviews were kept before) is read instead, and the manifest says to move it. Matched
reviews are fixed labels for selection (and calibration gold when the job asks for it).
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pyarrow as pa

from zslabel.pipeline.ids import id_batches
from zslabel.pipeline.plan import JobPlan
from zslabel.review import MatchedReviews, Reviews, load_reviews, match_reviews
from zslabel.review.store import choose_store, stored_count


def matched_reviews(plan: JobPlan) -> MatchedReviews | None:
    """The stored reviews matched to the input's rows by key and text, with where they were
    read and which store was found but not read; None without reviews (and then no pass over
    the id column; ids are checked unique before scoring). Raises InputError for a store that
    cannot be read or names a label the job does not have."""
    choice = choose_store(plan.config.review.store, plan.work_dir)
    reviews = load_reviews(choice.read, plan.label_names) if choice.read is not None else None
    ignored = (
        () if choice.ignored is None else ((str(choice.ignored), stored_count(choice.ignored)),)
    )
    if reviews is None:
        if not ignored:
            return None
        # Nothing to apply, yet reviews exist: the manifest says where and why not.
        empty = Reviews(keys=[], texts=[], label=np.zeros(0, dtype=np.int64))
        rows = np.zeros(0, dtype=np.int64)
        return MatchedReviews(rows, empty, 0, str(choice.store), ignored=ignored)
    texts = functools.partial(_texts_at, plan) if plan.reads_text else None
    if plan.config.input.id_column is None:
        matched = match_reviews(reviews, plan.dataset.num_rows, texts)
    else:  # ids checked before scoring (zslabel.pipeline.ids.check_ids)
        matched = match_reviews(reviews, id_batches(plan), texts)
    return replace(
        matched,
        store=str(choice.read),
        move_to=str(choice.store) if choice.from_old_place else None,
        ignored=ignored,
    )


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
