"""Google Merchant Center: RSS 2.0 with the g: namespace.

Spec: https://support.google.com/merchants/answer/7052112 (product data),
https://support.google.com/merchants/answer/160589 (RSS 2.0 feeds).
Prices include VAT; no g:tax (US sales tax only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from feeds.channels import Channel, ItemContext, iso_datetime, money, one_of, weight
from feeds.core.model import Availability, Derived, Product
from feeds.core.outputs import GOOGLE_NS, RssXml
from feeds.core.validation import Rule, Severity, required

__all__ = ["CHANNEL", "RULES", "apply_extra", "availability_date", "base_item", "rss"]

NS = GOOGLE_NS

AVAILABILITY = {
    Availability.IN_STOCK: "in_stock",
    Availability.OUT_OF_STOCK: "out_of_stock",
    Availability.PREORDER: "preorder",
    Availability.BACKORDER: "backorder",
}
MAX_IMAGES = 10  # additional_image_link


def _id_rule(v: Any, _item: Any) -> str | None:
    return f"{len(v)} characters, more than 50" if v and len(v) > 50 else None


def _dated(status: str) -> Any:
    def test(v: Any, item: Any) -> str | None:
        if item.get("availability") == status and not v:
            return f"{status} without availability_date"
        return None

    return test


# Coupon and restricted-circulation GTIN prefixes get "Unsupported value" in Merchant Center.
_RESTRICTED_GTIN = re.compile(r"^(0?(98[1-4]|99|05)|0?2\d{11}$)")


def _gtin_prefix(v: Any, _item: Any) -> str | None:
    if v and _RESTRICTED_GTIN.match(v):
        return f"GTIN {v} has a coupon or restricted-circulation prefix"
    return None


RULES: tuple[Rule, ...] = (
    required("id"),
    Rule("id_max_length", "id", Severity.ERROR, _id_rule),
    required("title"),
    required("link"),
    required("image_link", what="image (Google requires one)"),
    required("price", what="price (unknown tax class or unreadable price)"),
    one_of("availability", set(AVAILABILITY.values())),
    Rule("preorder_date", "availability_date", Severity.ERROR, _dated("preorder")),
    # Vendre has no restock date for backorders; Google asks for one, so warn.
    Rule("backorder_date", "availability_date", Severity.WARNING, _dated("backorder")),
    required("description", Severity.WARNING),
    required("brand", Severity.WARNING, what="brand (set [shop] default_brand for own goods)"),
    Rule("gtin_prefix", "gtin", Severity.WARNING, _gtin_prefix),
)


def availability_date(product: Product) -> str:
    return iso_datetime(product.availability_date) if product.availability_date else ""


def _sale_window(product: Product) -> str:
    """`start/end` only when the whole range is known (Google wants both ends)."""
    if product.sale_price and product.sale_start and product.sale_end:
        return f"{iso_datetime(product.sale_start)}/{iso_datetime(product.sale_end)}"
    return ""


def base_item(product: Product, ctx: ItemContext) -> dict[str, Any]:
    """The fields Google, Criteo (and, re-worded, Meta) share."""
    images = product.images
    return {
        "id": product.feed_id,
        "title": product.title,
        "description": product.description,
        "link": product.link,
        "image_link": images[0] if images else "",
        "additional_image_links": list(images[1:1 + MAX_IMAGES]),
        "availability_date": availability_date(product),
        "price": money(product.price),
        "sale_price": money(product.sale_price),
        "sale_price_effective_date": _sale_window(product),
        "condition": "new",
        "brand": product.brand or ctx.default_brand,
        "gtin": product.gtin or "",
        "mpn": product.mpn,
        # Google: identifier_exists=no only when the item has neither GTIN nor MPN.
        "identifier_exists": "" if product.gtin or product.mpn else "no",
        "item_group_id": product.group_id or "",
        "product_type": " > ".join(product.category_path),
        "google_product_category": str(product.google_product_category or ""),
        "shipping_weight": weight(product.weight_kg),
        "custom_labels": dict(ctx.labels.get(product.feed_id, {})),
        "extra": {},
    }


_LISTS = {"extra", "custom_labels", "additional_image_links"}


def apply_extra(item: dict[str, Any], extra: Mapping[str, str]) -> dict[str, Any]:
    """The fixed values of `[channels.<name>] extra`: replace a field the item has
    (e.g. `condition`), set a custom label, or add a new element."""
    for name, value in extra.items():
        if name in item and name not in _LISTS:
            item[name] = value
        elif name.startswith("custom_label_"):
            item["custom_labels"][name] = value
        else:
            item["extra"][name] = value
    return item


def rss(template: str) -> RssXml:
    """The RSS 2.0 form with the g: namespace that Google, Meta and Criteo read."""
    return RssXml(template=template, namespaces={"g": NS})


def to_item(derived: Derived, ctx: ItemContext) -> dict[str, Any]:
    product = derived.primary
    item = base_item(product, ctx)
    item["availability"] = AVAILABILITY[product.availability]
    return apply_extra(item, getattr(ctx.settings, "extra", {}))


CHANNEL = Channel(
    code="google",
    title="Google Merchant Center",
    spec_url="https://support.google.com/merchants/answer/7052112",
    to_item=to_item,
    rules=RULES,
    limits={"title": 150, "description": 5000, "brand": 70},
    format=rss("feeds/google.xml"),
)
