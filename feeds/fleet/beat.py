"""`fleet beat`: Celery beat with a scheduler whose entries are the shops folder.

- Each shop with `[schedule] every_minutes` above 0 gets a `refresh` entry at that
  interval, sent to its shard's queue; each shop with `[purchases] enabled` gets a
  `send-purchases` entry every minute (its webhooks' orders, as the single-shop poller).
- The folder is read again every `RELOAD_S` seconds: a shop added, removed, moved to
  another shard or given another interval needs no restart.
- When each entry last ran is kept in Redis (`vendre-feeds:beat`), not in a local file,
  so beat holds no state: restarted, or started on another machine, it neither runs a
  shop early nor forgets one.
- Only one beat sends: each holds a lease on `vendre-feeds:lock:beat` before sending; a
  second one stands by and takes over within one lease of the first one's death.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.beat import Scheduler

from feeds.fleet import purchases
from feeds.fleet.celery_app import PURCHASES, REFRESH, queue_name, redis_client
from feeds.fleet.lease import Lease
from feeds.fleet.shops import ShopsFolder, Snapshot

__all__ = ["BEAT_KEY", "RELOAD_S", "FleetScheduler", "Planned", "planned_entries"]

log = logging.getLogger("feeds.fleet.beat")

BEAT_KEY = "vendre-feeds:beat"
LEADER_KEY = "vendre-feeds:lock:beat"
RELOAD_S = 30.0


@dataclass(frozen=True)
class Planned:
    """One entry the shops folder asks for."""

    task: str
    shop: str
    shard: int
    every_s: float


def planned_entries(snapshot: Snapshot) -> dict[str, Planned]:
    """Entry name -> what to send how often, for every shop of the snapshot."""
    found = {}
    for name, shop in sorted(snapshot.shops.items()):
        if shop.cfg.schedule.every_minutes > 0:
            found[f"refresh:{name}"] = Planned(REFRESH, name, shop.shard,
                                               shop.cfg.schedule.every_minutes * 60.0)
        if purchases.enabled(shop.cfg):
            found[f"send-purchases:{name}"] = Planned(PURCHASES, name, shop.shard,
                                                      float(purchases.SEND_EVERY_S))
    return found


class FleetScheduler(Scheduler):
    """Celery beat's scheduler for a fleet (the app carries the fleet: `make_celery`)."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        fleet = app.vendre_fleet
        self.folder = ShopsFolder(fleet, every_s=0.0)
        self.redis = redis_client(fleet)
        self.leader = Lease(self.redis, "beat", fleet.settings.lock_lease_s, key=LEADER_KEY)
        self._leading = False
        self._reloaded = 0.0
        self._planned: dict[str, Planned] = {}
        kwargs.pop("schedule_filename", None)  # no local state
        super().__init__(app, *args, **kwargs)
        self.max_interval = min(self.max_interval, max(1.0, fleet.settings.lock_lease_s / 3))

    def setup_schedule(self) -> None:
        self._sync_entries()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._lead():
            return self.max_interval
        if time.monotonic() - self._reloaded >= RELOAD_S:
            self._sync_entries()
        return super().tick(*args, **kwargs)

    def _lead(self) -> bool:
        """Whether this beat sends: it holds (or now takes) the leader's lease."""
        if self._leading and not self.leader.lost:
            return True
        if self._leading:  # the lease expired under us: someone else may send now
            self._leading = False
            self.leader.release()
            self.leader = Lease(self.redis, "beat", self.leader.lease_s, key=LEADER_KEY)
        try:
            taken = self.leader.acquire()
        except Exception as exc:  # Redis unreachable: try again next tick
            log.warning("beat cannot reach Redis: %s", type(exc).__name__)
            return False
        if taken:
            log.info("beat: sending the fleet's schedule")
            self._sync_entries()  # another beat may have sent while this one stood by
        elif not getattr(self, "_said_standby", False):
            log.warning("another beat is sending the schedule; this one stands by")
            self._said_standby = True
        self._leading = taken
        return taken

    def _sync_entries(self) -> None:
        """Make the entries what the shops folder asks for now."""
        self._reloaded = time.monotonic()
        planned = planned_entries(self.folder.reload())
        last = self._last_runs()
        for name in list(self.schedule):
            if name not in planned:
                del self.schedule[name]
        for name, plan in planned.items():
            if self._planned.get(name) == plan and name in self.schedule:
                self.schedule[name].last_run_at = last.get(name,
                                                           self.schedule[name].last_run_at)
                continue
            self.schedule[name] = self.Entry(
                name=name, task=plan.task, schedule=timedelta(seconds=plan.every_s),
                args=(plan.shop, plan.shard), options={"queue": queue_name(plan.shard)},
                last_run_at=last.get(name) or _due_now(plan.every_s), app=self.app)
        self._planned = planned

    def _last_runs(self) -> Mapping[str, datetime]:
        try:
            stored = self.redis.hgetall(BEAT_KEY)
        except Exception as exc:
            log.warning("beat cannot read its last runs: %s", type(exc).__name__)
            return {}
        found = {}
        for name, value in stored.items():
            try:
                found[name] = datetime.fromtimestamp(float(value), UTC)
            except (TypeError, ValueError, OverflowError):
                continue
        return found

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True,
                    **kwargs: Any) -> Any:
        """Send the entry's task to its shard's queue and record when, in Redis."""
        entry = self.reserve(entry) if advance else entry
        args = list(entry.args)
        if entry.task == REFRESH:
            args.append(time.time())  # when it was queued: a later run supersedes it
        result = self.app.send_task(entry.task, args=args, producer=producer,
                                    queue=entry.options["queue"])
        self.redis.hset(BEAT_KEY, entry.name, f"{time.time():.3f}")
        return result

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._leading:
                self.leader.release()
                self._leading = False

    @property
    def info(self) -> str:
        return f"    . shops folder -> {self.folder.fleet.shops_dir}"


def _due_now(every_s: float) -> datetime:
    """A last run one interval ago: a shop never scheduled is due at once."""
    return datetime.now(UTC) - timedelta(seconds=every_s)
