"""Criteo OneTag: the loader and one `criteo_q.push` per page event.

Spec: https://help.criteo.com/kb/guide/en/all-criteo-onetag-events-and-parameters-vZbzbEeY86
(support.criteo.com 202806951 and 205573701). Each push carries `setAccount`,
`setEmail` (only when the event has an email: SHA-256 of the trimmed, lower-cased
address, never the address), `setSiteType` and the page event, as in Criteo's
examples. Ids must equal the feed's ids. With consent mode the loader is inserted
only once the visitor consents (see templates/tracking/consent.html); pushes made
before then wait in `criteo_q`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from tracking.events import Event
from tracking.options import TrackingOptions
from tracking.services import Service

__all__ = ["ID_PATTERN", "SERVICE", "context", "hashed_email"]

ID_PATTERN = re.compile(r"^\d{1,10}$", re.ASCII)
_SPEC = "https://help.criteo.com/kb/guide/en/all-criteo-onetag-events-and-parameters-vZbzbEeY86"
_LIST_IDS = 3  # Criteo asks for the first three ids of a listing


def hashed_email(email: str) -> str:
    """SHA-256 hex of the trimmed, lower-cased, UTF-8 email."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def _basket(event: Any, options: TrackingOptions) -> list[dict[str, Any]]:
    return [{"id": i.id, "price": i.unit_price(options.prices_include_vat),
             "quantity": i.quantity} for i in event.items]


def _view_list(event: Any, _options: TrackingOptions) -> dict[str, Any]:
    return {"event": "viewList", "item": [i.id for i in event.items[:_LIST_IDS]]}


def _transaction(event: Any, options: TrackingOptions) -> dict[str, Any]:
    return {"event": "trackTransaction", "id": event.transaction_id,
            "item": _basket(event, options)}


_EVENTS: dict[str, Callable[[Any, TrackingOptions], dict[str, Any]]] = {
    "view_home": lambda _e, _o: {"event": "viewHome"},
    "view_item_list": _view_list,
    "view_item": lambda e, _o: {"event": "viewItem", "item": e.item.id},
    "view_cart": lambda e, o: {"event": "viewBasket", "item": _basket(e, o)},
    "add_to_cart": lambda e, o: {"event": "addToCart", "item": _basket(e, o)},
    "purchase": _transaction,
}


def context(event: Event, options: TrackingOptions) -> dict[str, Any]:
    """`criteo_q.push(*batch)`; `options.criteo_account` must be a valid, set id."""
    batch: list[dict[str, Any]] = [{"event": "setAccount",
                                    "account": int(options.criteo_account)}]
    email = getattr(event, "email", "")
    if email:
        batch.append({"event": "setEmail", "email": hashed_email(email),
                      "hash_method": "sha256"})
    batch.append({"event": "setSiteType", "type": options.criteo_site_type})
    batch.append(_EVENTS[event.name](event, options))
    return {"batch": batch}


SERVICE = Service(
    code="criteo",
    title="Criteo OneTag",
    spec_url=_SPEC,
    description="OneTag loader in <head> (after consent with consent mode); viewHome, "
                "viewList, viewItem, viewBasket, addToCart, trackTransaction",
    id_setting="criteo_account",
    id_pattern=ID_PATTERN,
    id_hint="a Criteo account id (1 to 10 digits)",
    templates={"head": "tracking/criteo.html"},
    event_template="tracking/criteo_event.html",
    events=frozenset(_EVENTS),
    context=context,
    position=40,
)
