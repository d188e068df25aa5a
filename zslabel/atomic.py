"""Temporary files for atomic writes, with the permissions of every other output.

An output is written under a temporary name in its own folder, then renamed over its target, so
that a reader never sees half a file. ``tempfile.mkstemp`` creates that file 0600, readable by
its owner alone, and the rename keeps the mode: drift.json, the reviews store, the versions
index and predictions came out 0600 beside 0644 outputs (a new user's trial). A temporary file
from here is created 0666 less the umask, as a plain ``open`` creates any other output.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def temporary_beside(path: Path) -> Path:
    """A new, empty file in ``path``'s folder, named after it (``.NAME.XXXXXXXX.tmp``) and
    created 0666 less the umask. Raises OSError when the folder cannot take it."""
    while True:
        temporary = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # another writer's name: draw again
            continue
        os.close(fd)
        return temporary
