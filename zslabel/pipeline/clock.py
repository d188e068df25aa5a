"""A run's identity and stopwatch."""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zslabel.pipeline.score import ShardScore


@dataclass
class RunClock:
    """A run's identity and stopwatch; what ``run.json`` records."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )
    timings_s: dict[str, float] = field(default_factory=dict)
    _start: float = field(default_factory=time.perf_counter)
    _last: float = field(default_factory=time.perf_counter)

    def lap(self, name: str) -> None:
        """Record the time since the previous lap under ``name``."""
        now = time.perf_counter()
        self.timings_s[name] = round(self.timings_s.get(name, 0.0) + now - self._last, 3)
        self._last = now

    def to_dict(self, scores: Sequence[ShardScore]) -> dict[str, Any]:
        reused = sum(s.reused for s in scores)
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "timings_s": {**self.timings_s, "total": round(time.perf_counter() - self._start, 3)},
            "shards": {"total": len(scores), "reused": reused, "scored": len(scores) - reused},
        }
