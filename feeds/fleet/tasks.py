"""What a fleet's workers run. Each task names its shop; the config is read afresh from
the shops folder for every job, so a changed file needs no restart.

`refresh` is the same `run_refresh_once` that `vendre-feeds refresh` and `serve` run
(sync, build, index, pushes, under the data dir's file lock), inside the shop's Redis
lock (`feeds.fleet.lease`):

- a job that finds its shop locked (by another worker, or a refresh run by hand on the
  same data dir) waits one lease and tries once more (a Celery retry with that
  countdown, so no process sits waiting); still locked, it is skipped and counted on
  the shop, never queued behind the running one;
- a job queued before a run that has since started and ended is not run again: that
  run is its outcome (beat may queue a slow shop's refresh more than once);
- a job for a shop of another shard, or for a shop whose state was last on another
  shard's machine and is not here, fails with a one-line reason rather than starting
  the shop afresh on the wrong machine;
- any failure of one shop (its config, a refused key, a hostile API, a full disk) ends
  that job with a recorded one-line reason; the worker goes on with the others.

`webhook` and `beacon` write what the web tier handed over into the shop's inbox, on
the shard that keeps its state (`feeds.fleet.handoff`); `send_purchases` sends the
webhooks' orders that are due (`feeds.fleet.purchases`).
"""

from __future__ import annotations

import base64
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feeds.config import Config, Fleet
from feeds.errors import FeedsError, LockBusy
from feeds.fleet import purchases
from feeds.fleet.celery_app import BEACON, PURCHASES, REFRESH, WEBHOOK, redis_client
from feeds.fleet.lease import Lease
from feeds.fleet.records import Records, RunState
from feeds.server.schedule import one_line
from feeds.storage.layout import Layout

__all__ = ["WorkerContext", "context", "register"]

log = logging.getLogger("feeds.fleet.tasks")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WorkerContext:
    """What every task of one worker process shares."""

    fleet: Fleet
    redis: Any
    records: Records
    shard: int | None  # the shard this worker serves (None: any, e.g. an eager test)


_CONTEXTS: dict[tuple[int, int], WorkerContext] = {}


def context(app: Any) -> WorkerContext:
    """This process's context for `app` (a fresh Redis client after a fork)."""
    key = (id(app), os.getpid())
    if key not in _CONTEXTS:
        fleet = app.vendre_fleet
        client = redis_client(fleet)
        _CONTEXTS[key] = WorkerContext(fleet, client, Records(client),
                                       getattr(app, "vendre_shard", None))
    return _CONTEXTS[key]


def register(app: Any) -> None:
    """Register the fleet's tasks on `app`."""
    app.task(name=REFRESH, bind=True, max_retries=1)(refresh)
    app.task(name=PURCHASES, bind=True)(send_purchases)
    # A webhook answered 2xx must reach the inbox: a busy or failing disk is retried.
    intake = {"bind": True, "autoretry_for": (FeedsError, OSError), "retry_backoff": 2,
              "retry_backoff_max": 120, "max_retries": 8}
    app.task(name=WEBHOOK, **intake)(webhook)
    app.task(name=BEACON, **intake)(beacon)


# ---------------------------------------------------------------- refresh


def refresh(task: Any, shop: str, shard: int, queued_at: float) -> str:
    """Refresh `shop` once (see the module docstring); returns the job's state."""
    ctx = context(task.app)
    task_id = task.request.id or f"eager-{time.time_ns()}"
    cfg, problem = _shop_here(ctx, shop, shard)
    if cfg is None:
        log.error("refresh of %s not run: %s", shop, problem)
        ctx.records.failed_early(shop, task_id, error=problem, now=_utcnow())
        return RunState.FAILED.value
    lease = Lease(ctx.redis, shop, ctx.fleet.settings.lock_lease_s)
    if not lease.acquire():
        return _locked(task, ctx, shop, task_id, "another worker is refreshing it")
    try:
        with lease:
            if (done := _superseded(ctx, shop, queued_at)) is not None:
                ctx.records.task_done(shop, task_id, state=done[0], error=done[1],
                                      now=_utcnow())
                return done[0].value
            started = time.monotonic()
            outcome = _run(cfg, ctx, shop, task_id, lease, task.request.hostname or "")
            ctx.records.finished(shop, task_id, ok=outcome.ok, error=outcome.error,
                                 feeds=_served(cfg), now=_utcnow())
    except LockBusy:  # the data dir's file lock: a refresh run by hand, or a stray process
        return _locked(task, ctx, shop, task_id, "its data dir is locked by another process")
    except Exception as exc:  # what the run could not record itself (a full disk before it
        # began, Redis gone mid-run): this shop's job fails with one line, the worker goes on
        error = one_line(exc)
        log.error("refresh of %s failed: %s", shop, error)
        _record_failure(ctx, shop, task_id, error)
        return RunState.FAILED.value
    took = time.monotonic() - started
    if outcome.ok:
        log.info("refresh of %s: ok in %.1f s", shop, took)
    else:
        log.warning("refresh of %s failed after %.1f s: %s", shop, took, outcome.error)
    return (RunState.OK if outcome.ok else RunState.FAILED).value


def _record_failure(ctx: WorkerContext, shop: str, task_id: str, error: str) -> None:
    try:
        ctx.records.failed_early(shop, task_id, error=error, now=_utcnow())
    except Exception as exc:  # Redis itself is gone: the log line above is all there is
        log.error("outcome of %s not recorded: %s", shop, type(exc).__name__)


