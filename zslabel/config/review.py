"""The ``review`` section: which rows the review files offer to people, and where the job's
human labels are kept.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from zslabel.config.base import StrictModel


class ReviewSpec(StrictModel):
    # At most this many rows in the review files, the most useful first; None: every row that
    # was not accepted.
    limit: Annotated[int, Field(gt=0)] | None = None
    # The job's review store (Parquet written by ``zslabel import-reviews``); None: the default
    # place for the job (docs/review.md, "Where reviews are kept").
    store: str | None = None
