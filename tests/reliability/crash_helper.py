"""Run a job in this process and SIGKILL it at one named point: the first half of a crash test.

    python tests/reliability/crash_helper.py JOB.json POINT [flow]

JOB.json is a job config as a dict. POINT names the step to die in (see ``POINTS``). SIGKILL, not
an exception: no ``finally`` block, ``atexit`` hook or buffered write gets to run, as when the
machine loses power or the kernel's OOM killer picks the process. If the point is never reached
the helper exits with status 3, so that a test cannot pass by killing nothing; POINT ``none``
runs the job to the end. With ``flow`` the job runs through the Prefect flow (``zslabel run``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

NOT_REACHED = 3


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_on_call(owner: Any, name: str, call: int, *, after: bool = False) -> None:
    """Replace ``owner.name`` so that its ``call``-th call kills the process (before it runs,
    or just after it returns with ``after``)."""
    original: Callable[..., Any] = getattr(owner, name)
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == call and not after:
            die()
        result = original(*args, **kwargs)
        if calls == call:
            die()
        return result

    setattr(owner, name, wrapper)


class _OsProxy:
    """The ``os`` module as one zslabel module sees it, so that patching its ``replace`` does
    not count the renames of every other module."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.replace = real.replace

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def kill_on_rename(module: Any, call: int, *, after: bool = False) -> None:
    """Kill the process at the ``call``-th ``os.replace`` made by ``module``."""
    proxy = _OsProxy(module.os)
    kill_on_call(proxy, "replace", call, after=after)
    module.os = proxy


def install(point: str) -> None:
    import zslabel.cache
    import zslabel.export
    import zslabel.incremental
    import zslabel.pipeline.combine
    import zslabel.pipeline.split
    from zslabel.sources.fake import FakeSource

    points: dict[str, Callable[[], None]] = {
        # Scoring: inside the source, before the shard's features are cached.
        "score-first-shard": lambda: kill_on_call(FakeSource, "featurize", 1),
        "score-middle-shard": lambda: kill_on_call(FakeSource, "featurize", 4),
        "score-last-shard": lambda: kill_on_call(FakeSource, "featurize", 6),
        # A cache entry fully written to its temporary file but not yet renamed into place.
        "cache-write": lambda: kill_on_rename(zslabel.cache, 3),
        # The global steps, after every shard is cached.
        "global-combine": lambda: kill_on_call(zslabel.pipeline.combine, "fit_combiner", 1),
        "global-split": lambda: kill_on_call(zslabel.pipeline.split, "assign_splits", 1),
        # Export: some batches written to the staging folder; all written, none committed.
        "export-writing": lambda: kill_on_call(zslabel.export.ParquetTableWriter, "write", 5),
        "export-closed": lambda: kill_on_call(
            zslabel.export.StagedOutput, "close_tables", 1, after=True
        ),
        # The commit: the previous manifest moved aside; then some files renamed over the
        # previous run's as well, the new manifest not yet.
        "commit-manifest-aside": lambda: kill_on_rename(zslabel.export, 1, after=True),
        "commit-renaming": lambda: kill_on_rename(zslabel.export, 3),
        # Incremental: the version folder committed, the version index not yet updated.
        "version-index": lambda: kill_on_call(zslabel.incremental, "_write_atomically", 1),
    }
    if point != "none":
        points[point]()


def main() -> int:
    job_path, point = sys.argv[1], sys.argv[2]
    install(point)
    if sys.argv[3:] == ["flow"]:
        from zslabel.flows.deployments import run_flow

        run_flow(job_path)  # JSON is YAML: the flow loads the job file as it is
        return 0 if point == "none" else NOT_REACHED

    from zslabel.config import JobConfig
    from zslabel.incremental import run_incremental
    from zslabel.runner import run_job

    with open(job_path, encoding="utf-8") as handle:
        config = JobConfig.from_dict(json.load(handle))
    if config.incremental:
        run_incremental(config)
    else:
        run_job(config)
    return 0 if point == "none" else NOT_REACHED


if __name__ == "__main__":
    sys.exit(main())
