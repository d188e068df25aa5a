"""The ``review`` section: which rows the review files offer to people, and where the job's
human labels are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from zslabel.config.base import StrictModel

# The job's store beside its job file: jobs/tickets.yaml keeps jobs/tickets.reviews.parquet.
STORE_SUFFIX = ".reviews.parquet"


class ReviewSpec(StrictModel):
    # At most this many rows in the review files, the most useful first; None: every row that
    # was not accepted.
    limit: Annotated[int, Field(gt=0)] | None = None
    # The job's review store (Parquet written by ``zslabel import-reviews``), read by every
    # output of the job. A job file that leaves it out keeps it beside itself
    # (job_review_store); None: a job without a file (the quick form, label_frame), whose
    # reviews stay in its output's work folder.
    store: str | None = None

    @field_validator("store")
    @classmethod
    def _store_is_parquet(cls, store: str | None) -> str | None:
        if store is not None and not store.endswith(".parquet"):
            raise ValueError(
                f"{store!r}: the review store is a Parquet file; give a path ending in .parquet"
            )
        return store


def job_review_store(job_file: str | Path) -> Path:
    """The review store of a job file that names none: beside it, ``<stem>.reviews.parquet``
    (``jobs/tickets.yaml`` -> ``jobs/tickets.reviews.parquet``), absolute."""
    path = Path(job_file).expanduser().resolve()
    return path.with_name(path.stem + STORE_SUFFIX)


def with_review_store(raw: dict[str, Any], job_file: str | Path) -> dict[str, Any]:
    """``raw`` (a job file's settings, paths already made absolute) with ``review.store`` set
    to :func:`job_review_store` where the file leaves it out; other values as they are."""
    block = raw.get("review")
    if block is None:
        block = {}
    if not isinstance(block, dict) or block.get("store") is not None:
        return raw  # a wrong type is the validator's to report, with its line
    return {**raw, "review": {**block, "store": str(job_review_store(job_file))}}
