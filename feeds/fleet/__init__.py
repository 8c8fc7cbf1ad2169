"""Many shops on Celery workers with a Redis broker (`vendre-feeds fleet ...`).

A fleet is a fleet file plus a folder of ordinary shop configs (`feeds.config.fleet`).
Its parts, each a small module:

- `celery_app`: the Celery app of a fleet: one queue per shard, the settings every
  process shares (late acks, visibility timeout, time limits), task names;
- `tasks`: what a worker runs: a shop's refresh (the same `run_refresh_once` the CLI and
  `serve` run), its purchases, and the webhooks and beacons the web tier handed over;
- `lease`: a shop's lock in Redis, with a lease renewed while its job runs;
- `records`: the outcomes workers write to Redis, which `fleet status` and `fleet run`
  read from any machine;
- `control`: `fleet enqueue`, `run` and `status`;
- `beat`: Celery beat's scheduler for the shops folder (reloaded while it runs);
- `shops`: the shops folder as the web tier and beat see it (keys, shards, duplicates);
- `web`: the multi-tenant web tier (`fleet serve`), which holds no shop state;
- `handoff`: a webhook or beacon handed to its shop's shard as a Celery task;
- `purchases`: the one place the fleet meets purchases (order webhooks, beacons,
  `send-purchases`).

Celery and redis are the optional extra `vendre-feeds[fleet]`; nothing outside this
package imports them, and the CLI imports this package only for `fleet` commands.

Import rule: the fleet imports everything below the CLI (jobs, server, config, storage,
...); nothing but the CLI imports it. Below it, nothing knows there is a fleet.
"""

from __future__ import annotations

from feeds.errors import FeedsError

__all__ = ["BrokerUnavailable", "FleetMissing", "require_extra"]


class FleetMissing(FeedsError):
    """The `fleet` extra (Celery, redis) is not installed."""

    exit_code = 2


class BrokerUnavailable(FeedsError):
    """Redis (the broker, the locks, the outcomes) could not be reached."""


def require_extra() -> None:
    """Raise FleetMissing, one line, when Celery or redis cannot be imported."""
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        raise FleetMissing(f"the fleet needs Celery and redis ({exc.name} is missing): "
                           "pip install 'vendre-feeds[fleet]'") from None
