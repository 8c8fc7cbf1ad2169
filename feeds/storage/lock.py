"""Advisory locks on the data directory that a crashed process cannot leave stuck.

`fcntl.flock` locks belong to the open file description: the kernel drops them
when the process exits, however it exits, so there is no stale flag to clean up.

Every lock of a data dir is named here (`<data_dir>/.lock-<name>`):

    SNAPSHOT        a sync writing, or a build reading, the one snapshot
    BUILD           a build (two builds never write the same files at once)
    REFRESH         a scheduled or cron refresh (sync + build + push)
    TRACKING_INDEX  the loader's product index being rewritten
    PURCHASES       a run sending orders to GA4 and Meta (its ledger entries, its requests)
    UPLOAD          copying the published files to object storage
    push(<channel>) one push of one channel (its ledger and its API calls)

Whether a lock is held can be asked without taking it (`is_held`, for a lock named
with `probe=True`): its holder also keeps a shared lock on `<lock>-running`, which
the question tries to take exclusively for an instant, so asking never makes the
holder fail (it waits that instant at most) and never waits itself.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from feeds.errors import LockBusy, StoreError
from feeds.storage.layout import Layout

__all__ = ["BUILD", "PURCHASES", "REFRESH", "SNAPSHOT", "TRACKING_INDEX", "UPLOAD", "LockName",
           "hold", "held", "is_held", "push"]


@contextmanager
def hold(path: Path, what: str, *, probe: bool = False) -> Iterator[None]:
    """Hold the lock at `path` for the block, or raise LockBusy at once if it is taken.

    With `probe`, also hold `<path>-running` shared, for `is_held`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # the data dir was replaced or made unwritable meanwhile
        raise StoreError(f"the data dir {path.parent} cannot be used: "
                         f"{exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        who = f" (process {holder})" if holder else ""
        raise LockBusy(f"another {what} is running on {path.parent}{who}; try again later"
                       ) from None
    marker = None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        if probe:
            marker = os.open(_marker(path), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(marker, fcntl.LOCK_SH)  # waits only while someone asks
        yield
    finally:
        if marker is not None:
            os.close(marker)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _marker(path: Path) -> Path:
    return path.with_name(path.name + "-running")


def is_held(layout: Layout, lock: LockName) -> bool:
    """Whether a process holds `lock` (one named with `probe=True`) right now.

    Never waits and never makes the holder fail; two askers at the same instant may
    see it held when it is not.
    """
    try:
        fd = os.open(_marker(layout.lock(lock.name)), os.O_RDONLY)
    except OSError:
        return False  # never held since the data dir was made
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the lock, if it was taken
    return False


@dataclass(frozen=True)
class LockName:
    """A lock of the data dir: its file name part and what holds it (for LockBusy)."""

    name: str
    what: str
    probe: bool = False  # whether `is_held` can answer for it


SNAPSHOT = LockName("snapshot", "sync or build")
BUILD = LockName("build", "build")
REFRESH = LockName("refresh", "refresh")
TRACKING_INDEX = LockName("tracking-index", "tracking index build")
PURCHASES = LockName("purchases", "purchases run")
UPLOAD = LockName("upload", "upload to object storage")


def push(channel: str) -> LockName:
    return LockName(f"push-{channel}", f"push of {channel}", probe=True)


def held(layout: Layout, lock: LockName) -> AbstractContextManager[None]:
    """Hold `lock` of `layout`'s data dir for the block (LockBusy at once if taken)."""
    return hold(layout.lock(lock.name), lock.what, probe=lock.probe)
