"""One run at a time per output folder: an exclusive lock held for the whole run.

The lock is ``fcntl.flock`` on a file named ``lock`` in the work folder (and ``.zslabel.lock`` in
the output folder when the work folder lies elsewhere). The operating system releases a flock
when its process dies, however it dies, so a lock can never be left held by a dead run; the file
itself says who holds it (pid, host, start time) for the message a second run prints.

A run that ends removes its lock file. A lock file that is there but not locked was left by a
process that died (SIGKILL, power loss): the next run takes it over and logs a warning. Whoever
takes the lock also removes what a killed run may have left half-written (staging folders in the
output folder, ``*.tmp`` files in the work folder): no living run can own them then.

The feature cache is not guarded by these locks: it is shared by every output and job of a user
(:func:`zslabel.config.io.feature_cache_folder`), so runs of other outputs write to it at the same
time. That is safe without a lock because an entry is keyed by its content and written to a
unique temporary name, then renamed over the final name in one step: two runs writing one entry
write the same bytes, and a reader sees either no entry or a whole one. The same reason keeps the
sweep of a killed run's half-written cache entries to those older than a day: a younger one may
be another living run's write in progress.

Within one process the lock is re-entrant for the thread holding it, so that
:func:`zslabel.incremental.run_incremental` can hold it around the :func:`zslabel.run_job` it
calls; any other thread or process is refused at once instead of waiting.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zslabel.config import JobConfig
from zslabel.config.io import feature_cache_folder, work_folder
from zslabel.errors import OutputError
from zslabel.export import STAGING_PREFIX

LOCK_FILE = "lock"
OUTPUT_LOCK_FILE = ".zslabel.lock"
# Each retry means another run removed or replaced the lock file in the meantime.
_ATTEMPTS = 20
# A half-written cache entry older than this was left by a run that died: a write takes
# seconds (one shard's features), and a younger one may be another living run's.
STALE_PARTIAL_S = 24 * 3600

log = logging.getLogger("zslabel")


# Lock file -> the thread of this process holding it.
_HELD: dict[str, int] = {}
_HELD_GUARD = threading.Lock()


def lock_paths(output_dir: Path, work_dir: Path) -> list[Path]:
    """The lock files guarding a run that writes ``output_dir`` and caches in ``work_dir``."""
    paths = [work_dir / LOCK_FILE]
    if not _inside(work_dir, output_dir):
        paths.append(output_dir / OUTPUT_LOCK_FILE)
    return paths


def job_lock(config: JobConfig) -> contextlib.AbstractContextManager[None]:
    """The lock a job's run holds: its output folder and its work folder.

    For an incremental job that is the root folder, which every version lives in.
    """
    return run_lock(
        Path(config.output.dir).expanduser(),
        work_folder(config.output),
        feature_cache_folder(config.output, config.runner),
    )


@contextlib.contextmanager
def run_lock(
    output_dir: str | Path,
    work_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Iterator[None]:
    """Hold the locks of ``output_dir`` and ``work_dir`` (default: ``output_dir/.zslabel``);
    ``cache_dir``, the run's feature cache, is shared with other runs and never locked.

    Raises :class:`OutputError` at once, naming the holder, when another run holds one.
    """
    output = Path(output_dir).expanduser()
    work = Path(work_dir).expanduser() if work_dir is not None else output / ".zslabel"
    cache = Path(cache_dir).expanduser() if cache_dir is not None else None
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output}: output path exists and is not a folder")
    with contextlib.ExitStack() as stack:
        for path in lock_paths(output, work):
            stack.enter_context(_hold(path, output))
        remove_debris(output, work, cache)
        yield


def remove_debris(output_dir: Path, work_dir: Path, cache_dir: Path | None = None) -> None:
    """Drop what runs killed mid-write left: staging folders, temporary files in the work
    folder, and in the shared feature cache ``cache_dir`` partial entries older than
    :data:`STALE_PARTIAL_S`.

    Only safe under the lock: then no living run can own what is in the output and work
    folders (the workers of a Prefect run start after its flow took the lock). Other outputs'
    runs write to the cache at the same time, hence its age limit.
    """
    if output_dir.is_dir():
        # One level down too: the version folders of an incremental job, whose Prefect flow
        # holds the root's lock only.
        stagings = [
            *output_dir.glob(f"{STAGING_PREFIX}*"),
            *output_dir.glob(f"*/{STAGING_PREFIX}*"),
        ]
        for staging in stagings:
            if staging.is_dir() and not staging.is_symlink():
                shutil.rmtree(staging, ignore_errors=True)
    if work_dir.is_dir():
        for partial in work_dir.rglob("*.tmp"):
            if cache_dir is not None and _inside(partial, cache_dir):
                continue  # a cache inside the work folder is still shared: swept below
            with contextlib.suppress(OSError):
                partial.unlink()
    if cache_dir is not None and cache_dir.is_dir():
        _sweep_stale(cache_dir, time.time() - STALE_PARTIAL_S)


def _sweep_stale(cache_dir: Path, before: float) -> None:
    """Remove the cache's temporary files (``<key[:2]>/*.tmp``) last written before ``before``."""
    for partial in cache_dir.glob("*/*.tmp"):
        with contextlib.suppress(OSError):
            if partial.stat().st_mtime < before:
                partial.unlink()


