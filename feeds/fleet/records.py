"""What workers write to Redis, so that `fleet status` and `fleet run` work from any machine.

    vendre-feeds:shop:<shop>   a hash: the shop's current or last run (task, state,
                               start, end, one-line error, the lock token it held), the
                               feeds it serves (file and item count), the shard that ran
                               it last, and how many refreshes were skipped while locked
    vendre-feeds:task:<id>     a hash per queued job (state, error, token), kept a day:
                               what `fleet run` waits on

A run is `running` while the shop's lock (`feeds.fleet.lease`) still holds the token
the run took. A worker that died mid-run writes nothing more, and its lock expires
within one lease: the run then reads as `interrupted`, never as running for ever.
Nothing here is needed to run a job: Redis is the broker anyway, and a lost record
only makes `fleet status` say less.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from feeds.fleet.lease import lock_key

__all__ = ["Records", "RunState", "ShopRecord", "TaskRecord"]

PREFIX = "vendre-feeds:"
TASK_TTL_S = 24 * 3600


class RunState(StrEnum):
    NEVER = "never run"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"  # a job that found its shop locked twice (tasks only)


DONE = {RunState.OK, RunState.FAILED, RunState.INTERRUPTED, RunState.SKIPPED}


@dataclass(frozen=True)
class ShopRecord:
    """A shop's line in `fleet status`."""

    state: RunState
    at: datetime | None = None  # the outcome's time (a running one: its start)
    error: str = ""
    feeds: tuple[tuple[str, int], ...] = ()  # (file, items) of what it serves
    shard: int | None = None  # the shard that ran it last
    skipped: int = 0  # refreshes skipped because it was locked
    worker: str = ""


@dataclass(frozen=True)
class TaskRecord:
    """One job's state, as `fleet run` waits for it."""

    shop: str
    state: RunState
    error: str = ""
    at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.state in DONE


def _shop_key(shop: str) -> str:
    return f"{PREFIX}shop:{shop}"


def _task_key(task_id: str) -> str:
    return f"{PREFIX}task:{task_id}"


def _epoch(moment: datetime) -> str:
    return f"{moment.timestamp():.3f}"


def _moment(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC) if value else None
    except (TypeError, ValueError, OverflowError):
        return None


