"""The one place the fleet meets purchases (order webhooks, purchase beacons and
`send-purchases`, `feeds.purchases`).

Purchases are functions a route calls with (the shop, the headers, the body) and an
injected store writer (`feeds.purchases.intake`). In a fleet:

- the web tier finds the shop by the webhook's secret or the beacon's site key and
  hands the request to that shop's app, whose purchase routes call intake with the
  writer found in `app.config[INBOX_WRITER]`: a `ShardHandoff` (`feeds.fleet.handoff`),
  which sends the write to the shop's shard as a Celery task and returns once Redis has
  accepted it;
- the worker of that shard writes it into the shop's inbox (`store_webhook`,
  `store_beacon`), and beat has it send the due orders every minute (`send_due`: the
  single-shop poller's look, `feeds.purchases.poll`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from feeds.config import Config
from feeds.storage.inbox import Inbox, WebhookOutcome

__all__ = ["INBOX_WRITER", "SEND_EVERY_S", "enabled", "send_due", "store_beacon",
           "store_webhook", "stored", "webhook_secret"]

log = logging.getLogger("feeds.fleet.purchases")

#: The key of `app.config` under which a shop's app finds the writer its purchase routes
#: hand webhooks and beacons to (`feeds.server.purchase_routes`): a callable
#: `cfg -> InboxWriter`. Absent, the routes write to the shop's own inbox (one shop).
INBOX_WRITER = "VENDRE_FEEDS_INBOX_WRITER"
#: How often beat has each shop with purchases send its webhooks' due orders.
SEND_EVERY_S = 60


def enabled(cfg: Config) -> bool:
    """Whether the shop has `[purchases] enabled`."""
    return cfg.purchases.enabled


def webhook_secret(cfg: Config) -> str:
    """The shop's webhook secret ("" when purchases are off or its variable is unset)."""
    if not enabled(cfg):
        return ""
    from feeds.server.purchase_routes import webhook_secret as secret_of

    return secret_of(cfg)


def stored() -> WebhookOutcome:
    """The answer a handed-over webhook gets: stored (what the shard does with it, a
    duplicate or a full inbox, is the shard's; Vendre gets its 2xx once Redis has it)."""
    return WebhookOutcome.STORED


def store_webhook(cfg: Config, order_id: str, body: bytes, received_at: datetime,
                  max_open: int) -> None:
    """Write a webhook into the shop's inbox (on its shard's machine)."""
    outcome = Inbox.in_dir(cfg.data_dir).put_webhook(order_id, body, received_at, max_open)
    if outcome is WebhookOutcome.FULL:
        log.warning("webhook for order %s dropped: more than %d orders wait to be sent "
                    "(the next sync reads the order anyway)", order_id, max_open)


def store_beacon(cfg: Config, order_number: str, data: dict[str, Any],
                 received_at: datetime, max_beacons: int) -> None:
    """Write a beacon into the shop's inbox (on its shard's machine)."""
    Inbox.in_dir(cfg.data_dir).put_beacon(order_number, data, received_at, max_beacons)


def send_due(cfg: Config, now: datetime) -> str:
    """Send the shop's webhooks' orders that waited long enough for their beacon (the
    single-shop poller's look); the run's summary, or "" when nothing was due, another
    run was going on, or purchases are off."""
    if not enabled(cfg):
        return ""
    from feeds.purchases.poll import PurchasesPoller

    report = PurchasesPoller(cfg, now=lambda: now).tick()
    return report.summary() if report is not None else ""
