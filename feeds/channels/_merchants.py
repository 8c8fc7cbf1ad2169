"""What CDON's and Fyndiq's article payloads share: the article and its rules.

Both marketplaces take the same JSON article through nearly identical Merchant APIs
(../shared/docs/marketplaces.md 1.2, 2.2 and 2.4): one article per sellable item,
its title and description per language, its price per market including VAT, one
stock for every market. `article()` builds exactly the object a create call sends;
a `Flavour` holds what differs (price key, title limit, category key, plain text,
the languages, the variant group id).

A marketplace combines markets (one file per channel, `_merchant_settings`): the
article reads each market's own derivation of the product. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from feeds.channels import ItemContext
from feeds.channels._merchant_settings import Market, MerchantSettings, shipping
from feeds.core.model import Category, Derived, Product
from feeds.core.text import truncate
from feeds.core.validation import Rule, Severity, required

__all__ = ["Flavour", "article", "lowest_variant_sku", "marketplace_category", "rules"]

MAX_QUANTITY = 500_000
MAX_IMAGES = 10
MAX_URL = 1500
MIN_TITLE = 5
MIN_DESCRIPTION = 10
MAX_DESCRIPTION = 4096
MAX_SKU = 64


# ---------------------------------------------------------------- the article


@dataclass(frozen=True)
class Flavour:
    """What one marketplace's article does its own way (marketplaces.md 2.4)."""

    title_max: int
    price_key: str                        # the amount's key in a price entry
    original_price: bool                  # send `original_price` while a sale applies
    category_list: bool                   # `categories: [id]` rather than `category: id`
    plain_text: bool                      # HTML-like text is refused
    max_axes: int | None                  # most variational properties (None: any)
    parent_sku: Callable[[Product], str]  # the variant group id

    @property
    def category_key(self) -> str:
        return "categories" if self.category_list else "category"


def article(derived: Derived, ctx: ItemContext, flavour: Flavour) -> dict[str, Any]:
    """The create body of one item, plus `_` keys for the rules."""
    settings = cast(MerchantSettings, ctx.settings)
    markets = [(m, derived[m.file]) for m in cast(Sequence[Market], settings.targets)
               if m.file in derived]
    written = _by_language(markets, settings.languages)
    product = derived.primary
    brand = product.brand  # [shop] default_brand only for the shop's own goods (the parser)
    item: dict[str, Any] = {"sku": product.feed_id}
    if product.group_id:
        item["parent_sku"] = flavour.parent_sku(product)
    item |= {"status": "for sale", "quantity": min(product.quantity, MAX_QUANTITY),
             "markets": [m.market for m, _ in markets]}
    item |= _texts(written, flavour, brand)
    item |= _prices(markets, flavour)
    item["shipping_time"] = [_shipping_entry(settings, m) for m, _ in markets]
    item |= _images(product)
    category = marketplace_category(product, settings, ctx.categories)
    item[flavour.category_key] = ([category] if category else []) \
        if flavour.category_list else category
    if brand:
        item["brand"] = brand
    item |= _gtin(product)
    item |= _variant(product, written, flavour)
    item["_quantity"] = product.quantity
    return item


def _by_language(markets: Sequence[tuple[Market, Product]], languages: Mapping[str, str]
                 ) -> list[tuple[str, Market, Product]]:
    """(language tag, market, product) for each language the marketplace takes, from
    the first market written in it."""
    found: dict[str, tuple[str, Market, Product]] = {}
    for market, product in markets:
        tag = languages.get(market.language)
        if tag is not None and tag not in found:
            found[tag] = (tag, market, product)
    return list(found.values())


def _shipping_entry(settings: MerchantSettings, market: Market) -> dict[str, Any]:
    low, high = shipping(settings, market)
    return {"market": market.market, "min": low, "max": high}


_TAG_LIKE = re.compile(r"<\s*/?\s*[A-Za-z][^<>]*>")


