"""Vendre's raw JSON -> the catalogue model. Pure: no I/O.

Facts and their confidence are in ../shared/docs/vendre-api.md. What is only
inferred (variants, special-price ranges, the whole order object) is read
defensively: optional fields, several known aliases, the raw JSON kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from stdnum import ean as _ean

from feeds.core.ids import IdField, feed_id
from feeds.core.model import Availability, Category, Money, Order, OrderLine, Product
from feeds.core.pricing import Pricing
from feeds.core.text import clean_text, html_to_text, strip_xml_illegal
from feeds.core.validation import Severity, Violation

__all__ = [
    "DeriveContext",
    "with_descendants",
    "ml",
    "order_key",
    "parse_category",
    "parse_order",
    "parse_product",
    "to_datetime",
]


@dataclass(frozen=True)
class DeriveContext:
    """Everything `parse_product` needs besides the product itself."""

    base_url: str
    language: str
    id_field: IdField
    pricing: Pricing
    now: datetime
    default_brand: str = ""
    categories: Mapping[int, Category] = field(default_factory=dict)
    # Category paths repeat across thousands of products: derived once per category list.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


def with_descendants(ids: Iterable[int], categories: Mapping[int, Category]) -> frozenset[int]:
    """The given categories and every category below them."""
    wanted = set(ids)
    while below := {c.id for c in categories.values() if c.parent_id in wanted} - wanted:
        wanted |= below
    return frozenset(wanted)


# ---------------------------------------------------------------- small readers


def ml(value: Any, language: str, convert: Callable[[str], str] = str.strip) -> str:
    """The `language` text of a multilingual dict, else the first non-empty language.

    `convert` turns a raw value into the text wanted (e.g. `html_to_text`); a
    value is empty when its converted text is, so `<p> </p>` falls back too.
    """
    if isinstance(value, str):
        return convert(value)
    if not isinstance(value, dict):  # JSON objects are dicts (and dict checks are cheap)
        return ""
    preferred = value.get(language)
    if isinstance(preferred, str) and preferred:
        text = convert(preferred)
        if text:
            return text
    for key, raw in value.items():
        if key != language and isinstance(raw, str) and raw:
            text = convert(raw)
            if text:
                return text
    return ""


def to_datetime(value: Any) -> datetime | None:
    """A unix timestamp or an ISO-like date string as an aware UTC datetime.

    Negative timestamps (MySQL's zero date) and unreadable values give None.
    Strings without a zone are read as UTC.
    """
    if isinstance(value, bool) or value in (None, "", 0):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, UTC) if value > 0 else None
        except (OverflowError, OSError, ValueError):  # e.g. milliseconds, year 55840
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return to_datetime(int(text))
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            return None
        if parsed.year < 1971:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    if isinstance(value, int):
        return Decimal(value)
    try:
        result = Decimal(repr(value) if isinstance(value, float) else
                         str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


_URL_SAFE = re.compile(r"[A-Za-z0-9:/?#\[\]@!$&'()*+,;=%~._-]*")


def _absolute(base_url: str, path: str) -> str:
    url = path if path.startswith(("https://", "http://")) else \
        base_url.rstrip("/") + "/" + path.lstrip("/")
    if _URL_SAFE.fullmatch(url):
        return url
    # Feeds want ASCII URLs (RFC 3986); keep reserved characters and existing escapes.
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


# ---------------------------------------------------------------- categories


def parse_category(raw: Mapping[str, Any]) -> Category:
    """One category object; a `false` or 0 parent means the root."""
    parent = raw.get("parent_id")
    gpc = raw.get("google_product_category")
    return Category(
        id=_int(raw.get("id")),
        parent_id=parent if isinstance(parent, int) and not isinstance(parent, bool)
        and parent > 0 else None,
        names={k: clean_text(v) for k, v in (raw.get("name") or {}).items() if isinstance(v, str)},
        seo_links={k: v for k, v in (raw.get("seo_link") or {}).items() if isinstance(v, str)},
        google_product_category=gpc if isinstance(gpc, int) and gpc > 0 else None,
        status=raw.get("status") is not False,
    )


def _ancestry(category_id: int, categories: Mapping[int, Category]) -> list[Category]:
    """The category and its parents, root last (cycles cut)."""
    chain: list[Category] = []
    seen: set[int] = set()
    current = categories.get(category_id)
    while current is not None and current.id not in seen:
        chain.append(current)
        seen.add(current.id)
        current = categories.get(current.parent_id) if current.parent_id else None
    return chain


def _categories(raw: Mapping[str, Any], ctx: DeriveContext
                ) -> tuple[tuple[str, ...], int | None]:
    """(category path, Google product category) of a product, memoised per category list."""
    ids = raw.get("category_ids") or []
    paths = raw.get("category_paths") or []
    key = (tuple(ids) if isinstance(ids, list) else (), paths[0] if paths else None)
    found = ctx.memo.get(key)
    if found is None:
        found = ctx.memo[key] = (_category_path(raw, ctx), _google_category(raw, ctx))
    return found


def _category_path(raw: Mapping[str, Any], ctx: DeriveContext) -> tuple[str, ...]:
    ids = [i for i in raw.get("category_ids") or [] if isinstance(i, int)]
    if ids and ids[0] in ctx.categories:
        chain = reversed(_ancestry(ids[0], ctx.categories))
        names = tuple(ml(c.names, ctx.language) for c in chain)
        if all(names):
            return names
    paths = raw.get("category_paths") or []
    if paths and isinstance(paths[0], str):
        return tuple(clean_text(p) for p in paths[0].split("|") if clean_text(p))
    return ()


def _google_category(raw: Mapping[str, Any], ctx: DeriveContext) -> int | None:
    for cid in raw.get("category_ids") or []:
        for cat in _ancestry(cid, ctx.categories) if isinstance(cid, int) else []:
            if cat.google_product_category:
                return cat.google_product_category
    return None


# ---------------------------------------------------------------- products


class _Problems:
    """Collects the violations found while deriving one product."""

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        self.found: list[Violation] = []

    def add(self, severity: Severity, field_: str, message: str, rule: str) -> None:
        self.found.append(Violation(severity, self.item_id, field_, message, rule))


_GTIN_NOISE = re.compile(r"[\s-]")


def _gtin(raw_ean: Any, problems: _Problems) -> str | None:
    """A valid EAN-8/UPC-A/EAN-13/GTIN-14, else None with a warning."""
    text = raw_ean if isinstance(raw_ean, str) and raw_ean.isdigit() else \
        _GTIN_NOISE.sub("", str(raw_ean or ""))
    if not text:
        return None
    if text.isdigit() and len(text) in (8, 12, 13, 14) and \
            _ean.calc_check_digit(text[:-1]) == text[-1]:
        return text
    problems.add(Severity.WARNING, "gtin", f"ean1 {text!r} is not a valid GTIN "
                 "(length or check digit); sent without a GTIN", "gtin_invalid")
    return None


def _availability(raw: Mapping[str, Any], now: datetime) -> tuple[Availability, datetime | None]:
    if _int(raw.get("quantity")) > 0:
        return Availability.IN_STOCK, None
    available = to_datetime(raw.get("date_available"))
    if available is not None and available > now:
        return Availability.PREORDER, available
    if raw.get("stock_allow_checkout") is True:
        return Availability.BACKORDER, None
    return Availability.OUT_OF_STOCK, None


def _sale_range(value: Any) -> tuple[datetime | None, datetime | None] | None:
    """(start, end) of `price_special_date_range`; None when its shape is unreadable.

    The shape is unknown (vendre-api.md §6); accepted: null, {from,to} and
    aliases, [from, to], and "from/to" strings, each end a unix time or date.
    """
    if value in (None, "", [], {}):
        return (None, None)
    start: Any = None
    end: Any = None
    if isinstance(value, Mapping):
        start = next((value[k] for k in ("from", "start", "date_from", "start_date")
                      if k in value), None)
        end = next((value[k] for k in ("to", "end", "date_to", "end_date") if k in value), None)
        if start is None and end is None:
            return None
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        start, end = value
    elif isinstance(value, str) and "/" in value:
        start, end = value.split("/", 1)
    else:
        return None
    parsed = (to_datetime(start), to_datetime(end))
    if (start not in (None, "", 0) and parsed[0] is None) or \
            (end not in (None, "", 0) and parsed[1] is None):
        return None
    return parsed


def _sale(raw: Mapping[str, Any], net: Decimal, vat: Decimal | None, ctx: DeriveContext,
          problems: _Problems) -> tuple[Money | None, datetime | None, datetime | None]:
    special = _decimal(raw.get("price_special"))
    if special is None or special <= 0 or special >= net or vat is None:
        return None, None, None
    window = _sale_range(raw.get("price_special_date_range"))
    if window is None:
        problems.add(Severity.WARNING, "sale_price", "price_special_date_range "
                     f"{raw.get('price_special_date_range')!r} is unreadable; sale price left out",
                     "sale_range_unreadable")
        return None, None, None
    start, end = window
    if (start and start > ctx.now) or (end and end <= ctx.now):
        return None, None, None
    pricing = ctx.pricing
    return Money(pricing.gross(special, vat), pricing.target_currency), start, end


def _vat(raw: Mapping[str, Any], ctx: DeriveContext, problems: _Problems) -> Decimal | None:
    tax_class = raw.get("tax_class_id")
    vat = ctx.pricing.tax_classes.get(tax_class) if isinstance(tax_class, int) else None
    if vat is None:
        problems.add(Severity.ERROR, "price", f"unknown tax class {tax_class!r}: add it to "
                     "[shop] tax_classes", "tax_class_unknown")
    return vat


def _images(raw: Mapping[str, Any], base_url: str) -> tuple[str, ...]:
    urls = []
    for image in raw.get("images") or []:
        if not isinstance(image, dict):
            continue
        full = image["url"].get("full") if isinstance(image.get("url"), dict) else None
        path = full or image.get("path")
        if isinstance(path, str) and path.strip():
            urls.append(_absolute(base_url, path.strip()))
    return tuple(dict.fromkeys(urls))


def _not_sellable_because(raw: Mapping[str, Any], net: Decimal | None, is_parent: bool) -> str:
    if raw.get("status") is not True:
        return "inactive (status false)"
    if raw.get("show") is not True:
        return "hidden (show false)"
    if is_parent:
        return "variant parent (its variants are the items)"
    if net is None or net <= 0:
        return "no price above 0"
    return ""


def _variant_label(title: str, parent_title: str) -> str:
    """The part of a variant's name after its parent's name ('T-shirt - M' -> 'M').

    A heuristic until a real variant payload is known (vendre-api.md §5).
    """
    if parent_title and title.lower().startswith(parent_title.lower()):
        return title[len(parent_title):].strip(" -–,:/|")
    return ""


def parse_product(raw: Mapping[str, Any], ctx: DeriveContext,
                  parent: Mapping[str, Any] | None = None) -> Product:
    """Derive one product for one language and pricing target.

    A variant child (`parent` != 0) borrows what it lacks (text, images, brand,
    categories) from its parent's raw object when given, and is grouped under
    the parent's feed id.
    """
    vendre_id = _int(raw.get("id"))
    item_id = feed_id(raw, ctx.id_field)
    problems = _Problems(item_id or f"vendre:{vendre_id}")
    if not item_id:
        problems.add(Severity.ERROR, "id", f"product {vendre_id} has no {ctx.id_field.value}",
                     "id_missing")
    elif strip_xml_illegal(item_id) != item_id:
        problems.add(Severity.ERROR, "id", f"product {vendre_id}: its {ctx.id_field.value} "
                     "holds characters XML cannot carry", "id_unusable")
    parent_vendre_id = _int(raw.get("parent")) or None
    is_parent = raw.get("is_parent") is True or bool(raw.get("child_product_ids"))
    source = _with_parent(raw, parent)
    net = _decimal(raw.get("price"))
    if net is None:
        problems.add(Severity.ERROR, "price", f"price {raw.get('price')!r} is not a number",
                     "price_unreadable")
    vat = _vat(raw, ctx, problems)
    pricing = ctx.pricing
    price = Money(pricing.gross(net, vat), pricing.target_currency) \
        if net is not None and vat is not None else None
    sale_price, sale_start, sale_end = _sale(raw, net, vat, ctx, problems) \
        if net is not None else (None, None, None)
    availability, available_date = _availability(raw, ctx.now)
    title = ml(source.get("name"), ctx.language, clean_text)
    parent_title = ml(parent.get("name"), ctx.language, clean_text) if parent else ""
    description = ml(source.get("description"), ctx.language, html_to_text) or \
        ml(source.get("description_short"), ctx.language, html_to_text)
    seo_paths = raw.get("seo_link")
    seo_paths = seo_paths if isinstance(seo_paths, dict) else {}
    link_path = ml(seo_paths, ctx.language) or ml((parent or {}).get("seo_link"), ctx.language)
    category_path, google_category = _categories(source, ctx)
    why_not = _not_sellable_because(raw, net, is_parent)
    return Product(
        vendre_id=vendre_id,
        article_number=str(raw.get("article_number") or "").strip(),
        feed_id=item_id,
        group_id=_group_id(parent_vendre_id, parent, ctx),
        parent_id=parent_vendre_id,
        is_parent=is_parent,
        sellable=not why_not,
        not_sellable_because=why_not,
        title=title,
        description=description,
        link=_absolute(ctx.base_url, link_path) if link_path and ctx.base_url else "",
        images=_images(raw, ctx.base_url) or _images(parent or {}, ctx.base_url),
        availability=availability,
        availability_date=available_date,
        quantity=max(0, _int(raw.get("quantity"))),
        net_price=Money(net if net is not None else Decimal(0), pricing.home_currency),
        price=price,
        sale_price=sale_price,
        sale_start=sale_start,
        sale_end=sale_end,
        brand=clean_text(source.get("manufacturer_name") or "") or ctx.default_brand,
        gtin=_gtin(raw.get("ean1"), problems),
        mpn=clean_text(str(raw.get("manufacturer_model") or "")),
        category_ids=tuple(i for i in source.get("category_ids") or [] if isinstance(i, int)),
        category_path=category_path,
        google_product_category=google_category,
        weight_kg=_positive(_decimal(raw.get("weight"))),
        seo_paths=seo_paths,
        variant_label=_variant_label(title, parent_title) if parent else "",
        raw_variant=_raw_variant(raw, parent) if parent_vendre_id or is_parent else {},
        violations=tuple(problems.found),
        vat_percent=vat,
    )


_VARIANT_KEYS = ("parent", "is_parent", "child_product_ids", "variants", "variant_products")


def _raw_variant(raw: Mapping[str, Any], parent: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The raw variant fields, kept so the inferred variant mapping can be corrected; a
    child also keeps its parent's under `of_parent` (the option axes and the siblings,
    which a marketplace's variant group needs and the child's own object lacks)."""
    found = {k: raw[k] for k in _VARIANT_KEYS if k in raw}
    if parent:
        found["of_parent"] = {k: parent[k] for k in _VARIANT_KEYS if k in parent}
    return found


def _positive(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value > 0 else None


_INHERITED = ("name", "description", "description_short", "manufacturer_name",
              "category_ids", "category_paths")


def _with_parent(raw: Mapping[str, Any], parent: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`raw`, with empty content fields filled from the variant parent (Vendre lets the
    main product supply content to its children)."""
    if not parent:
        return raw
    merged = dict(raw)
    for key in _INHERITED:
        if _is_empty(merged.get(key)):
            merged[key] = parent.get(key)
    return merged


def _is_empty(value: Any) -> bool:
    if isinstance(value, Mapping):
        return not ml(value, "", html_to_text)
    return not value


def _group_id(parent_vendre_id: int | None, parent: Mapping[str, Any] | None,
              ctx: DeriveContext) -> str | None:
    if parent_vendre_id is None:
        return None
    if parent is not None:
        return feed_id(parent, ctx.id_field) or str(parent_vendre_id)
    return str(parent_vendre_id)


# ---------------------------------------------------------------- orders
# The order object is undocumented (vendre-api.md §10): every field below is an
# alias list of guesses, in order of likelihood, and `raw` keeps the rest.

_ORDER_ID = ("id", "orders_id", "order_id", "number", "order_number")
_ORDER_DATE = ("date", "date_added", "date_purchased", "created", "created_at", "order_date")
_ORDER_LINES = ("products", "order_products", "lines", "items", "rows")
_LINE_PRODUCT = ("product_id", "products_id", "id")
_LINE_MODEL = ("model", "article_number", "products_model", "sku")
_LINE_PRICE = ("price_each", "final_price", "price", "products_price", "unit_price")
_TOTAL_CLASSES = {"total": ("ot_total", "total"), "tax": ("ot_tax", "tax"),
                  "shipping": ("ot_shipping", "shipping")}


def _first(raw: Mapping[str, Any], keys: Iterable[str]) -> Any:
    return next((raw[k] for k in keys if raw.get(k) not in (None, "")), None)


def order_key(raw: Mapping[str, Any]) -> object:
    """De-duplication key of a raw order (its id under any known alias)."""
    value = _first(raw, _ORDER_ID)
    return None if value is None else str(value)


def parse_order(raw: Mapping[str, Any]) -> Order | None:
    """An `Order` from a raw object, or None when it carries no id at all."""
    order_id = order_key(raw)
    if order_id is None:
        return None
    lines = _first(raw, _ORDER_LINES)
    return Order(
        id=str(order_id),
        date=to_datetime(_first(raw, _ORDER_DATE)),
        currency=_currency(raw),
        lines=tuple(_line(x) for x in lines if isinstance(x, Mapping))
        if isinstance(lines, list) else (),
        total=_total(raw, "total"),
        tax=_total(raw, "tax"),
        shipping=_total(raw, "shipping"),
        raw=raw,
    )


def _currency(raw: Mapping[str, Any]) -> str | None:
    value = _first(raw, ("currency", "currency_code", "currencies_code"))
    return value.upper() if isinstance(value, str) and re.match(r"^[A-Za-z]{3}$", value) else None


def _line(raw: Mapping[str, Any]) -> OrderLine:
    product = _first(raw, _LINE_PRODUCT)
    return OrderLine(
        product_id=_int(product, 0) or None,
        article_number=str(_first(raw, _LINE_MODEL) or "").strip(),
        name=ml(raw.get("name"), "", clean_text),
        quantity=max(0, _int(_first(raw, ("quantity", "qty", "products_quantity")), 1)),
        unit_price_net=_decimal(_first(raw, _LINE_PRICE)),
        tax_percent=_decimal(_first(raw, ("tax", "tax_rate", "products_tax"))),
    )


def _total(raw: Mapping[str, Any], kind: str) -> Decimal | None:
    """A total from a `totals: [{class, value}]` list, else from a plain field."""
    totals = raw.get("totals")
    if isinstance(totals, list):
        for row in totals:
            if isinstance(row, Mapping) and row.get("class") in _TOTAL_CLASSES[kind]:
                return _decimal(row.get("value"))
    return _decimal(_first(raw, (kind, f"{kind}_amount", f"order_{kind}")))
