"""Meta (Facebook/Instagram) catalog: the Google-style RSS form Meta accepts.

Spec: https://developers.facebook.com/docs/marketing-api/catalog/reference
Availability words follow Meta's own Graph API reference for product items
(https://developers.facebook.com/docs/marketing-api/reference/product-item:
`availability enum {in stock, out of stock, preorder, available for order,
discontinued}`), with spaces, unlike Google's underscores.
"""

from __future__ import annotations

from typing import Any

from feeds.channels import Channel, ItemContext, one_of
from feeds.channels.google import apply_extra, base_item, rss
from feeds.core.model import Availability, Derived
from feeds.core.validation import Rule, Severity, required

__all__ = ["CHANNEL"]

AVAILABILITY = {
    Availability.IN_STOCK: "in stock",
    Availability.OUT_OF_STOCK: "out of stock",
    Availability.PREORDER: "preorder",
    Availability.BACKORDER: "available for order",
}
MAX_IMAGES = 20


def _description_fallback(v: Any, item: Any) -> str | None:
    return "no description: the title is used (Meta requires one)" \
        if item.get("_description_is_title") else None


RULES: tuple[Rule, ...] = (
    required("id"),
    Rule("id_max_length", "id", Severity.ERROR,
         lambda v, _: f"{len(v)} characters, more than 100" if v and len(v) > 100 else None),
    required("title"),
    required("description"),
    required("link"),
    required("image_link", what="image (Meta requires one)"),
    required("price", what="price (unknown tax class or unreadable price)"),
    # Meta requires a brand; [shop] default_brand fills it for the shop's own goods.
    required("brand", what="brand (set [shop] default_brand)"),
    one_of("availability", set(AVAILABILITY.values())),
    Rule("description_fallback", "description", Severity.WARNING, _description_fallback),
)


def to_item(derived: Derived, ctx: ItemContext) -> dict[str, Any]:
    product = derived.primary
    item = base_item(product, ctx)
    item["availability"] = AVAILABILITY[product.availability]
    item["additional_image_links"] = list(product.images[1:1 + MAX_IMAGES])
    item["_description_is_title"] = not item["description"] and bool(item["title"])
    if item["_description_is_title"]:
        item["description"] = item["title"]
    return apply_extra(item, getattr(ctx.settings, "extra", {}))


CHANNEL = Channel(
    code="meta",
    title="Meta catalog (Facebook, Instagram)",
    spec_url="https://developers.facebook.com/docs/marketing-api/catalog/reference",
    to_item=to_item,
    rules=RULES,
    limits={"title": 200, "description": 9999, "brand": 100},
    format=rss("feeds/meta.xml"),
)
