"""The one place the fleet meets purchases (issue 18: order webhooks, purchase beacons,
`send-purchases`), so that the fleet works with or without that part.

Purchases are built elsewhere as functions a route calls with (the shop, the headers,
the body) and an injected store writer (`feeds.purchases.intake`). In a fleet:

- the web tier finds the shop by the webhook's secret or the beacon's site key and
  hands the request to that shop's app, whose purchase routes call intake with the
  writer this package puts in `app.config[INBOX_WRITER]`: a `ShardHandoff`
  (`feeds.fleet.handoff`), which sends the write to the shop's shard as a Celery task
  and returns once Redis accepted it;
- the worker of that shard writes it into the shop's inbox (`store_webhook`,
  `store_beacon`), and beat has it send the due orders every minute (`send_due`, the
  same look the single-shop poller takes).

Everything that imports `feeds.purchases` or `feeds.storage.inbox` is in this module,
and each function says what it does while they are absent (`available()` false).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from datetime import datetime
from typing import Any

from feeds.config import Config
from feeds.errors import FeedsError, LockBusy
from feeds.log import mask

__all__ = ["INBOX_WRITER", "SEND_EVERY_S", "available", "enabled", "send_due",
           "store_beacon", "store_webhook", "stored", "webhook_secret"]

log = logging.getLogger("feeds.fleet.purchases")

#: The key of `app.config` under which a shop's app finds the writer its purchase routes
#: hand webhooks and beacons to: a callable `cfg -> InboxWriter`. Absent, the routes
#: write to the shop's own inbox (a single shop).
INBOX_WRITER = "VENDRE_FEEDS_INBOX_WRITER"
#: How often beat has each shop with purchases send its webhooks' due orders.
SEND_EVERY_S = 60


def available() -> bool:
    """Whether this installation has purchases (`feeds.purchases`)."""
    return importlib.util.find_spec("feeds.purchases") is not None


def enabled(cfg: Config) -> bool:
    """Whether the shop has `[purchases] enabled` (False without purchases)."""
    section = getattr(cfg, "purchases", None)
    return bool(available() and section is not None and section.enabled)


def webhook_secret(cfg: Config) -> str:
    """The shop's webhook secret, from the variable its `[purchases] webhook_secret_env`
    names ("" when purchases are off or the variable is unset)."""
    if not enabled(cfg):
        return ""
    return os.environ.get(cfg.purchases.webhook_secret_env, "").strip()  # type: ignore[attr-defined]


def stored() -> Any:
    """The answer a handed-over webhook gets: stored (what the shard does with it, a
    duplicate or a full inbox, is the shard's; Vendre gets its 2xx once Redis has it)."""
    from feeds.storage.inbox import WebhookOutcome

    return WebhookOutcome.STORED


def store_webhook(cfg: Config, order_id: str, body: bytes, received_at: datetime,
                  max_open: int) -> None:
    """Write a webhook into the shop's inbox (on its shard's machine).

    :raises FeedsError: purchases are not part of this installation.
    """
    inbox = _inbox(cfg)
    outcome = inbox.put_webhook(order_id, body, received_at, max_open)
    if str(outcome) == "full":
        log.warning("webhook for order %s dropped: more than %d orders wait to be sent "
                    "(the next sync reads the order anyway)", order_id, max_open)


def store_beacon(cfg: Config, order_number: str, data: dict[str, Any],
                 received_at: datetime, max_beacons: int) -> None:
    """Write a beacon into the shop's inbox (on its shard's machine)."""
    _inbox(cfg).put_beacon(order_number, data, received_at, max_beacons)


def _inbox(cfg: Config) -> Any:
    if not available():
        raise FeedsError("purchases are not part of this installation; the webhook was "
                         "not stored")
    from feeds.storage.inbox import Inbox

    return Inbox.in_dir(cfg.data_dir)


def send_due(cfg: Config, now: datetime) -> str:
    """Send the shop's webhooks' orders that waited long enough for their beacon (the
    single-shop poller's look); the run's summary, or "" when nothing was due, another
    run was going on, or purchases are off."""
    if not enabled(cfg):
        return ""
    from feeds.purchases.poll import GRACE
    from feeds.purchases.run import send_purchases
    from feeds.storage.inbox import Inbox

    waited = now - GRACE
    if not Inbox.in_dir(cfg.data_dir).open_count(received_before=waited):
        return ""
    try:
        report = send_purchases(cfg, webhooks_only=True, webhooks_before=waited)
    except LockBusy:
        return ""  # a refresh is sending them; it takes these too
    except FeedsError as exc:
        log.warning("purchases not sent: %s", mask(str(exc)))
        return ""
    return str(report.summary())
