"""What the flow's tasks receive instead of data, and the run's plan each worker builds from it.

A task gets a small, picklable :class:`JobRef` (the job as JSON, the run's files and id), so a
Dask or Ray worker receives a few hundred bytes, not frames; :func:`job_plan` opens the input and
builds the sources from it once per worker process and run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from zslabel.config import JobConfig
from zslabel.pipeline import plan
from zslabel.pipeline.plan import JobPlan


@dataclass(frozen=True)
class JobRef:
    """What tasks receive instead of data: the job, the files of this run, the run, and the
    job's artifact-key slug (:func:`zslabel.flows.artifacts.job_slug`)."""

    config_json: str
    files: tuple[str, ...] | None
    run_id: str
    slug: str = "job"


_PLANS: dict[JobRef, JobPlan] = {}
_PLANS_LOCK = threading.Lock()


def job_plan(ref: JobRef) -> JobPlan:
    """The run's plan (its input opened, its sources built), once per worker process and run.

    Keyed by run so that a long-lived worker sees new input on the next run; the model itself
    is shared across runs by the library (``zslabel.encoder.shared_encoder``).
    """
    with _PLANS_LOCK:
        if ref not in _PLANS:
            if len(_PLANS) >= 2:
                _PLANS.pop(next(iter(_PLANS)))
            config = JobConfig.model_validate_json(ref.config_json)
            _PLANS[ref] = plan.plan_job(config, ref.files)
        return _PLANS[ref]
