"""Receiving a webhook or a beacon: (shop, headers, body) -> a `Reply` and one durable write.

No Flask here: a route (or a multi-tenant tier that found the shop by the webhook's
secret or the beacon's site key) reads the body within its cap, calls these functions
with an `InboxWriter` (`feeds.storage.inbox.Inbox`, or anything with its two `put_`
methods) and turns the `Reply` into its response.

Webhooks (Vendre's `new_order` / `updated_order`, the order as GET on an order returns
it, vendre-api.md §10): a JSON object with a readable order id, at most 1 MB, is kept
durably, keyed by its order id, before the 2xx; anything else is a 400 with one line and
is kept nowhere. At most `MAX_OPEN_WEBHOOKS` wait to be looked at; beyond that a webhook
gets 503 with Retry-After (Vendre may retry, and `sync` fills the gap either way).

Beacons (the loader, `navigator.sendBeacon` on a confirmation page): JSON as
`text/plain` or `application/json`, at most 4 KB, from an allowed `Origin`. Only what
the beacon's consent allows is kept (`feeds.purchases.payloads.allowed`), with the
request's User-Agent and the client's IP. A beacon is answered 204, or a bare 4xx,
never with data.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

from feeds.errors import StoreError
from feeds.purchases.payloads import Beacon, Consent, allowed
from feeds.storage.inbox import WebhookOutcome
from feeds.vendre.parse import order_key, order_number

__all__ = ["MAX_BEACON_BYTES", "MAX_OPEN_WEBHOOKS", "MAX_WEBHOOK_BYTES", "InboxWriter",
           "IntakeShop", "Reply", "client_ip", "order_object", "read_json", "receive_beacon",
           "receive_webhook"]

MAX_WEBHOOK_BYTES = 1024 * 1024
MAX_BEACON_BYTES = 4 * 1024
MAX_OPEN_WEBHOOKS = 100_000
RETRY_AFTER_S = 60
_BEACON_TYPES = ("text/plain", "application/json")
_MAX_URL = 2048
_MAX_UA = 512


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, one line of text (never for a beacon), extra headers."""

    status: int
    text: str = ""
    headers: tuple[tuple[str, str], ...] = ()


class InboxWriter(Protocol):
    def put_webhook(self, order_id: str, body: bytes, now: datetime,
                    max_open: int) -> WebhookOutcome: ...

    def put_beacon(self, order_number: str, data: dict[str, Any], now: datetime,
                   max_beacons: int) -> None: ...


@dataclass(frozen=True)
class IntakeShop:
    """What intake needs to know of the shop a request was matched to."""

    allows_origin: Callable[[str], bool]  # Origin header value -> allowed?
    max_beacons: int
    max_open_webhooks: int = MAX_OPEN_WEBHOOKS


# ---------------------------------------------------------------- webhooks


def read_json(body: bytes) -> Any:
    """The body's JSON, or None when it is not JSON (orjson refuses nesting beyond 1024
    levels with an error, never a crash)."""
    try:
        return orjson.loads(body)
    except (orjson.JSONDecodeError, RecursionError):
        return None


def order_object(raw: Any) -> Mapping[str, Any] | None:
    """The order in a webhook body: the object itself, or one wrapped under `order` or
    `data` (an envelope some integrations use); None when no order id can be read."""
    if not isinstance(raw, Mapping):
        return None
    if order_key(raw) is not None:
        return raw
    for key in ("order", "data"):
        inner = raw.get(key)
        if isinstance(inner, Mapping) and order_key(inner) is not None:
            return inner
    return None


def receive_webhook(body: bytes, writer: InboxWriter, now: datetime, *,
                    max_open: int = MAX_OPEN_WEBHOOKS) -> Reply:
    """Keep one order webhook durably; the reply says what happened, in one line."""
    if len(body) > MAX_WEBHOOK_BYTES:
        return Reply(413, "the body is larger than 1 MB")
    raw = read_json(body)
    if not isinstance(raw, Mapping):
        return Reply(400, "the body is not a JSON object" if raw is not None or body.strip()
                     else "the body is empty")
    order = order_object(raw)
    if order is None:
        return Reply(400, "the order has no readable id (id, orders_id, order_id, number)")
    key = str(order_key(order))
    try:
        outcome = writer.put_webhook(key, body, now, max_open)
    except StoreError:
        return Reply(503, "the order could not be stored; send it again",
                     (("Retry-After", str(RETRY_AFTER_S)),))
    if outcome is WebhookOutcome.FULL:
        return Reply(503, f"more than {max_open} orders wait to be sent; send it again later",
                     (("Retry-After", str(RETRY_AFTER_S)),))
    return Reply(200, f"order {key} stored" if outcome is WebhookOutcome.STORED
                 else f"order {key} was stored already")


