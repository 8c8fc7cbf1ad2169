"""What CDON's and Fyndiq's article payloads share: the article and its rules.

Both marketplaces take the same JSON article through nearly identical Merchant APIs
(../shared/docs/marketplaces.md 1.2, 2.2 and 2.4): one article per sellable item,
its title and description per language, its price per market including VAT, one
stock for every market. `article()` builds exactly the object a create call sends;
a `Flavour` holds what differs (price key, title limit, category key, plain text,
the languages, the variant group id, CDON's GPSR fields).

A marketplace combines markets (one file per channel, `_merchant_settings`): the
article reads each market's own derivation of the product. One language per market,
never a silent fallback: a market whose language has no text of its own (a title or
description that is empty, or identical to the shop language's, judged per field:
the parser falls back to any language Vendre has, and the real fixture's English
names equal the Swedish ones for 36 of 41 products) follows `language_fallback`:
left out of the article ("omit"), or sent the shop's text ("home"), with a warning
per article either way.

`brand` is optional on both marketplaces (CDON's and Fyndiq's field tables), so the
shop's `[shop] default_brand` is never sent as a brand here: third-party goods that
lack a manufacturer in Vendre would carry the shop's name. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from feeds.channels import ItemContext
from feeds.channels._merchant_settings import (
    LanguageFallback,
    Market,
    MerchantSettings,
    shipping,
)
from feeds.core.model import Category, Derived, Product
from feeds.core.text import truncate
from feeds.core.validation import Rule, Severity, required

__all__ = ["Flavour", "MainArticles", "article", "group_id", "marketplace_category", "rules"]

MAX_QUANTITY = 500_000
MAX_IMAGES = 10
MAX_URL = 1500
MIN_TITLE = 5
MIN_DESCRIPTION = 10
MAX_DESCRIPTION = 4096
MAX_SKU = 64
MAX_KN_NUMBER = 48  # CDON's field table: kn_number, string 1-48
TEXTS = ("title", "description")


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
    gpsr: bool = False                    # send CDON's optional GPSR fields (kn_number)

    @property
    def category_key(self) -> str:
        return "categories" if self.category_list else "category"


def article(derived: Derived, ctx: ItemContext, flavour: Flavour) -> dict[str, Any]:
    """The create body of one item, plus `_` keys for the rules."""
    settings = cast(MerchantSettings, ctx.settings)
    markets, languages = _in_own_languages(
        [(m, derived[m.file]) for m in cast(Sequence[Market], settings.targets)
         if m.file in derived], settings)
    written = _by_language(markets, settings.languages)
    product = derived.primary
    brand = "" if product.brand_from_shop else product.brand
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
    if flavour.gpsr:
        item |= _gpsr(product)
    item["_quantity"] = product.quantity
    item["_language_omitted"] = languages.omitted
    item["_language_home"] = languages.home
    return item


@dataclass
class _Languages:
    """Markets whose language has no text of its own, as "NO (nb: title, description)"."""

    omitted: list[str] = field(default_factory=list)
    home: list[str] = field(default_factory=list)


def _in_own_languages(markets: Sequence[tuple[Market, Product]], settings: MerchantSettings
                      ) -> tuple[list[tuple[Market, Product]], _Languages]:
    """The markets the article is offered in, each with the texts it is sent.

    The first market is the shop's own: its texts are the shop language's. Another
    market in another language keeps its own texts where it has them; where it has none
    (`_missing_texts`), `language_fallback` leaves the market out, or sends it the
    shop's text for the fields that lack one.
    """
    if not markets:
        return [], _Languages()
    (home_market, home), found = markets[0], _Languages()
    home_tag = settings.languages.get(home_market.language)
    kept = [markets[0]]
    for market, product in markets[1:]:
        missing = [] if settings.languages.get(market.language) == home_tag \
            else _missing_texts(product, home)
        if not missing:
            kept.append((market, product))
            continue
        what = f"{market.market} ({market.language}: {', '.join(missing)})"
        if settings.language_fallback is LanguageFallback.HOME:
            kept.append((market, dataclasses.replace(
                product, **{name: getattr(home, name) for name in missing})))
            found.home.append(what)
        else:
            found.omitted.append(what)
    return kept, found


def _missing_texts(product: Product, home: Product) -> list[str]:
    """The texts `product` (derived in its market's language) has none of its own of: empty,
    taken from another language by the parser, or the same as the shop language's."""
    borrowed = {v.field for v in product.violations if v.rule == "text_language_fallback"}
    return [name for name in TEXTS
            if name in borrowed or not getattr(product, name)
            or getattr(product, name) == getattr(home, name)]


def _gpsr(product: Product) -> dict[str, Any]:
    """CDON's optional GPSR fields Vendre has (the field table in CDON's collection,
    "PARAMETERS"): `kn_number` (1-48) from Vendre's `commodity_code`. CDON's `manufacturer`
    needs the maker's postal address besides its name (`name` and `address` are both
    required there), which Vendre does not hold: it is not sent (the brand names the maker)."""
    code = product.commodity_code.strip()
    if not code:
        return {}
    return {"kn_number": code} if len(code) <= MAX_KN_NUMBER else {"_kn_number_dropped": code}


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


def group_id(product: Product) -> str:
    """The variant group as the build knows it: the Vendre parent's feed id."""
    return product.group_id or product.feed_id


class MainArticles:
    """Fyndiq's `parent_sku` is "the sku of the main article": the sku of a published
    article, which the build only knows once the rules have passed. Called on every
    published item in file order (`Channel.in_file_order`), it names each group by the
    first of its variants that was published, so never by one the rules left out or
    Vendre hides."""

    def __init__(self) -> None:
        self.mains: dict[str, str] = {}

    def __call__(self, item: dict[str, Any]) -> None:
        group = item.get("parent_sku")
        if group:
            item["parent_sku"] = self.mains.setdefault(str(group), str(item["sku"]))


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
        Rule("language_omitted", "markets", warning,
             _listed("_language_omitted", "no text of its own in the market's language ({}): "
                                          'not offered there (language_fallback = "omit")')),
        Rule("language_home", "title", warning,
             _listed("_language_home", "no text of its own in the market's language ({}): "
                                       'the shop\'s text is sent there (language_fallback = '
                                       '"home")')),
        Rule("kn_number_too_long", "kn_number", warning,
             lambda _v, item: f"commodity_code {item['_kn_number_dropped'][:60]!r} is longer "
                              f"than {MAX_KN_NUMBER} characters: not sent as kn_number"
             if item.get("_kn_number_dropped") else None),
    )
