"""A shop's lock in Redis, with a lease renewed while its job runs.

The lock is redis-py's `Lock` (one key holding a random token, set with NX and an
expiry; released and renewed by Lua scripts that check the token). Its expiry is the
lease: a thread renews it every third of a lease while the job runs, so a job of any
length keeps it, and a worker that dies (SIGKILL, a lost machine) leaves a key that
expires within one lease. Nobody ever deletes another holder's lock.

The lock does not replace the data dir's file lock (`feeds.storage.lock`): the job
still takes that, which also keeps out a `vendre-feeds refresh` run by hand.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from redis.exceptions import LockError, RedisError

__all__ = ["Lease", "lock_key"]

log = logging.getLogger("feeds.fleet.lease")

KEY_PREFIX = "vendre-feeds:lock:"


def lock_key(shop: str) -> str:
    """The Redis key of shop `shop`'s lock (its value is the holder's token)."""
    return f"{KEY_PREFIX}{shop}"


class Lease:
    """One hold of `lock_key(name)` (or `key`) for `lease_s` seconds at a time, renewed in
    a thread.

    :param redis: a redis-py client.
    """

    def __init__(self, redis: Any, name: str, lease_s: float, *, key: str | None = None) -> None:
        self.name = name
        self.lease_s = lease_s
        # thread_local=False: the renewing thread must see the token the job's thread got.
        self._lock = redis.lock(key or lock_key(name), timeout=lease_s, thread_local=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    @property
    def token(self) -> str:
        """The random value the key holds while this lease has it ("" before)."""
        token = self._lock.local.token
        return token.decode() if isinstance(token, bytes) else (token or "")

    def acquire(self) -> bool:
        """Take the lock now, or return False at once when someone holds it."""
        if not self._lock.acquire(blocking=False):
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.name}",
                                        daemon=True)
        self._thread.start()
        return True

    def release(self) -> None:
        """Stop renewing and delete the key if it is still ours (never another's)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self._lock.release()
        except LockError:  # expired and perhaps taken by another: not ours to delete
            self.lost = True
        except RedisError as exc:  # Redis is gone: the key expires by itself
            log.warning("lock of %s not released (%s); it expires within %s s",
                        self.name, exc, self.lease_s)

    def _renew(self) -> None:
        interval = max(self.lease_s / 3, 0.5)
        while not self._stop.wait(interval):
            try:
                self._lock.reacquire()
            except LockError:
                # The key expired (the process stalled longer than a lease) and another
                # worker may hold it now; the data dir's file lock still keeps the two
                # apart on one machine.
                self.lost = True
                log.error("the lock of %s expired while its job ran (stalled more than "
                          "%s s?)", self.name, self.lease_s)
                return
            except RedisError as exc:  # try again next time; the lease covers a blip
                log.warning("lock of %s not renewed: %s", self.name, exc)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