def _shop_here(ctx: WorkerContext, shop: str, shard: int) -> tuple[Config | None, str]:
    """(the shop's config, "") when this worker may run it, else (None, why not)."""
    try:
        cfg = ctx.fleet.load_shop(shop)
        owner = ctx.fleet.shard_of(shop, cfg)
    except FeedsError as exc:
        return None, one_line(exc)
    here = ctx.shard if ctx.shard is not None else shard
    if owner != here:
        return None, (f"it belongs to shard {owner} now, and this worker serves shard "
                      f"{here}; queue it again (`fleet enqueue {shop}`)")
    if not cfg.data_dir.exists():
        last = ctx.records.last_shard(shop)
        if last is not None and last != owner:
            return None, (f"its state was kept on shard {last}'s machine and {cfg.data_dir} "
                          "is not here: move the folder (README, 'Moving a shard'), or "
                          "create it empty to start the shop afresh on this shard")
    return cfg, ""


def _superseded(ctx: WorkerContext, shop: str,
                queued_at: float) -> tuple[RunState, str] | None:
    """The outcome of a run that started after this job was queued and has ended, if any:
    this job has nothing left to do."""
    data = ctx.records.raw(shop)
    state = data.get("state")
    try:
        started = float(data.get("started") or 0)
    except ValueError:
        return None
    if state in (RunState.OK.value, RunState.FAILED.value) and started > queued_at:
        return RunState(state), data.get("error", "")
    return None


def _run(cfg: Config, ctx: WorkerContext, shop: str, task_id: str, lease: Lease,
         worker: str) -> Any:
    """`run_refresh_once` with the start recorded once the file lock is held.

    :raises LockBusy: the data dir's file lock is taken (nothing was recorded).
    """
    from celery.exceptions import SoftTimeLimitExceeded

    from feeds.server.schedule import run_refresh_once

    limit = ctx.fleet.settings.time_limit_s

    def job(cfg: Config) -> Any:
        ctx.records.started(shop, task_id, shard=ctx.fleet.shard_of(shop, cfg),
                            token=lease.token, worker=worker, now=_utcnow())
        try:
            return refresh_job(cfg)
        except SoftTimeLimitExceeded:
            raise FeedsError(f"stopped at the fleet's time limit (fleet.time_limit_s = "
                             f"{limit})") from None

    return run_refresh_once(cfg, job, log_failure=False)


def refresh_job(cfg: Config) -> Any:
    """The refresh itself. A shop whose API is the bundled demo's (a `.test` host, which
    no real shop can have) is synced from the bundled catalogue, offline, as
    `vendre-feeds refresh` does on the demo: the fleet's demo needs no network."""
    from feeds.demo.run import demo_refresh_job
    from feeds.jobs.refresh import run_refresh

    return (demo_refresh_job(cfg) or run_refresh)(cfg)


def _locked(task: Any, ctx: WorkerContext, shop: str, task_id: str, why: str) -> str:
    """Wait one lease and try once more; then skip and count."""
    lease_s = ctx.fleet.settings.lock_lease_s
    if task.request.retries < 1 and not task.request.is_eager:
        log.info("refresh of %s waits %s s: %s", shop, lease_s, why)
        raise task.retry(countdown=lease_s, max_retries=1)
    reason = f"still locked after waiting {lease_s} s ({why})"
    log.warning("refresh of %s skipped: %s", shop, reason)
    ctx.records.skipped(shop, task_id, reason=reason, now=_utcnow())
    return RunState.SKIPPED.value


def _served(cfg: Config) -> list[tuple[str, int]]:
    """(file, items) of every feed the shop serves now, whatever the run's outcome."""
    try:
        return [(f.file, f.items) for f in Layout(cfg.data_dir).published()]
    except OSError:
        return []


# ---------------------------------------------------------------- purchases


def send_purchases(task: Any, shop: str, shard: int) -> str:
    """Send the shop's webhooks' orders that are due; "" when none were."""
    ctx = context(task.app)
    cfg, problem = _shop_here(ctx, shop, shard)
    if cfg is None:
        log.error("purchases of %s not sent: %s", shop, problem)
        return ""
    return purchases.send_due(cfg, _utcnow())


def webhook(task: Any, shop: str, shard: int, order_id: str, body_b64: str,
            received_at: str, max_open: int) -> None:
    """Keep a webhook the web tier accepted in the shop's inbox, on its shard."""
    ctx = context(task.app)
    cfg, problem = _shop_here(ctx, shop, shard)
    if cfg is None:
        raise FeedsError(f"webhook for {shop} not stored: {problem}")
    purchases.store_webhook(cfg, order_id, base64.b64decode(body_b64),
                            datetime.fromisoformat(received_at), max_open)


def beacon(task: Any, shop: str, shard: int, order_number: str, data: dict[str, Any],
           received_at: str, max_beacons: int) -> None:
    """Keep a beacon the web tier accepted in the shop's inbox, on its shard."""
    ctx = context(task.app)
    cfg, problem = _shop_here(ctx, shop, shard)
    if cfg is None:
        raise FeedsError(f"beacon for {shop} not stored: {problem}")
    purchases.store_beacon(cfg, order_number, data, datetime.fromisoformat(received_at),
                           max_beacons)
