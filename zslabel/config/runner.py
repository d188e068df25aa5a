"""The ``runner`` section: where the Prefect flow scores shards (threads, Dask or Ray).

Settings only; the library's own runner is :mod:`zslabel.runner`, which this never imports.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from zslabel.config.base import StrictModel


class RunnerSpec(StrictModel):
    """Where the Prefect flow scores shards. The library itself always runs in-process."""

    kind: Literal["threads", "dask", "ray"] = "threads"
    # An existing cluster (dask: tcp://host:8786, ray: ray://host:10001); none starts a local one.
    address: str | None = None
    # Threads, or local worker processes; each process loads the model once.
    workers: Annotated[int, Field(gt=0)] | None = None
