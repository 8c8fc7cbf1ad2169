"""`fleet enqueue`, `fleet run` and `fleet status`: the operator's commands, from any
machine that reaches Redis and reads the fleet file and the shops folder.

- `enqueue` sends a refresh of each named shop (all by default) to its shard's queue;
- `run` does the same and waits for each job's record (`feeds.fleet.records`): ok,
  failed with its reason, skipped (its shop stayed locked), or interrupted (its
  worker died mid-run: the lock's lease ran out);
- `status` prints one line per shop: its name, its state, the time of that outcome,
  the feeds it serves and its shard, then each shard's queue length.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feeds.config import Fleet
from feeds.errors import ConfigError, FeedsError
from feeds.fleet import BrokerUnavailable
from feeds.fleet.celery_app import REFRESH, broker_where, queue_name
from feeds.fleet.records import Records, RunState, ShopRecord, TaskRecord
from feeds.log import mask

__all__ = ["Queued", "RunResult", "enqueue", "shops_named", "status_lines", "wait"]

POLL_S = 0.5
_NOT_QUEUED = "not queued"


@dataclass(frozen=True)
class Queued:
    """One refresh sent (or, with `task_id` empty, not sent: `error` says why)."""

    shop: str
    shard: int | None
    task_id: str = ""
    error: str = ""


@dataclass(frozen=True)
class RunResult:
    shop: str
    state: RunState
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state is RunState.OK


def shops_named(fleet: Fleet, names: Sequence[str]) -> list[str]:
    """`names` (every shop when empty), each checked to be a shop of the fleet.

    :raises ConfigError: naming the shops the folder does not have.
    """
    known = fleet.shop_names()
    if not names:
        if not known:
            raise ConfigError(f"the shops folder {fleet.shops_dir} has no shop (*.toml)")
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"no such shop in {fleet.shops_dir}: {', '.join(unknown)}")
    return list(dict.fromkeys(names))


def enqueue(fleet: Fleet, send: Callable[..., Any], names: Sequence[str]) -> list[Queued]:
    """Send a refresh of each shop to its shard's queue. A shop whose config does not load
    is not sent (its `Queued.error` says why); the others are.

    :raises BrokerUnavailable: Redis did not take a message.
    """
    queued = []
    for name in shops_named(fleet, names):
        try:
            cfg = fleet.load_shop(name, reader=True)
            shard = fleet.shard_of(name, cfg)
        except FeedsError as exc:
            queued.append(Queued(name, None, error=str(exc)))
            continue
        try:
            result = send(REFRESH, args=[name, shard, time.time()], queue=queue_name(shard),
                          retry=True, retry_policy={"max_retries": 3})
        except Exception as exc:  # kombu's and redis's own connection errors
            raise BrokerUnavailable(f"Redis at {broker_where(fleet)} did not take the job of "
                                    f"{name} ({type(exc).__name__})") from None
        queued.append(Queued(name, shard, task_id=result.id))
    return queued


def wait(records: Records, queued: Sequence[Queued], *, timeout_s: float,
         on_done: Callable[[RunResult], None] = lambda r: None,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> list[RunResult]:
    """Wait for each sent job's outcome, calling `on_done` as each one ends; jobs that were
    not sent count as failed. A job without an outcome after `timeout_s` is failed with
    "no outcome" (still queued behind others, or lost with its worker before it began)."""
    started = clock()
    results = [RunResult(q.shop, RunState.FAILED, f"{_NOT_QUEUED}: {q.error}")
               for q in queued if not q.task_id]
    for result in results:
        on_done(result)
    pending = {q.task_id: q.shop for q in queued if q.task_id}
    while pending:
        for task_id, record in _read(records, pending).items():
            if record is not None and record.done:
                result = RunResult(pending.pop(task_id), record.state, record.error,
                                   clock() - started)
                results.append(result)
                on_done(result)
        if not pending:
            break
        if clock() - started >= timeout_s:
            for shop in pending.values():
                result = RunResult(shop, RunState.FAILED,
                                   f"no outcome within {timeout_s:.0f} s (still queued, or "
                                   "lost with its worker before it began)", clock() - started)
                results.append(result)
                on_done(result)
            break
        sleep(POLL_S)
    return results


def _read(records: Records, pending: dict[str, str]) -> dict[str, TaskRecord | None]:
    try:
        return records.tasks(dict(pending))
    except Exception as exc:
        raise BrokerUnavailable(f"Redis cannot be read while waiting ({type(exc).__name__}); "
                                "the jobs go on: `fleet status` shows their outcomes") from None


# ---------------------------------------------------------------- status


def status_lines(fleet: Fleet, records: Records, redis: Any,
                 now: datetime | None = None) -> list[str]:
    """One line per shop, then one per shard (its queue's length)."""
    now = now or datetime.now(UTC)
    names = fleet.shop_names()
    try:
        found = records.shops(names)
        queues = [redis.llen(queue_name(k)) for k in range(fleet.settings.shards)]
    except Exception as exc:
        raise BrokerUnavailable(f"Redis at {broker_where(fleet)} cannot be read "
                                f"({type(exc).__name__})") from None
    width = max((len(n) for n in names), default=4)
    lines = [_shop_line(fleet, name, found[name], width, now) for name in names]
    if not names:
        lines.append(f"no shop in {fleet.shops_dir}")
    lines += [f"shard {k}: {n} job{'s' if n != 1 else ''} queued"
              for k, n in enumerate(queues)]
    return lines


def _shop_line(fleet: Fleet, name: str, record: ShopRecord, width: int,
               now: datetime) -> str:
    state = record.state.value
    if record.state is RunState.FAILED and record.error:
        state = f"failed ({record.error})"
    parts = [name.ljust(width), state]
    if record.at is not None:
        when = f"{record.at:%Y-%m-%d %H:%M:%S} UTC"
        parts.append(f"since {when}" if record.state is RunState.RUNNING else when)
    if record.feeds:
        parts.append("feeds: " + ", ".join(f"{file} {items}" for file, items in record.feeds))
    elif record.state is not RunState.NEVER:
        parts.append("no feed published")
    parts.append(_shard_part(fleet, name))
    if record.skipped:
        parts.append(f"skipped {record.skipped}x while locked")
    return "  ".join(parts)


def _shard_part(fleet: Fleet, name: str) -> str:
    try:
        return f"shard {fleet.shard_of(name, fleet.load_shop(name, reader=True))}"
    except FeedsError as exc:
        return f"config error: {mask(str(exc))}"
