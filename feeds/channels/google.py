"""Google Merchant Center: RSS 2.0 with the g: namespace.

Spec: https://support.google.com/merchants/answer/7052112 (product data),
https://support.google.com/merchants/answer/160589 (RSS 2.0 feeds).
Prices include VAT; no g:tax (US sales tax only).

- brand: only when known (answer/6324351: never a made-up value; `[shop] default_brand`
  is applied by the parser only to the shop's own goods, those without an EAN);
- identifier_exists (answer/6324478): `no` only when there is no evidence of an
  identifier; a GTIN, or a brand with an MPN, is one (see `_identifier_exists`);
- availability_date (answer/6324470): required for preorder and backorder, at most a
  year ahead;
- variants (answer/6324507): every item of an item_group_id names what sets it apart
  (color, size, material, pattern);
- GTINs with restricted-circulation or coupon prefixes (02, 04, 2 as 13-digit codes;
  981-984, 99, 05) are refused by Merchant Center;
- promotional text in titles is disapproved (answer/6324415).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from feeds.channels import Channel, ItemContext, iso_datetime, money, one_of, weight
from feeds.core.model import Availability, Derived, Product
from feeds.core.outputs import GOOGLE_NS, RssXml
from feeds.core.validation import Rule, Severity, max_length, required

__all__ = ["CHANNEL", "RULES", "apply_extra", "availability_date", "base_item",
           "promotional_title", "rss", "variant_attribute"]

NS = GOOGLE_NS

AVAILABILITY = {
    Availability.IN_STOCK: "in_stock",
    Availability.OUT_OF_STOCK: "out_of_stock",
    Availability.PREORDER: "preorder",
    Availability.BACKORDER: "backorder",
}
MAX_IMAGES = 10  # additional_image_link


def _dated(status: str) -> Any:
    def test(v: Any, item: Any) -> str | None:
        if item.get("availability") == status and not v:
            return f"{status} without availability_date"
        return None

    return test


def _gtin_prefix(v: Any, _item: Any) -> str | None:
    """Restricted circulation (02, 04, 2 as a 13-digit code) and coupon (981-984, 99, 05)
    prefixes get "Unsupported value" in Merchant Center."""
    if not v:
        return None
    code = v[1:] if len(v) == 14 and v[0] == "0" else v.zfill(13) if len(v) == 12 else v
    if len(code) == 13 and code.startswith(("02", "04", "2", "981", "982", "983", "984",
                                            "99", "05")):
        return f"GTIN {v} has a restricted-circulation or coupon prefix"
    return None


def _identifier_evidence(v: Any, item: Any) -> str | None:
    why = item.get("_identifier_note")
    return f"identifier_exists left out: {why}" if why else None


# "REA!!!", "GRATIS FRAKT", "FREE SHIPPING", shouting in capitals: Google disapproves
# promotional text in titles. Case-sensitive on purpose: "Rea" in a name is a word, "REA"
# an advertisement (and a case-sensitive search is cheaper on every title of a build).
_PROMOTIONAL = re.compile(r"!!|\b(?:REA|GRATIS FRAKT|FRI FRAKT|FREE SHIPPING|SALE|KAMPANJ|"
                          r"ERBJUDANDE|BILLIGAST|BEST PRICE)\b")


# The last title judged and the verdict: Google, Meta and Criteo judge the same title
# object one after the other. One tuple, replaced whole (see `_last` below).
_last_title: tuple[Any, str | None] = (None, None)


def promotional_title(v: Any, _item: Any) -> str | None:
    global _last_title
    last = _last_title
    if last[0] is v and v is not None:
        return last[1]
    verdict = _promotional(v)
    _last_title = (v, verdict)
    return verdict


def _promotional(v: Any) -> str | None:
    if not v:
        return None
    if v.isupper() and sum(map(str.isalpha, v)) >= 8:
        return "title in capitals reads as promotional text (Google disapproves it)"
    found = _PROMOTIONAL.search(v)
    if found:
        return f"title holds promotional text {found.group()!r} (Google disapproves it)"
    return None


_ATTRIBUTES = ("color", "size", "material", "pattern")


def variant_attribute(_v: Any, item: Any) -> str | None:
    if item.get("item_group_id") and not any(item.get(a) for a in _ATTRIBUTES):
        return ("a variant without color, size, material or pattern (add its axis to "
                "[shop] variant_axes, or check the variant payload)")
    return None


RULES: tuple[Rule, ...] = (
    required("id"),
    max_length("id", 50, Severity.ERROR, cut=False),
    required("title"),
    required("link"),
    required("image_link", what="image (Google requires one)"),
    required("price", what="price (unknown tax class or unreadable price)"),
    one_of("availability", set(AVAILABILITY.values())),
    Rule("preorder_date", "availability_date", Severity.ERROR, _dated("preorder"),
         when=("availability", "preorder")),
    Rule("backorder_date", "availability_date", Severity.ERROR, _dated("backorder"),
         when=("availability", "backorder")),
    required("description", what="description (Google disapproves items without one)"),
    required("brand", Severity.WARNING, what="brand (known for the shop's own goods through "
                                             "[shop] default_brand, others need a "
                                             "manufacturer)"),
    Rule("gtin_prefix", "gtin", Severity.WARNING, _gtin_prefix, when="gtin"),
    Rule("identifier_evidence", "identifier_exists", Severity.WARNING, _identifier_evidence,
         when="_identifier_note"),
    Rule("title_promotional", "title", Severity.WARNING, promotional_title),
    Rule("variant_attribute_missing", "item_group_id", Severity.WARNING, variant_attribute,
         when="item_group_id"),
)


def availability_date(product: Product) -> str:
    return iso_datetime(product.availability_date) if product.availability_date else ""


def _sale_window(product: Product) -> str:
    """`start/end` only when the whole range is known (Google wants both ends)."""
    if product.sale_price and product.sale_start and product.sale_end:
        return f"{iso_datetime(product.sale_start)}/{iso_datetime(product.sale_end)}"
    return ""


def _identifier_exists(product: Product) -> tuple[str, str]:
    """(identifier_exists, why it is left out with a warning) per answer/6324478: `no`
    only when nothing could be taken for an identifier."""
    if product.gtin or (product.brand and product.mpn):
        return "", ""
    if product.ean_rejected:
        return "", "the EAN failed its check digit; Google may still see it as a GTIN"
    if product.mpn:
        return "", "an MPN without a brand; add the manufacturer"
    return "no", ""


# The last product `base_item` mapped and its item: Google, Meta and Criteo map the same
# product one after the other, so the two that follow copy the fields (a few percent of a
# three-feed build). The product is held, so its identity cannot be reused meanwhile; the
# entry is one tuple, replaced whole, so a build in another thread never sees half of one.
_last: tuple[Any, Any, dict[str, Any]] = (None, None, {})  # product, labels, item


def base_item(product: Product, ctx: ItemContext) -> dict[str, Any]:
    """The fields Google, Criteo (and, re-worded, Meta) share; a new dict every time (the
    channels change theirs)."""
    global _last
    last = _last
    if last[0] is not product or last[1] is not ctx.labels:
        last = _last = (product, ctx.labels, _base_item(product, ctx))
    item = last[2]
    return {**item, "additional_image_links": list(item["additional_image_links"]),
            "custom_labels": dict(item["custom_labels"]), "extra": {}}


def _base_item(product: Product, ctx: ItemContext) -> dict[str, Any]:
    images = product.images
    identifier_exists, note = _identifier_exists(product)
    attributes = product.variant_attributes
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
        "brand": product.brand,
        "gtin": product.gtin or "",
        "mpn": product.mpn,
        "identifier_exists": identifier_exists,
        "_identifier_note": note,
        "item_group_id": product.group_id or "",
        "color": attributes.get("color", ""),
        "size": attributes.get("size", ""),
        "material": attributes.get("material", ""),
        "pattern": attributes.get("pattern", ""),
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
    paste_into=("Merchant Center: Products > Data sources > Add product source > "
                '"Add products from a file" > "Enter a link to your file"'),
)