# ---------------------------------------------------------------- beacons


def receive_beacon(shop: IntakeShop, headers: Mapping[str, str], body: bytes, ip: str,
                   writer: InboxWriter, now: datetime) -> Reply:
    """Keep one beacon (what its consent allows); 204, or a bare 4xx."""
    origin = headers.get("Origin", "")
    if not origin or not shop.allows_origin(origin):
        return Reply(403)
    kind = headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind not in _BEACON_TYPES:
        return Reply(415)
    if len(body) > MAX_BEACON_BYTES:
        return Reply(413)
    beacon = read_beacon(read_json(body), shop, headers.get("User-Agent", ""), ip, now)
    if beacon is None:
        return Reply(400)
    try:
        writer.put_beacon(beacon.order, beacon.stored(), now, shop.max_beacons)
    except StoreError:
        return Reply(503)
    return Reply(204)


def read_beacon(raw: Any, shop: IntakeShop, user_agent: str, ip: str,
                now: datetime) -> Beacon | None:
    """The beacon in a JSON body, each field checked, cut down to what consent allows;
    None without a usable order number."""
    if not isinstance(raw, Mapping):
        return None
    number = order_number({"order": raw.get("order")}, "order")
    if not number:
        return None
    beacon = Beacon(
        order=number, received_at=now, consent=Consent.read(raw.get("consent")),
        ga_client_id=_matching(raw.get("ga_client_id"), _is_client_id),
        ga_session_id=_matching(raw.get("ga_session_id"), _is_digits),
        fbp=_matching(raw.get("fbp"), _is_fb_cookie),
        fbc=_matching(raw.get("fbc"), _is_fb_cookie),
        page_url=_page_url(raw.get("page_url"), shop),
        user_agent=user_agent.strip() if user_agent.isprintable() and
        len(user_agent) <= _MAX_UA else "",
        ip=ip)
    return allowed(beacon)


def _matching(value: Any, check: Callable[[str], bool]) -> str:
    if type(value) is int and value >= 0:
        value = str(value)
    return value.strip() if type(value) is str and check(value.strip()) else ""


def _is_digits(text: str) -> bool:
    return 0 < len(text) <= 20 and text.isascii() and text.isdigit()


def _is_client_id(text: str) -> bool:
    """The `_ga` cookie's client id: two numbers joined by a dot ("123.456")."""
    left, dot, right = text.partition(".")
    return bool(dot) and _is_digits(left) and _is_digits(right)


def _is_fb_cookie(text: str) -> bool:
    """`_fbp` / `_fbc`: `fb.<subdomain index>.<creation time>.<random number or fbclid>`."""
    parts = text.split(".", 3)
    return (len(text) <= 600 and len(parts) == 4 and parts[0] == "fb" and _is_digits(parts[1])
            and _is_digits(parts[2]) and bool(parts[3])
            and all(c.isascii() and (c.isalnum() or c in "_-.") for c in parts[3]))


def _page_url(value: Any, shop: IntakeShop) -> str:
    """The confirmation page's URL on an allowed origin, without query or fragment (they
    may carry an order token or an e-mail); "" otherwise."""
    if type(value) is not str or len(value) > _MAX_URL or not value.isprintable():
        return ""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    if not shop.allows_origin(f"{parts.scheme}://{parts.netloc}"):
        return ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


def client_ip(peer: str, forwarded_for: str, trusted: Collection[str]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the last
    address of its X-Forwarded-For (the one nginx appends, `$proxy_add_x_forwarded_for`:
    whatever a client wrote there itself stands before it). "" when unreadable."""
    address = peer
    if forwarded_for and _canonical(peer) in {_canonical(t) for t in trusted}:
        address = forwarded_for.split(",")[-1].strip()
    return _canonical(address)


def _canonical(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return ""