class Records:
    """Reads and writes the records through one redis-py client (decoded responses)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    # ------------------------------------------------------------ written by workers

    def started(self, shop: str, task_id: str, *, shard: int, token: str, worker: str,
                now: datetime) -> None:
        """A run began under the lock whose token is `token`."""
        pipe = self.redis.pipeline()
        pipe.hset(_shop_key(shop), mapping={
            "task": task_id, "state": RunState.RUNNING.value, "started": _epoch(now),
            "token": token, "shard": shard, "worker": worker, "error": ""})
        pipe.hset(_task_key(task_id), mapping={"shop": shop, "state": RunState.RUNNING.value,
                                               "token": token, "at": _epoch(now)})
        pipe.expire(_task_key(task_id), TASK_TTL_S)
        pipe.execute()

    def finished(self, shop: str, task_id: str, *, ok: bool, error: str,
                 feeds: Sequence[tuple[str, int]], now: datetime) -> None:
        """A run ended: its outcome, and the feeds the shop serves now."""
        state = (RunState.OK if ok else RunState.FAILED).value
        pipe = self.redis.pipeline()
        pipe.hset(_shop_key(shop), mapping={
            "task": task_id, "state": state, "finished": _epoch(now), "error": error,
            "feeds": json.dumps([list(f) for f in feeds])})
        self._task(pipe, task_id, shop, state, error, now)
        pipe.execute()

    def failed_early(self, shop: str, task_id: str, *, error: str, now: datetime,
                     shard: int | None = None) -> None:
        """A job that could not even start its run (its config, its shard): a failed
        outcome, without touching the feeds it serves."""
        mapping: dict[str, Any] = {"task": task_id, "state": RunState.FAILED.value,
                                   "started": _epoch(now), "finished": _epoch(now),
                                   "error": error}
        if shard is not None:
            mapping["shard"] = shard
        pipe = self.redis.pipeline()
        pipe.hset(_shop_key(shop), mapping=mapping)
        self._task(pipe, task_id, shop, RunState.FAILED.value, error, now)
        pipe.execute()

    def skipped(self, shop: str, task_id: str, *, reason: str, now: datetime,
                count: bool = True) -> None:
        """A job that did not run: counted on the shop (unless `count` is false), and
        its own record says why."""
        pipe = self.redis.pipeline()
        if count:
            pipe.hincrby(_shop_key(shop), "skipped", 1)
        self._task(pipe, task_id, shop, RunState.SKIPPED.value, reason, now)
        pipe.execute()

    def task_done(self, shop: str, task_id: str, *, state: RunState, error: str,
                  now: datetime) -> None:
        """Close a job's own record with `state` (its shop's record unchanged)."""
        pipe = self.redis.pipeline()
        self._task(pipe, task_id, shop, state.value, error, now)
        pipe.execute()

    @staticmethod
    def _task(pipe: Any, task_id: str, shop: str, state: str, error: str,
              now: datetime) -> None:
        pipe.hset(_task_key(task_id), mapping={"shop": shop, "state": state, "error": error,
                                               "at": _epoch(now)})
        pipe.expire(_task_key(task_id), TASK_TTL_S)

    # ------------------------------------------------------------ read by anyone

    def raw(self, shop: str) -> dict[str, str]:
        """The shop's hash as stored (empty: never run)."""
        return self.redis.hgetall(_shop_key(shop))

    def last_shard(self, shop: str) -> int | None:
        value = self.redis.hget(_shop_key(shop), "shard")
        return int(value) if value is not None and str(value).isdigit() else None

    def shops(self, names: Iterable[str]) -> dict[str, ShopRecord]:
        """Every named shop's record (one round trip)."""
        names = list(names)
        pipe = self.redis.pipeline()
        for name in names:
            pipe.hgetall(_shop_key(name))
            pipe.get(lock_key(name))
        replies = pipe.execute()
        return {name: shop_record(replies[2 * i], replies[2 * i + 1])
                for i, name in enumerate(names)}

    def tasks(self, ids: Mapping[str, str]) -> dict[str, TaskRecord | None]:
        """The records of jobs by id (`ids`: id -> shop); None for a job not started yet."""
        pipe = self.redis.pipeline()
        for task_id, shop in ids.items():
            pipe.hgetall(_task_key(task_id))
            pipe.get(lock_key(shop))
        replies = pipe.execute()
        return {task_id: task_record(replies[2 * i], replies[2 * i + 1])
                for i, task_id in enumerate(ids)}


def shop_record(data: Mapping[str, str], lock_token: str | None) -> ShopRecord:
    """A shop's record from its hash and its lock's current token."""
    if not data or not data.get("state"):
        return ShopRecord(RunState.NEVER, skipped=_int(data.get("skipped")) if data else 0)
    state = _state(data.get("state"))
    at = _moment(data.get("finished"))
    if state is RunState.RUNNING:
        at = _moment(data.get("started"))
        if lock_token != data.get("token"):
            state = RunState.INTERRUPTED
    try:
        feeds = tuple((str(f), int(n)) for f, n in json.loads(data.get("feeds") or "[]"))
    except (ValueError, TypeError):
        feeds = ()
    shard = data.get("shard")
    return ShopRecord(state=state, at=at, error=data.get("error", ""), feeds=feeds,
                      shard=int(shard) if shard and shard.isdigit() else None,
                      skipped=_int(data.get("skipped")), worker=data.get("worker", ""))


def task_record(data: Mapping[str, str], lock_token: str | None) -> TaskRecord | None:
    """A job's record, `interrupted` when it was running and no longer holds its lock."""
    if not data or not data.get("state"):
        return None
    state = _state(data.get("state"))
    error = data.get("error", "")
    if state is RunState.RUNNING and lock_token != data.get("token"):
        state = RunState.INTERRUPTED
        error = "its worker stopped mid-run (the lock's lease expired)"
    return TaskRecord(shop=data.get("shop", ""), state=state, error=error,
                      at=_moment(data.get("at")))


def _state(value: str | None) -> RunState:
    try:
        return RunState(value)
    except ValueError:
        return RunState.NEVER


def _int(value: str | None) -> int:
    return int(value) if value and value.lstrip("-").isdigit() else 0
