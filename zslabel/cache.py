"""An on-disk cache of per-shard features: what makes reruns resume instead of recomputing.

Keys hash everything the cached array depends on (shard content, source identity, code version),
so a stale entry is never read: a changed input, model or setting simply misses.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zslabel.atomic import temporary_beside
from zslabel.errors import OutputError
from zslabel.version import __version__


def cache_key(*parts: Any) -> str:
    payload = json.dumps([__version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class FeatureCache:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            array: np.ndarray = np.load(path, allow_pickle=False)
            return array
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):
            # A damaged entry is dropped, so that the next run computes it again.
            path.unlink(missing_ok=True)
            return None

    def has(self, key: str) -> bool:
        """Whether a complete entry exists; reads only its header, drops a damaged one."""
        path = self._path(key)
        try:
            np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            return False
        except (OSError, ValueError, EOFError):
            path.unlink(missing_ok=True)
            return False
        return True

    def save(self, key: str, array: np.ndarray) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # As any output: a cache_dir a team shares must be readable by its other members.
            tmp = temporary_beside(path)
            with open(tmp, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(f"{self.folder}: cannot write the score cache ({exc})") from None

    def get_or_compute(
        self, key: str, compute: Callable[[], np.ndarray]
    ) -> tuple[np.ndarray, bool]:
        """The cached array and True, or a freshly computed (and now cached) one and False."""
        cached = self.load(key)
        if cached is not None:
            return cached, True
        array = compute()
        self.save(key, array)
        return array, False
