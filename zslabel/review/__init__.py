"""The review loop: rows for people to check out, their labels back in, and into the next run.

1. A labeling run writes the abstained rows and the accepted rows whose sources disagree as
   import files for Label Studio (``review.label_studio.json``: tasks with the predictions as
   pre-annotations) and Argilla 2.x (``review.argilla.jsonl``: records with suggestions). Each
   names its row by the row key (the id column's value when the job has one, else the row number
   ``zs_row``) as a string in ``zs_key``: see :mod:`zslabel.rowkeys`.
2. ``zslabel import-reviews`` (:mod:`zslabel.review.importing`) reads the annotated export of either
   tool, checks each key against the rows of the output folder, and stores the labels of the
   reviews that name exactly one row in the job's review store (``review.store``: by default
   ``<job>.reviews.parquet`` beside the job file; a run without a job file keeps
   ``reviews.parquet`` in its output's work folder), which every output of the job reads.
3. The next run matches the stored reviews to its rows by key (:func:`match_reviews`): those of
   rows in its input are gold for calibration (:func:`review_gold`) and fixed labels
   (:func:`apply_reviews` turns each reviewed row into an accepted row with the human label,
   confidence 1.0 and reason ``human_review``); the others are counted, never used.

Where each part lives: :mod:`~zslabel.review.export` picks the rows and writes both files, one
task or record at a time from :mod:`~zslabel.review.label_studio` and
:mod:`~zslabel.review.argilla` (which also read those tools' exports back); the import is
:mod:`~zslabel.review.importing`; :mod:`~zslabel.review.store` finds and holds the store and
:mod:`~zslabel.review.apply` what a run does with it.
"""

from __future__ import annotations

from zslabel.review.apply import (
    MatchedReviews,
    apply_reviews,
    match_reviews,
    review_counts,
    review_gold,
)
from zslabel.review.export import write_review_files
from zslabel.review.fields import (
    ARGILLA_FILE,
    HUMAN_REVIEW,
    KEY_FIELD,
    LABEL_STUDIO_CONFIG_FILE,
    LABEL_STUDIO_FILE,
    same_text,
)
from zslabel.review.label_studio import labeling_config
from zslabel.review.store import (
    REVIEWS_FILE,
    Review,
    Reviews,
    load_reviews,
    read_store,
)
from zslabel.review.store import (
    REVIEWS_SCHEMA as REVIEWS_SCHEMA,  # tests write stores with it; not part of __all__
)

__all__ = [
    "ARGILLA_FILE",
    "HUMAN_REVIEW",
    "KEY_FIELD",
    "LABEL_STUDIO_CONFIG_FILE",
    "LABEL_STUDIO_FILE",
    "REVIEWS_FILE",
    "MatchedReviews",
    "Review",
    "Reviews",
    "apply_reviews",
    "labeling_config",
    "load_reviews",
    "match_reviews",
    "read_store",
    "review_counts",
    "review_gold",
    "same_text",
    "write_review_files",
]