def _plain(text: str) -> tuple[str, bool]:
    """`text` without anything a marketplace reads as an HTML tag; whether any was there."""
    if "<" not in text or not _TAG_LIKE.search(text):
        return text, False
    lines = (" ".join(_TAG_LIKE.sub(" ", line).split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line), True


def _texts(written: Sequence[tuple[str, Market, Product]], flavour: Flavour, brand: str
           ) -> dict[str, Any]:
    titles, descriptions = [], []
    cut, short, long, tags = [], [], [], False
    for tag, _market, product in written:
        title, description = product.title, product.description
        if flavour.plain_text:
            (title, t1), (description, t2) = _plain(title), _plain(description)
            tags = tags or t1 or t2
        if len(title) > flavour.title_max:
            cut.append(f"{tag} {len(title)}")
            title = truncate(title, flavour.title_max)
        if len(description) < MIN_DESCRIPTION:
            short.append(tag)
            description = " – ".join(t for t in (title, brand) if t)
        if len(description) > MAX_DESCRIPTION:
            long.append(f"{tag} {len(description)}")
            description = truncate(description, MAX_DESCRIPTION)
        titles.append({"language": tag, "value": title})
        descriptions.append({"language": tag, "value": description})
    return {"title": titles, "description": descriptions, "_title_cut": cut,
            "_description_from_title": short, "_description_cut": long, "_tags_removed": tags}


def _prices(markets: Sequence[tuple[Market, Product]], flavour: Flavour) -> dict[str, Any]:
    prices, originals, missing = [], [], []
    for market, product in markets:
        paid = product.current_price
        if paid is None or paid.amount <= 0:
            missing.append(market.market)
            continue
        prices.append(_price(market, paid.amount, paid.currency, product.vat_percent, flavour))
        if flavour.original_price and product.sale_price and product.price:
            originals.append(_price(market, product.price.amount, product.price.currency,
                                    product.vat_percent, flavour))
    found: dict[str, Any] = {"price": prices, "_no_price": missing}
    if originals:
        found["original_price"] = originals
    return found


def _price(market: Market, amount: Decimal, currency: str, vat: Decimal | None,
           flavour: Flavour) -> dict[str, Any]:
    value: dict[str, Any] = {flavour.price_key: amount, "currency": currency}
    if vat is not None:
        value["vat_rate"] = vat / 100  # a fraction (0.25), not a percent
    return {"market": market.market, "value": value}


def _images(product: Product) -> dict[str, Any]:
    urls = product.images
    found: dict[str, Any] = {"main_image": urls[0] if urls else ""}
    extra = [u for u in urls[1:] if u.startswith("https://") and len(u) <= MAX_URL]
    if extra:
        found["images"] = extra[:MAX_IMAGES]
    found["_images_dropped"] = len(urls[1:]) - len(extra)
    return found


def _gtin(product: Product) -> dict[str, Any]:
    """The GTIN (already checked) in at most 13 digits: a GTIN-14 with a leading zero is
    the same EAN-13; another GTIN-14 cannot be sent."""
    gtin = product.gtin or ""
    if len(gtin) == 14 and gtin.startswith("0"):
        gtin = gtin[1:]
    if len(gtin) > 13:
        return {"_gtin_dropped": gtin}
    return {"gtin": gtin} if gtin else {}


def marketplace_category(product: Product, settings: MerchantSettings,
                         categories: Mapping[int, Category]) -> str:
    """The mapped id of the product's own category or its nearest mapped ancestor,
    else `default_category` ('' when that is empty too)."""
    mapping = settings.categories
    for category_id in product.category_ids:
        current: int | None = category_id
        seen: set[int] = set()
        while current is not None and current not in seen:
            if current in mapping:
                return mapping[current]
            seen.add(current)
            found = categories.get(current)
            current = found.parent_id if found else None
    return settings.default_category


# ---------------------------------------------------------------- variants

def _variant(product: Product, written: Sequence[tuple[str, Market, Product]],
             flavour: Flavour) -> dict[str, Any]:
    """`properties` and `variational_properties` of a variant whose attributes are known:
    each market's derivation names the value in that market's language (the parser reads
    the variant payload through `[shop] variant_axes`)."""
    if not product.group_id:
        return {}
    names = list(product.variant_attributes)
    if not names or (flavour.max_axes is not None and len(names) > flavour.max_axes):
        return {"_variant_unknown": True}
    properties = []
    for name in names:
        for tag, _market, derived in written:
            value = derived.variant_attributes.get(name, "")
            if not value:
                return {"_variant_unknown": True}
            properties.append({"name": name, "value": truncate(value, 36), "language": tag})
    return {"properties": properties, "variational_properties": names}


def lowest_variant_sku(product: Product) -> str:
    """The sku of the variant with the lowest Vendre id among its siblings (Fyndiq's group
    id is "the sku of the main article"). Under `id_field = "id"` that is the lowest child
    id; under article numbers the siblings' numbers are not known while one product is
    mapped, so every variant names its parent's feed id instead (one group either way)."""
    if product.feed_id != str(product.vendre_id):
        return product.group_id or product.feed_id
    parent = product.raw_variant.get("of_parent")
    siblings = parent.get("child_product_ids") if isinstance(parent, Mapping) else None
    ids = [i for i in siblings or [] if isinstance(i, int) and not isinstance(i, bool)]
    return str(min([*ids, product.vendre_id]))


# ---------------------------------------------------------------- rules


def _listed(key: str, message: str) -> Callable[[Any, Mapping[str, Any]], str | None]:
    """A warning test: `message` with the `_key` list's entries, when there are any."""
    def test(_value: Any, item: Mapping[str, Any]) -> str | None:
        found = item.get(key)
        return message.format(", ".join(found)) if found else None
    return test


def _shortest(least: int) -> Callable[[Any, Mapping[str, Any]], str | None]:
    def test(value: Any, _item: Mapping[str, Any]) -> str | None:
        if not value:
            return "missing (no market's language is one the marketplace takes)"
        short = [f"{e['language']} {len(e['value'])}" for e in value
                 if len(e["value"]) < least]
        return f"fewer than {least} characters ({', '.join(short)})" if short else None
    return test


def _main_image(value: Any, _item: Mapping[str, Any]) -> str | None:
    if value and not value.startswith("https://"):
        return f"{value[:60]!r} is not an absolute https URL"
    return f"{len(value)} characters, more than {MAX_URL}" if len(value) > MAX_URL else None


def _sku(value: Any, _item: Mapping[str, Any]) -> str | None:
    return f"{len(value)} characters, more than {MAX_SKU}" if len(value) > MAX_SKU else None


def rules(title_max: int, category_key: str) -> tuple[Rule, ...]:
    """The rules both marketplaces share (their field tables), errors first."""
    error, warning = Severity.ERROR, Severity.WARNING
    return (
        required("sku"),
        Rule("sku_length", "sku", error, _sku),
        Rule("title_length", "title", error, _shortest(MIN_TITLE)),
        Rule("description_length", "description", error, _shortest(MIN_DESCRIPTION)),
        required("main_image", what="main image (the marketplace requires one)"),
        Rule("main_image_url", "main_image", error, _main_image),
        Rule("price_every_market", "price", error,
             _listed("_no_price", "no price above 0 in {} (unknown tax class?)")),
        required(category_key, what="category: map the product's category in categories "
                                    "or set default_category"),
        Rule("title_cut", "title", warning,
             _listed("_title_cut", f"longer than {title_max} characters ({{}}): cut at a "
                                   "word boundary")),
        Rule("description_from_title", "description", warning,
             _listed("_description_from_title", f"shorter than {MIN_DESCRIPTION} characters "
                                                "({}): the title and brand are sent")),
        Rule("description_cut", "description", warning,
             _listed("_description_cut", f"longer than {MAX_DESCRIPTION} characters ({{}}): "
                                         "cut at a word boundary")),
        Rule("images_dropped", "images", warning,
             lambda _v, item: f"{item['_images_dropped']} extra images are not https URLs "
                              "of at most 1500 characters: left out"
             if item.get("_images_dropped") else None),
        Rule("quantity_capped", "quantity", warning,
             lambda _v, item: f"stock {item['_quantity']} sent as {MAX_QUANTITY}, the "
                              "marketplace's maximum"
             if item.get("_quantity", 0) > MAX_QUANTITY else None),
        Rule("gtin_too_long", "gtin", warning,
             lambda _v, item: f"GTIN-14 {item['_gtin_dropped']} has no 13-digit form: sent "
                              "without a GTIN" if item.get("_gtin_dropped") else None),
        Rule("variant_attributes", "properties", warning,
             lambda _v, item: "a variant whose option (colour, size ...) is not known: sent "
                              "without properties" if item.get("_variant_unknown") else None),
    )
