"""Build the Prefect task runner a job asks for: threads, Dask or Ray."""

from __future__ import annotations

import os
from typing import Any

from zslabel.config import RunnerSpec
from zslabel.flows.environment import api_url, require_server

# One torch thread per worker process: two one-thread processes beat one two-thread process.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def task_runner(spec: RunnerSpec) -> Any:
    if spec.kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        # torch already spreads one forward pass over every core: more threads only contend.
        return ThreadPoolTaskRunner(max_workers=spec.workers or 1)
    require_server(spec.kind)
    if spec.kind == "dask":
        return _dask(spec)
    return _ray(spec)


def _dask(spec: RunnerSpec) -> Any:
    try:
        from prefect_dask.task_runners import DaskTaskRunner
    except ImportError:
        raise ImportError("the dask runner needs: pip install 'zslabel[dask]'") from None
    if spec.address:
        return DaskTaskRunner(address=spec.address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": spec.workers or os.cpu_count() or 1,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            # Worker processes must report to the same Prefect server as the flow.
            "env": {**WORKER_ENV, "PREFECT_API_URL": api_url() or ""},
        }
    )


def _ray(spec: RunnerSpec) -> Any:
    try:
        from prefect_ray.task_runners import RayTaskRunner
    except ImportError:
        raise ImportError("the ray runner needs: pip install 'zslabel[ray]'") from None
    init_kwargs: dict[str, Any] = {
        "runtime_env": {"env_vars": {**WORKER_ENV, "PREFECT_API_URL": api_url() or ""}}
    }
    if spec.workers and not spec.address:
        init_kwargs["num_cpus"] = spec.workers
    return RayTaskRunner(address=spec.address, init_kwargs=init_kwargs)
