"""GA4 through gtag.js: the loader, `config`, and ecommerce events as `gtag('event', ...)`.

Spec: https://developers.google.com/analytics/devguides/collection/ga4/reference/events
(parameters) and https://developers.google.com/tag-platform/gtagjs/install (loader).
`value` is the goods' value without shipping and always comes with `currency`;
`purchase` carries a non-empty `transaction_id` (GA4 merges purchases with an empty
one), `tax` and `shipping`. `view_item_list` has neither `value` nor `currency`,
as in GA4's reference. The page view is sent by `config` itself.
The GTM service sends the same parameters as its dataLayer `ecommerce` object.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tracking.events import Event, EventItem
from tracking.options import TrackingOptions
from tracking.services import Service

__all__ = ["ID_PATTERN", "SERVICE", "context", "event_params", "item_params"]

ID_PATTERN = re.compile(r"^G-[A-Z0-9]{4,}$", re.ASCII)
_CATEGORY_KEYS = ("item_category", "item_category2", "item_category3", "item_category4",
                  "item_category5")


def item_params(item: EventItem, include_vat: bool) -> dict[str, Any]:
    """One GA4 item. Empty strings are left out rather than sent as empty values;
    categories fill item_category..item_category5 from the top of the path."""
    params = {
        "item_id": item.id,
        "item_name": item.name,
        "item_brand": item.brand,
        **dict(zip(_CATEGORY_KEYS, item.categories, strict=False)),
        "item_variant": item.variant,
        "price": item.unit_price(include_vat),
        "quantity": item.quantity,
        "index": item.index,
    }
    return {k: v for k, v in params.items() if v != ""}


def _items(event: Any, options: TrackingOptions) -> list[dict[str, Any]]:
    return [item_params(i, options.prices_include_vat) for i in event.items]


def _priced(event: Any, options: TrackingOptions) -> dict[str, Any]:
    return {"currency": event.currency,
            "value": event.goods_value(options.prices_include_vat),
            "items": _items(event, options)}


def _item_list(event: Any, options: TrackingOptions) -> dict[str, Any]:
    params = {"item_list_id": event.list_id, "item_list_name": event.list_name}
    return {**{k: v for k, v in params.items() if v}, "items": _items(event, options)}


def _purchase(event: Any, options: TrackingOptions) -> dict[str, Any]:
    return {"transaction_id": event.transaction_id, **_priced(event, options),
            "tax": event.tax, "shipping": event.shipping}


_PARAMS: dict[str, Callable[[Any, TrackingOptions], dict[str, Any]]] = {
    "view_item": _priced,
    "view_item_list": _item_list,
    "add_to_cart": _priced,
    "view_cart": _priced,
    "begin_checkout": _priced,
    "purchase": _purchase,
}
EVENTS = frozenset(_PARAMS)


def event_params(event: Event, options: TrackingOptions) -> dict[str, Any]:
    """GA4's parameters for `event`, whose name must be in `EVENTS`."""
    return _PARAMS[event.name](event, options)


def context(event: Event, options: TrackingOptions) -> dict[str, Any]:
    """`gtag('event', name, params)`."""
    return {"name": event.name, "params": event_params(event, options)}


SERVICE = Service(
    code="ga4",
    title="Google Analytics 4 (gtag.js)",
    spec_url="https://developers.google.com/analytics/devguides/collection/ga4/reference/events",
    description="gtag.js loader and config in <head>; ecommerce events via gtag('event')",
    id_setting="ga4_id",
    id_pattern=ID_PATTERN,
    id_hint="a GA4 measurement id (G-XXXX)",
    templates={"head": "tracking/ga4.html"},
    event_template="tracking/ga4_event.html",
    events=EVENTS,
    context=context,
    position=20,
)
