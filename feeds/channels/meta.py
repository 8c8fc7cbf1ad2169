"""Meta (Facebook/Instagram) catalog: the Google-style RSS form Meta accepts.

Spec: https://developers.facebook.com/docs/marketing-api/catalog/reference
(field `brand`: one of brand, GTIN or MPN is required, not the brand itself)
Availability words follow Meta's own Graph API reference for product items
(https://developers.facebook.com/docs/marketing-api/reference/product-item:
`availability enum {in stock, out of stock, preorder, available for order,
discontinued}`), with spaces, unlike Google's underscores.
"""

from __future__ import annotations

from typing import Any

from feeds.channels import Channel, ItemContext, one_of
from feeds.channels.google import (
    apply_extra,
    base_item,
    promotional_title,
    rss,
    variant_attribute,
)
from feeds.core.model import Availability, Derived
from feeds.core.validation import Rule, Severity, max_length, required

__all__ = ["CHANNEL"]

AVAILABILITY = {
    Availability.IN_STOCK: "in stock",
    Availability.OUT_OF_STOCK: "out of stock",
    Availability.PREORDER: "preorder",
    Availability.BACKORDER: "available for order",
}
MAX_IMAGES = 20


def _identifier(v: Any, item: Any) -> str | None:
    """Meta's catalog reference (field `brand`): one of brand, GTIN or MPN is required."""
    if v or item.get("gtin") or item.get("mpn"):
        return None
    return "missing brand, GTIN and MPN (Meta requires one of them)"


RULES: tuple[Rule, ...] = (
    required("id"),
    max_length("id", 100, Severity.ERROR, cut=False),
    required("title"),
    required("description"),
    required("link"),
    required("image_link", what="image (Meta requires one)"),
    required("price", what="price (unknown tax class or unreadable price)"),
    Rule("identifier_required", "brand", Severity.ERROR, _identifier),
    one_of("availability", set(AVAILABILITY.values())),
    Rule("title_promotional", "title", Severity.WARNING, promotional_title),
    Rule("variant_attribute_missing", "item_group_id", Severity.WARNING, variant_attribute,
         when="item_group_id"),
)


def to_item(derived: Derived, ctx: ItemContext) -> dict[str, Any]:
    product = derived.primary
    item = base_item(product, ctx)
    item["availability"] = AVAILABILITY[product.availability]
    item["additional_image_links"] = list(product.images[1:1 + MAX_IMAGES])
    return apply_extra(item, getattr(ctx.settings, "extra", {}))


CHANNEL = Channel(
    code="meta",
    title="Meta catalog (Facebook, Instagram)",
    spec_url="https://developers.facebook.com/docs/marketing-api/catalog/reference",
    to_item=to_item,
    rules=RULES,
    limits={"title": 200, "description": 9999, "brand": 100},
    format=rss("feeds/meta.xml"),
    paste_into=("Meta Commerce Manager: Catalogue > Data sources > Data feed > "
                'Scheduled feed'),
)