@contextlib.contextmanager
def _hold(path: Path, output: Path) -> Iterator[None]:
    key = str(path.parent.resolve() / path.name)  # resolves what exists of a missing folder
    thread = threading.get_ident()
    with _HELD_GUARD:
        holder = _HELD.get(key)
    if holder == thread:  # re-entered: the outer hold releases it
        yield
        return
    if holder is not None:  # another thread of this process: the same as another process
        raise OutputError(f"{output}: {_describe_holder(_read(path))}")
    fd, created = _acquire(path, output)
    with _HELD_GUARD:
        _HELD[key] = thread
    try:
        yield
    finally:
        with _HELD_GUARD:
            del _HELD[key]
        _release(path, fd, created)


def _acquire(path: Path, output: Path) -> tuple[int, Path | None]:
    created = _make_parents(path.parent, output)
    for _ in range(_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            # A run that just ended removed the folder it had created: make it again.
            _make_parents(path.parent, output)
            continue
        except OSError as exc:
            raise OutputError(f"{output}: cannot create the run lock {path} ({exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read(path)
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise OutputError(f"{output}: {_describe_holder(holder)}") from None
            raise OutputError(f"{output}: cannot lock {path} ({exc})") from None
        # The file may have been removed (and perhaps re-created) by the run that held it, between
        # our open and our flock: then we hold a lock on a file nobody else will ever look at.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:
        raise OutputError(f"{output}: cannot take the run lock {path}: it keeps being replaced")
    stale = _read_fd(fd)
    if stale:
        log.warning("%s: took over a stale lock left by a run that died (%s)", output, _who(stale))
    _write_owner(fd, path, output)
    return fd, created


def _release(path: Path, fd: int, created: Path | None) -> None:
    # Remove the file while still holding the lock, so that no run can take a lock on a file
    # that is about to disappear (the samestat check above covers the other order).
    with contextlib.suppress(OSError):
        path.unlink()
    os.close(fd)  # releases the flock
    if created is None:
        return
    # A run that failed before writing anything leaves no empty folders behind.
    for folder in (path.parent, *path.parent.parents):
        try:
            folder.rmdir()  # only succeeds on an empty folder
        except OSError:
            return
        if folder == created:
            return


def _make_parents(folder: Path, output: Path) -> Path | None:
    """Create ``folder`` (and parents); return the topmost folder created, if any."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{output}: cannot create folder {folder} ({_reason(exc)})") from None
    return missing[-1] if missing else None


def _write_owner(fd: int, path: Path, output: Path) -> None:
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    data = json.dumps(owner).encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError as exc:
        os.close(fd)
        raise OutputError(f"{output}: cannot write the run lock {path} ({_reason(exc)})") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return _parse(handle.read())
    except OSError:
        return {}


def _read_fd(fd: int) -> dict[str, Any]:
    return _parse(os.pread(fd, 4096, 0))


def _parse(data: bytes) -> dict[str, Any]:
    if not data.strip():
        return {}
    try:
        owner = json.loads(data)
    except ValueError:
        return {"unreadable": True}
    return owner if isinstance(owner, dict) else {"unreadable": True}


def _who(owner: dict[str, Any]) -> str:
    if "pid" not in owner:
        return "holder unknown"
    return (
        f"pid {owner.get('pid')} on host {owner.get('host', '?')}, "
        f"started {owner.get('started_at', '?')}"
    )


def _describe_holder(owner: dict[str, Any]) -> str:
    return (
        f"another zslabel run is using this output folder ({_who(owner)}); "
        "wait for it to finish or stop it, then run again"
    )


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False
