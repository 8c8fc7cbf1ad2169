"""The long-running processes of a fleet: `fleet worker`, `fleet beat` and `fleet serve`.

Each builds the fleet's Celery app from the fleet file (`feeds.fleet.celery_app`) and
runs until SIGTERM or Ctrl-C. Logging stays ours (every handler masks secrets): Celery
is told not to configure any (its `setup_logging` signal has a receiver).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from feeds.config import Fleet, ServerSettings
from feeds.errors import ConfigError, FeedsError
from feeds.fleet.celery_app import make_celery, queue_name, redis_client

__all__ = ["run_beat", "run_serve", "run_worker", "worker_shard"]

log = logging.getLogger("feeds.fleet")

_LEVELS = {-1: "ERROR", 0: "WARNING", 1: "INFO"}


def _keep_our_logging() -> None:
    """Celery configures no logging of its own when `setup_logging` has a receiver."""
    from celery import signals

    signals.setup_logging.connect(_no_celery_logging, weak=False)


def _no_celery_logging(**kwargs: Any) -> None:
    """Our handlers (set up by the CLI, masking secrets) stay the only ones."""


def worker_shard(fleet: Fleet, shard: int | None) -> int:
    """The shard a worker serves: `--shard`, or 0 when the fleet has only one.

    :raises ConfigError: several shards and none named, or one the fleet does not have.
    """
    shards = fleet.settings.shards
    if shard is None:
        if shards > 1:
            raise ConfigError(f"--shard: name the shard this worker serves (0 to {shards - 1})")
        return 0
    if not 0 <= shard < shards:
        raise ConfigError(f"--shard: {shard} is not a shard of this fleet "
                          f"(shards = {shards}: 0 to {shards - 1})")
    return shard


def run_worker(fleet: Fleet, shard: int | None, *, concurrency: int | None,
               verbosity: int, echo: Callable[[str], None]) -> int:
    """A Celery worker on one shard's queue, until it is stopped; its exit code."""
    from feeds.fleet.tasks import register

    shard = worker_shard(fleet, shard)
    app = make_celery(fleet)
    register(app)
    app.vendre_shard = shard
    try:
        fleet.state_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"fleet.state_root: {fleet.state_root} cannot be created: "
                          f"{exc.strerror or exc}") from None
    _keep_our_logging()
    worker = app.Worker(hostname=f"shard{shard}@{socket.gethostname()}",
                        queues=[queue_name(shard)],
                        concurrency=concurrency, pool="prefork", optimization="fair",
                        without_gossip=True, without_mingle=True, quiet=verbosity < 1,
                        loglevel=_LEVELS.get(verbosity, "DEBUG"))
    echo(f"worker of shard {shard} (queue {queue_name(shard)}) on {fleet.state_root}")
    worker.start()
    return int(worker.exitcode or 0)


def run_beat(fleet: Fleet, *, verbosity: int, echo: Callable[[str], None]) -> None:
    """Celery beat with the fleet's scheduler (`feeds.fleet.beat`), until it is stopped."""
    from feeds.fleet.beat import FleetScheduler

    app = make_celery(fleet)
    _keep_our_logging()
    echo(f"beat for the shops in {fleet.shops_dir} ({fleet.settings.shards} shard(s))")
    app.Beat(scheduler=FleetScheduler, quiet=verbosity < 1,
             loglevel=_LEVELS.get(verbosity, "DEBUG")).run()


def run_serve(fleet: Fleet, host: str, port: int, *,
              echo: Callable[[str], None]) -> None:
    """The multi-tenant web tier (`feeds.fleet.web`) under waitress, until it is stopped."""
    from feeds.fleet.shops import ShopsFolder
    from feeds.fleet.web import FleetWeb
    from feeds.server.run import _sigterm_interrupts, create_server

    app = make_celery(fleet)
    redis = redis_client(fleet)
    folder = ShopsFolder(fleet, reader=True)
    snapshot = folder.reload()
    if snapshot.refused and not snapshot.shops:
        raise ConfigError(snapshot.refused)
    web = FleetWeb(folder, send=app.send_task, broker_ok=redis.ping)
    try:
        server = create_server(web, ServerSettings(), host, port)
    except OSError as exc:
        raise FeedsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    errors = f", {len(snapshot.errors)} with errors (see the log)" if snapshot.errors else ""
    echo(f"serving {len(snapshot.shops)} shops{errors} on "
         f"http://{host}:{server.effective_port}; the shops folder is reloaded as it changes")
    with _sigterm_interrupts():
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
    echo("stopped")
