"""The Celery app of a fleet: one queue per shard and the settings every process shares.

Every process of a fleet (workers, beat, the web tier, `fleet run`) builds the same app
from the fleet file, so they agree on the broker, the queues and the task names. What
is chosen here, and why:

- one queue per shard (`vendre-feeds.shard-<K>`), and a job is always sent to its shop's
  shard: a shop's state lives on the machine of its shard, never moved by accident;
- late acknowledgement (`acks_late`) with the broker's `visibility_timeout` from the fleet
  file: a job is acknowledged when it ends. Redis may hand a dead worker's job to another
  one after that timeout, but nothing relies on it (a SIGKILLed worker's job was not
  redelivered in the issue's measurement): the lock's lease, the records and the next
  scheduled run cover a lost job. A job lost with its worker process is not requeued
  (`task_reject_on_worker_lost` off), so a job that kills its worker cannot loop;
- one job reserved per process at a time (`prefetch_multiplier` 1): a worker that dies
  takes at most its running jobs with it, not a backlog;
- Celery's time limits as the last resort after the shop's own limits (sync deadline,
  response caps): soft at `time_limit_s` less a minute (the job records a failure),
  hard at `time_limit_s` (the process is killed; the run reads as interrupted);
- no result backend: outcomes go to `feeds.fleet.records`, written by the job itself;
- JSON messages only; our logging (secrets masked), not Celery's root logger.
"""

from __future__ import annotations

from typing import Any

from feeds.config import Fleet
from feeds.errors import ConfigError
from feeds.log import add_secret

__all__ = ["BEACON", "PURCHASES", "REFRESH", "WEBHOOK", "broker_where", "make_celery",
           "queue_name", "redis_client"]

#: Task names (what crosses the broker; stable across versions).
REFRESH = "vendre_feeds.refresh"
PURCHASES = "vendre_feeds.send_purchases"
WEBHOOK = "vendre_feeds.webhook"
BEACON = "vendre_feeds.beacon"

_SOFT_MARGIN_S = 60


def queue_name(shard: int) -> str:
    """The queue of shard `shard`."""
    return f"vendre-feeds.shard-{shard}"


def broker_url(fleet: Fleet) -> str:
    """`[fleet] broker_url`, its password registered as a secret.

    :raises ConfigError: it is not set.
    """
    url = fleet.settings.broker_url
    if not url:
        raise ConfigError("fleet.broker_url: missing; set it in the fleet file or "
                          "VENDRE_FEEDS_FLEET_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    _mask_password(url)
    return url


def broker_where(fleet: Fleet) -> str:
    """The broker's host and port, for messages (never its password)."""
    from urllib.parse import urlsplit

    parts = urlsplit(fleet.settings.broker_url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}"


def _mask_password(url: str) -> None:
    from urllib.parse import unquote, urlsplit

    password = urlsplit(url).password
    if password:
        add_secret(password, unquote(password))


def redis_client(fleet: Fleet) -> Any:
    """A redis-py client on the broker's Redis, for locks and records (short timeouts:
    a caller that cannot reach Redis says so rather than hanging)."""
    import redis

    return redis.Redis.from_url(broker_url(fleet), decode_responses=True,
                                socket_timeout=10, socket_connect_timeout=5,
                                health_check_interval=30)


def make_celery(fleet: Fleet) -> Any:
    """The fleet's Celery app. It sends tasks by name; a worker registers their code on it
    (`feeds.fleet.tasks.register`)."""
    from celery import Celery

    s = fleet.settings
    app = Celery("vendre_feeds", broker=broker_url(fleet), set_as_current=False)
    app.conf.update(
        broker_transport_options={"visibility_timeout": s.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=queue_name(0),
        task_time_limit=s.time_limit_s,
        task_soft_time_limit=max(s.time_limit_s - _SOFT_MARGIN_S, s.time_limit_s // 2),
        worker_max_memory_per_child=(s.worker_max_memory_mb * 1024) or None,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        enable_utc=True,
        timezone="UTC",
    )
    app.vendre_fleet = fleet  # the tasks find their fleet here
    return app
