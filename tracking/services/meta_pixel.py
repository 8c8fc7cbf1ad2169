"""Meta Pixel: the base code (with `PageView`) and standard ecommerce events.

Spec: https://developers.facebook.com/docs/meta-pixel/reference (events and
parameters), https://developers.facebook.com/docs/meta-pixel/get-started (base
code) and .../meta-pixel/implementation/gdpr (consent). `content_ids` name the
items, or their variant groups with `meta_group_ids` (content_type
`product_group`; an item without a group uses its own id). `Purchase` carries
`eventID` = the order number so that a Conversions API event with the same id is
deduplicated. With consent mode the pixel starts revoked and the `<noscript>`
image, which would set cookies without consent, is left out.
"""

from __future__ import annotations

import re
from typing import Any

from tracking.events import Event, EventItem, Purchase
from tracking.options import TrackingOptions
from tracking.services import Service

__all__ = ["ID_PATTERN", "SERVICE", "context"]

ID_PATTERN = re.compile(r"^\d{6,20}$", re.ASCII)
_NAMES = {
    "view_item": "ViewContent",
    "add_to_cart": "AddToCart",
    "begin_checkout": "InitiateCheckout",
    "purchase": "Purchase",
}


def _content_id(item: EventItem, options: TrackingOptions) -> str:
    return (item.group_id or item.id) if options.meta_group_ids else item.id


def _params(event: Any, options: TrackingOptions) -> dict[str, Any]:
    ids = [_content_id(i, options) for i in event.items]
    params: dict[str, Any] = {
        "content_ids": list(dict.fromkeys(ids)),  # two variants of one group name it once
        "content_type": "product_group" if options.meta_group_ids else "product",
        "contents": [{"id": cid, "quantity": i.quantity} for cid, i in zip(ids, event.items,
                                                                           strict=True)],
        "value": event.goods_value(options.prices_include_vat),
        "currency": event.currency,
    }
    if event.name == "view_item":
        params["content_name"] = event.item.name
    if event.name == "begin_checkout":
        params["num_items"] = sum(i.quantity for i in event.items)
    return params


def context(event: Event, options: TrackingOptions) -> dict[str, Any]:
    """`fbq('track', name, params[, event_options])`."""
    extra = {"eventID": event.transaction_id} if isinstance(event, Purchase) else {}
    return {"name": _NAMES[event.name], "params": _params(event, options),
            "event_options": extra}


SERVICE = Service(
    code="meta_pixel",
    title="Meta Pixel",
    spec_url="https://developers.facebook.com/docs/meta-pixel/reference",
    description="base code with PageView in <head>, <noscript> image in <body> (not with "
                "consent mode); ViewContent, AddToCart, InitiateCheckout, Purchase",
    id_setting="meta_pixel_id",
    id_pattern=ID_PATTERN,
    id_hint="a Meta Pixel id (6 to 20 digits)",
    templates={"head": "tracking/meta_pixel.html", "body": "tracking/meta_pixel_body.html"},
    event_template="tracking/meta_pixel_event.html",
    events=frozenset(_NAMES),
    context=context,
    position=30,
)
