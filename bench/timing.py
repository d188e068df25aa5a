"""Timing several contenders fairly on a shared machine (bench/throughput.py, nli_throughput.py).

Every contender is warmed up first (the first batches in a process are slow, and int8 exports
then), and the texts are cut into ``rounds`` slices that every contender runs in turn, so that
load drift from other processes hits all of them alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np


def interleaved_rates(
    runs: Mapping[str, Callable[[list[str]], object]],
    texts: Sequence[str],
    warm: Sequence[str],
    rounds: int,
    digits: int = 1,
) -> dict[str, float]:
    """Texts per second of each contender over all of ``texts``, rounded to ``digits``."""
    for run in runs.values():
        run(list(warm))
    seconds = dict.fromkeys(runs, 0.0)
    for part in np.array_split(np.arange(len(texts)), rounds):
        chunk = [texts[i] for i in part]
        for name, run in runs.items():
            start = time.perf_counter()
            run(chunk)
            seconds[name] += time.perf_counter() - start
    return {name: round(len(texts) / s, digits) for name, s in seconds.items()}
