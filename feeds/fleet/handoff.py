"""A webhook or beacon handed to its shop's shard: the web tier's "store writer".

The web tier keeps nothing: it gives the purchase routes this writer instead of the
shop's inbox. Each `put_` sends one Celery task to the queue of the shop's shard and
returns once Redis has accepted the message (an LPUSH that returned), so a webhook is
answered 2xx only when it is in Redis; if Redis cannot be reached within a short retry
the writer raises `StoreError`, which the routes answer with 503 and Retry-After.
A webhook is kept as long as Redis keeps its messages: run Redis with its append-only
file (deploy/compose.yaml does).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from feeds.errors import StoreError
from feeds.fleet import purchases
from feeds.fleet.celery_app import BEACON, WEBHOOK, queue_name

__all__ = ["RETRY_POLICY", "ShardHandoff"]

log = logging.getLogger("feeds.fleet.handoff")

#: A webhook waits at most about a second for Redis before it is answered 503 (Vendre
#: sends it again); kombu's default would keep the request waiting much longer.
RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.3,
                "interval_max": 0.5}

Send = Callable[..., Any]


class ShardHandoff:
    """An `InboxWriter` (feeds.purchases.intake) that writes on the shop's shard.

    :param send: the fleet's `Celery.send_task`.
    """

    def __init__(self, send: Send, shop: str, shard: int) -> None:
        self._send = send
        self.shop = shop
        self.shard = shard

    def put_webhook(self, order_id: str, body: bytes, now: datetime, max_open: int) -> Any:
        self._hand(WEBHOOK, [self.shop, self.shard, order_id,
                             base64.b64encode(body).decode("ascii"), now.isoformat(),
                             max_open], f"webhook for order {order_id}")
        return purchases.stored()

    def put_beacon(self, order_number: str, data: dict[str, Any], now: datetime,
                   max_beacons: int) -> None:
        self._hand(BEACON, [self.shop, self.shard, order_number, data, now.isoformat(),
                            max_beacons], f"beacon for order {order_number}")

    def _hand(self, task: str, args: list[Any], what: str) -> None:
        try:
            self._send(task, args=args, queue=queue_name(self.shard), retry=True,
                       retry_policy=RETRY_POLICY,
                       # The body holds a customer's order: never in a log line.
                       argsrepr=f"({self.shop!r}, {self.shard}, ...)")
        except Exception as exc:  # kombu and redis raise their own connection errors
            log.error("%s of %s not handed to shard %d: %s", what, self.shop, self.shard,
                      type(exc).__name__)
            raise StoreError(f"the broker did not accept the {what}; send it again") from None
