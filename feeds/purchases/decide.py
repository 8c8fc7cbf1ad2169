"""What one order becomes with one platform, against the ledger: pure, no I/O.

`decide` returns the actions of one order and platform: an entry to record (too old,
no consent, no match data, failed), or an entry to send with its payload (recorded
`pending` before the request and `sent` after a 2xx by `feeds.purchases.run`), each
with the line `--dry-run` prints. An order already sent or too old gets no action.

Statuses: an order counts as a purchase when its status is in `[purchases] statuses`
(empty: every order) and not in `refund_statuses`. An order in a refund status is
never sent as a purchase; if its purchase was sent to GA4, a GA4 `refund` is sent,
once. Meta has no refund event.

Consent (the issue's rules): GA4 uses the browser's client id and session only from
a beacon with analytics_storage granted, else a client id made up for the order.
Meta uses the browser's UA, IP, page URL, fbp and fbc only from a beacon with
ad_storage and ad_user_data granted (then `action_source` is `website`); without
them it sends an `other` event matched by the customer's hashed data, when
`send_user_data` is on. A beacon whose visitor refused ad_user_data stops the Meta
event altogether ("no consent"): their e-mail is not sent behind their back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from feeds.core.model import Order
from feeds.purchases.payloads import (
    Beacon,
    Platform,
    ga4_purchase,
    ga4_refund,
    hashed,
    meta_purchase,
    meta_user_data,
    money,
    too_old,
)
from feeds.storage.ledger import FINAL_SEND_STATES, SendEntry, SendState
from tracking.events import Purchase
from tracking.options import TrackingOptions

__all__ = ["PURCHASE", "REFUND", "Action", "Candidate", "Rules", "decide", "reason_not_sent"]

PURCHASE, REFUND = "purchase", "refund"
Key = tuple[str, str, str]


@dataclass(frozen=True)
class Rules:
    """The settings a decision depends on."""

    options: TrackingOptions
    statuses: frozenset[int]
    refund_statuses: frozenset[int]
    send_user_data: bool
    default_country: str


@dataclass(frozen=True)
class Candidate:
    """One order as a run sees it: its purchase event (None with `failure` saying why),
    when it was placed (None: unknown) and the beacon its browser sent, if any."""

    order: Order
    order_time: datetime | None
    purchase: Purchase | None
    failure: str = ""
    beacon: Beacon | None = None


@dataclass(frozen=True)
class Action:
    """An entry to record; with a payload, a request to send (the entry goes pending
    first, sent after the 2xx)."""

    entry: SendEntry
    payload: dict[str, Any] | None
    line: str


def _status_kind(order: Order, rules: Rules) -> str:
    """"purchase", "refund" or "" (a status that is neither)."""
    status = order.status_id
    if status is not None and status in rules.refund_statuses:
        return REFUND
    if not rules.statuses or (status is not None and status in rules.statuses):
        return PURCHASE
    return ""


def _entry(c: Candidate, platform: Platform, event: str, state: SendState, now: datetime,
           **values: Any) -> SendEntry:
    return SendEntry(platform=platform.value, order_id=c.order.id, event=event, state=state,
                     number=c.order.number, order_date=c.order_time, updated_at=now, **values)


def _age(c: Candidate, platform: Platform, now: datetime) -> str:
    limit = "72 h" if platform is Platform.GA4 else "7 days"
    name = "GA4" if platform is Platform.GA4 else "Meta"
    if c.order_time is None:
        return f"too old: the order has no readable date, so its age is unknown " \
               f"({name} takes events up to {limit})"
    hours = (now - c.order_time).total_seconds() / 3600
    shown = f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.1f} days"
    return f"too old: placed {shown} ago ({name} takes events up to {limit})"


def _goods(purchase: Purchase, rules: Rules) -> str:
    value = purchase.goods_value(rules.options.prices_include_vat)
    return f"{money(value)} {purchase.currency}, {len(purchase.items)} items"


def decide(c: Candidate, platform: Platform, entries: Mapping[Key, SendEntry], rules: Rules,
           now: datetime, new_client_id: Callable[[], str]) -> list[Action]:
    """The actions for one order and platform (none when nothing is to be done)."""
    kind = _status_kind(c.order, rules)
    sent = entries.get((platform.value, c.order.id, PURCHASE))
    number = c.order.number
    if kind == REFUND:
        return _refund(c, platform, sent, entries, rules, now)
    if not kind:
        return []  # `reason_not_sent` says why, for a dry run
    if sent is not None and sent.state in FINAL_SEND_STATES:
        return []
    if c.purchase is None:
        entry = _entry(c, platform, PURCHASE, SendState.FAILED, now, detail=c.failure)
        return [Action(entry, None, f"{number} {platform}: not sent: {c.failure}")]
    if too_old(c.order_time, now, platform):
        text = _age(c, platform, now)
        return [Action(_entry(c, platform, PURCHASE, SendState.TOO_OLD, now, detail=text),
                       None, f"{number} {platform}: {text}")]
    if platform is Platform.GA4:
        return [_ga4(c, sent, rules, now, new_client_id)]
    return [_meta(c, rules, now)]


def _ga4(c: Candidate, sent: SendEntry | None, rules: Rules, now: datetime,
         new_client_id: Callable[[], str]) -> Action:
    assert c.purchase is not None and c.order_time is not None
    beacon = c.beacon
    attributed = bool(beacon and beacon.ga_client_id)
    client_id = (beacon.ga_client_id if beacon and attributed else
                 sent.client_id if sent and sent.client_id else new_client_id())
    payload = ga4_purchase(c.purchase, rules.options, order_time=c.order_time,
                           client_id=client_id, beacon=beacon)
    p = c.purchase
    who = ("the browser's client id" + (", its session" if beacon and beacon.ga_session_id
                                        else "")) if attributed else \
        "a client id of its own (no beacon with analytics consent)"
    line = (f"{c.order.number} ga4: purchase {_goods(p, rules)}, tax {money(p.tax)}, "
            f"shipping {money(p.shipping)}; {who}")
    entry = _entry(c, Platform.GA4, PURCHASE, SendState.PENDING, now, attributed=attributed,
                   client_id=client_id)
    return Action(entry, payload, line)


def _meta(c: Candidate, rules: Rules, now: datetime) -> Action:
    assert c.purchase is not None and c.order_time is not None
    beacon, number = c.beacon, c.order.number
    if beacon is not None and not beacon.consent.ad_user_data:
        text = "no consent: the visitor refused ad_user_data"
        return Action(_entry(c, Platform.META, PURCHASE, SendState.NO_CONSENT, now,
                             detail=text), None, f"{number} meta: {text}; not sent")
    website = beacon is not None and beacon.website_ready
    customer = c.order.customer if rules.send_user_data else None
    user_data = meta_user_data(beacon if website else None, customer,
                               default_country=rules.default_country)
    if not website and not (customer and hashed(customer, rules.default_country)):
        state = SendState.NO_CONSENT if beacon is not None and not beacon.consent.ads \
            else SendState.NO_MATCH_DATA
        text = ("no consent: the visitor refused ad_storage" if state is SendState.NO_CONSENT
                else "no match data: no beacon with ads consent"
                + ("" if rules.send_user_data else ", and [purchases] send_user_data is off")
                + ("" if not rules.send_user_data else ", and no customer data"))
        return Action(_entry(c, Platform.META, PURCHASE, state, now, detail=text), None,
                      f"{number} meta: {text}; not sent")
    payload = meta_purchase(c.purchase, rules.options, order_time=c.order_time,
                            user_data=user_data, source_url=beacon.page_url
                            if website and beacon else "")
    shown = ", ".join(k if k in ("client_user_agent", "client_ip_address", "fbp", "fbc")
                      else f"{k} hashed" for k in user_data)
    line = (f"{number} meta: Purchase {_goods(c.purchase, rules)}; "
            f"{payload['action_source']}; user data: {shown}")
    entry = _entry(c, Platform.META, PURCHASE, SendState.PENDING, now, attributed=website)
    return Action(entry, payload, line)


def _refund(c: Candidate, platform: Platform, sent: SendEntry | None,
            entries: Mapping[Key, SendEntry], rules: Rules, now: datetime) -> list[Action]:
    number = c.order.number
    if platform is not Platform.GA4 or sent is None or sent.state is not SendState.SENT:
        return []
    done = entries.get((platform.value, c.order.id, REFUND))
    if done is not None and done.state in FINAL_SEND_STATES:
        return []
    if c.purchase is None:
        entry = _entry(c, platform, REFUND, SendState.FAILED, now, detail=c.failure)
        return [Action(entry, None, f"{number} ga4: refund not sent: {c.failure}")]
    payload = ga4_refund(c.purchase, rules.options, client_id=sent.client_id)
    entry = replace(_entry(c, platform, REFUND, SendState.PENDING, now),
                    client_id=sent.client_id, attributed=sent.attributed)
    value = c.purchase.goods_value(rules.options.prices_include_vat)
    return [Action(entry, payload, f"{number} ga4: refund {money(value)} "
                                   f"{c.purchase.currency} (status {c.order.status_id})")]


def reason_not_sent(c: Candidate, rules: Rules) -> str:
    """Why an order gets no action at all (for a dry-run line), or ""."""
    if not _status_kind(c.order, rules):
        return (f"status {c.order.status_id} is not a purchase status "
                "([purchases] statuses); not sent")
    return ""

