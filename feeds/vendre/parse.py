"""Vendre's raw JSON -> the catalogue model. Pure: no I/O.

Facts and their confidence are in ../shared/docs/vendre-api.md. What is only
inferred (variants, special-price ranges, the whole order object) is read
defensively: optional fields, several known aliases, the raw JSON kept.

Total: any JSON value in any field gives a result, never an exception, because
one odd product must not end a build for the whole catalogue. A field of an
unusable type or value is ignored with a `field_unusable` warning (an unusable
id or price is an error, which keeps the item out of the feeds). Types are
checked where a value is used, cheaply, on the path well-formed data takes;
`parse_product` also has one outer guard as a last resort.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from feeds.core.ids import IdField, feed_id
from feeds.core.model import (
    Availability,
    Category,
    Customer,
    Money,
    Order,
    OrderLine,
    Product,
    whole_product,
)
from feeds.core.pricing import Pricing
from feeds.core.text import clean_text, html_to_text, strip_xml_illegal
from feeds.core.validation import Severity, Violation

__all__ = [
    "DeriveContext",
    "Window",
    "derive_window",
    "gtin_check_digit_ok",
    "not_sellable_because",
    "with_descendants",
    "ml",
    "order_key",
    "order_number",
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
    variant_axes: Mapping[str, str] = field(default_factory=dict)
    backorder_days: int = 14
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


def ml_lang(value: Any, language: str, convert: Callable[[str], str] = str.strip
            ) -> tuple[str, str]:
    """`ml`, and the language the text came from ("" for a plain text or none)."""
    if not isinstance(value, dict):
        return ml(value, language, convert), ""
    preferred = value.get(language)
    if isinstance(preferred, str) and preferred:
        text = convert(preferred)
        if text:
            return text, language
    for key, raw in value.items():
        if key != language and isinstance(raw, str) and raw:
            text = convert(raw)
            if text:
                return text, str(key)
    return "", ""


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
            try:  # isdigit() also holds for "²" and for more digits than int() reads
                return to_datetime(int(text))
            except ValueError:
                return None
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            return None
        if parsed.year < 1971:
            return None
        if not parsed.tzinfo:
            return parsed.replace(tzinfo=UTC)
        try:  # 9999-12-31T23:00-05:00 is past datetime.max in UTC: unusable for comparisons
            parsed.astimezone(UTC)
        except OverflowError:
            return None
        return parsed
    return None


# Amounts (prices, weights, order totals) from 10**12 on are garbage, and the money
# arithmetic would fail on them: quantizing to cents needs at most 28 digits.
_AMOUNT_LIMIT = Decimal(10) ** 12
_AMOUNT_LIMIT_INT = 10**12


def _decimal(value: Any) -> Decimal | None:
    """A number, or a number written as text (`"160.0000"`, `"10,5"`), as a Decimal;
    None for anything else and for amounts of 10**12 or more."""
    kind = type(value)
    # Numbers are compared before they become Decimals (the same test, cheaper: 10**12 is
    # exact as a float, and NaN and infinities fail it).
    if kind is int:
        return Decimal(value) if -_AMOUNT_LIMIT_INT < value < _AMOUNT_LIMIT_INT else None
    if kind is float:
        return Decimal(repr(value)) if -_AMOUNT_LIMIT_INT < value < _AMOUNT_LIMIT_INT else None
    if kind is str:
        try:
            result = Decimal(value.strip().replace(",", "."))
        except InvalidOperation:
            return None
    else:  # None, bool, lists, objects
        return None
    return result if result.is_finite() and -_AMOUNT_LIMIT < result < _AMOUNT_LIMIT else None


def _int(value: Any, default: int = 0) -> int:
    """An integer, or a number or text that reads as one; `default` for anything else
    (booleans, lists, objects, inf, unreadable text)."""
    if type(value) is int:
        return value
    found = _int_or_none(value)
    return default if found is None else found


def _int_or_none(value: Any) -> int | None:
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _show(value: Any) -> str:
    """A raw value, short, for a violation message (never the whole of a huge value)."""
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, list):
        return f"a list of {len(value)} values"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    return repr(value)  # None, a bool, a float or a short int


# Google's guidance for URLs in feeds: spaces and commas percent-encoded; the other
# reserved characters keep their meaning.
_URL_SAFE = re.compile(r"[A-Za-z0-9:/?#\[\]@!$&'()*+;=%~._-]*")


def _absolute(base_url: str, path: str) -> str:
    url = path if path.startswith(("https://", "http://")) else \
        base_url.rstrip("/") + "/" + path.lstrip("/")
    if _URL_SAFE.fullmatch(url):
        return url
    # Feeds want ASCII URLs (RFC 3986); keep reserved characters and existing escapes.
    # Characters XML forbids (lone surrogates among them, which UTF-8 cannot encode) go.
    return quote(strip_xml_illegal(url), safe=":/?#[]@!$&'()*+;=%~")


# ---------------------------------------------------------------- categories


def parse_category(raw: Mapping[str, Any]) -> Category:
    """One category object; a `false` or 0 parent means the root.

    Total: an unusable field is left out (a name that is not an object of texts
    gives no names), and a raw value that is not an object gives category 0.
    """
    if not isinstance(raw, Mapping):
        raw = {}
    parent = raw.get("parent_id")
    gpc = raw.get("google_product_category")
    names = raw.get("name")
    links = raw.get("seo_link")
    return Category(
        id=_int(raw.get("id")),
        parent_id=parent if type(parent) is int and parent > 0 else None,
        names={k: clean_text(v) for k, v in names.items() if isinstance(v, str)}
        if isinstance(names, Mapping) else {},
        seo_links={k: v for k, v in links.items() if isinstance(v, str)}
        if isinstance(links, Mapping) else {},
        google_product_category=gpc if type(gpc) is int and gpc > 0 else None,
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


def _category_ids(raw: Mapping[str, Any], problems: _Problems) -> tuple[int, ...]:
    """`category_ids`: a list of integers; other values and entries are left out."""
    value = raw.get("category_ids")
    if type(value) is not list:
        if value:
            problems.unusable("category_ids", value, "a list of category ids")
        return ()
    ids = tuple(i for i in value if type(i) is int)
    if len(ids) != len(value):
        problems.add(Severity.WARNING, "category_ids", f"category_ids: {len(value) - len(ids)} "
                     "of its values are not integers; left out", "field_unusable")
    return ids


def _first_path(raw: Mapping[str, Any], problems: _Problems) -> str | None:
    """The first of `category_paths` ("A|B|C"), the only one read; None when unusable."""
    paths = raw.get("category_paths")
    if type(paths) is list and paths and type(paths[0]) is str:
        return paths[0]
    if paths and (type(paths) is not list or paths[0] not in (None, "")):
        problems.unusable("category_paths", paths, 'a list of texts "A|B|C"')
    return None


def _categories(ids: tuple[int, ...], first_path: str | None, ctx: DeriveContext
                ) -> tuple[tuple[str, ...], int | None]:
    """(category path, Google product category) of a product, memoised per category list."""
    key = (ids, first_path)
    found = ctx.memo.get(key)
    if found is None:
        found = ctx.memo[key] = (_category_path(ids, first_path, ctx),
                                 _google_category(ids, ctx))
    return found


def _category_path(ids: tuple[int, ...], first_path: str | None, ctx: DeriveContext
                   ) -> tuple[str, ...]:
    if ids and ids[0] in ctx.categories:
        chain = reversed(_ancestry(ids[0], ctx.categories))
        names = tuple(ml(c.names, ctx.language) for c in chain)
        if all(names):
            return names
    if first_path:
        return tuple(clean_text(p) for p in first_path.split("|") if clean_text(p))
    return ()


def _google_category(ids: tuple[int, ...], ctx: DeriveContext) -> int | None:
    for cid in ids:
        for cat in _ancestry(cid, ctx.categories):
            if cat.google_product_category:
                return cat.google_product_category
    return None


# ---------------------------------------------------------------- products


class _Problems:
    """Collects the violations found while deriving one product, and the stretch of time
    in which the derivation is the same (`since` <= now < `until`; None: unbounded): the
    clock is read only through `before` and `day`, which narrow it."""

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        self.found: list[Violation] = []
        self.since: datetime | None = None
        self.until: datetime | None = None

    def before(self, ctx: DeriveContext, moment: datetime) -> bool:
        """Whether `ctx.now` is before `moment` (true until then, false from then on)."""
        if ctx.now < moment:
            self.until = moment if self.until is None else min(self.until, moment)
            return True
        self.since = moment if self.since is None else max(self.since, moment)
        return False

    def day(self, ctx: DeriveContext, ahead: timedelta) -> datetime:
        """The start of the day (UTC) `ahead` from `ctx.now` (the same all that day)."""
        day = _day_of(ctx.now + ahead)
        since, until = day - ahead, day + timedelta(days=1) - ahead
        self.since = since if self.since is None else max(self.since, since)
        self.until = until if self.until is None else min(self.until, until)
        return day

    def add(self, severity: Severity, field_: str, message: str, rule: str) -> None:
        self.found.append(Violation(severity, self.item_id, field_, message, rule))

    def unusable(self, field_: str, value: Any, expected: str) -> None:
        """A field whose type or value cannot be used: ignored, with a warning."""
        self.add(Severity.WARNING, field_, f"{field_} is {_show(value)}, not {expected}; "
                 "ignored", "field_unusable")


_GTIN_NOISE = re.compile(r"[\s-]")


def gtin_check_digit_ok(code: str) -> bool:
    """Whether the last of `code`'s ASCII digits is the GS1 check digit of the others
    (EAN-8, UPC-A, EAN-13, GTIN-14: weights 3, 1, 3, ... from the right of the others).

    The digits are summed as bytes (each is its character code minus 48): the same sum
    as python-stdnum's `ean.calc_check_digit`, which the tests compare it with, without a
    Python step per digit (every product with an EAN passes here).
    """
    digits = code.encode("ascii")
    threes, ones = digits[-2::-2], digits[-3::-2]
    total = 3 * (sum(threes) - 48 * len(threes)) + sum(ones) - 48 * len(ones)
    return (10 - total % 10) % 10 == digits[-1] - 48


def _gtin(raw_ean: Any, problems: _Problems) -> str | None:
    """A valid EAN-8/UPC-A/EAN-13/GTIN-14, else None with a warning."""
    if isinstance(raw_ean, str):
        text = raw_ean if raw_ean.isdigit() else _GTIN_NOISE.sub("", raw_ean)
    elif type(raw_ean) is int:
        text = str(raw_ean) if raw_ean else ""
    else:
        if raw_ean:
            problems.unusable("ean1", raw_ean, "a text of digits")
        return None
    if not text:
        return None
    # isascii: "²" and other Unicode digits pass isdigit() but not the check-digit sum
    if text.isdigit() and text.isascii() and len(text) in (8, 12, 13, 14) and \
            gtin_check_digit_ok(text):
        return text
    problems.add(Severity.WARNING, "gtin", f"ean1 {_show(text)} is not a valid GTIN "
                 "(length or check digit); sent without a GTIN", "gtin_invalid")
    return None


_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MAX_AHEAD = timedelta(days=365)  # Google: availability_date at most a year ahead


def _availability(quantity: int, raw: Mapping[str, Any], ctx: DeriveContext,
                  problems: _Problems) -> tuple[Availability, datetime | None]:
    """In stock, preorder (a future release date), backorder (sold while out of stock)
    or out of stock; preorders and backorders always with the date Google requires."""
    if quantity > 0:
        return Availability.IN_STOCK, None
    value = raw.get("date_available")
    available = to_datetime(value)
    if available is None and value not in (None, "", 0) and \
            not (type(value) in (int, float) and value < 0):  # negative: MySQL's zero date
        problems.unusable("date_available", value, "a unix time or a date")
    checkout = raw.get("stock_allow_checkout")
    if checkout is False:  # the shop says it cannot be bought before it arrives
        return Availability.OUT_OF_STOCK, None
    released = _delivery_date(raw.get("delivery_time"))
    release = available if available is not None and problems.before(ctx, available) else \
        released if released is not None and problems.before(ctx, released) else None
    if release is not None:
        if problems.before(ctx, release - _MAX_AHEAD):  # more than a year ahead
            problems.add(Severity.WARNING, "availability_date", f"release date "
                         f"{release:%Y-%m-%d} is more than a year ahead; sent as a year "
                         "from now (Google's limit)", "availability_date_capped")
            release = problems.day(ctx, _MAX_AHEAD)
        return Availability.PREORDER, release
    if checkout is True:
        return Availability.BACKORDER, _backorder_date(raw, ctx, problems)
    return Availability.OUT_OF_STOCK, None


def _delivery_date(text: Any) -> datetime | None:
    """The ISO date a `delivery_time` text names ("Release 2026-08-28"), or None."""
    if type(text) is not str or "-" not in text:
        return None
    match = _ISO_DATE.search(text)
    if match is None:
        return None
    try:
        return datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
    except ValueError:
        return None


def _backorder_date(raw: Mapping[str, Any], ctx: DeriveContext, problems: _Problems
                    ) -> datetime:
    """When a backorder is expected in stock: the `delivery_time` text's date, else
    `lead_time` days, else `[shop] backorder_days`."""
    released = _delivery_date(raw.get("delivery_time"))
    if released is not None and problems.before(ctx, released) and \
            not problems.before(ctx, released - _MAX_AHEAD):  # within a year
        return released
    lead = raw.get("lead_time")
    days = lead if type(lead) is int and 0 < lead <= 365 else ctx.backorder_days
    return problems.day(ctx, timedelta(days=days))


def _day_of(moment: datetime) -> datetime:
    """The start (00:00 UTC) of `moment`'s day. An estimated date is a day, not a minute:
    so a catalogue that did not change builds byte-identical feeds all day long (and a
    round uploads nothing to object storage)."""
    day = moment.astimezone(UTC)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


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
                     f"{_show(raw.get('price_special_date_range'))} is unreadable; sale price "
                     "left out", "sale_range_unreadable")
        return None, None, None
    start, end = window
    if (start and problems.before(ctx, start)) or (end and not problems.before(ctx, end)):
        return None, None, None
    pricing = ctx.pricing
    return Money(pricing.gross(special, vat), pricing.target_currency), start, end


_Prices = tuple[Decimal | None, Decimal | None, Money | None, Money]
_PRICES_KEPT = 4096  # distinct (price, tax class) pairs remembered per derivation
_PRICE_TEXT_KEPT = 32  # a longer price text is garbage: not worth keeping as a key


def _prices(raw_price: Any, tax_class: Any, ctx: DeriveContext) -> _Prices:
    """(net, VAT percent, gross price, net price as Money) of a raw price and tax class;
    net or VAT None when unusable (the gross price then too).

    Shops price at price points (the 41 products of ../shared's sample shop have 31
    distinct prices), so the Decimal arithmetic is done once per (price, tax class) and
    its result, immutable, shared: remembered for the first `_PRICES_KEPT` pairs of a
    derivation context (a catalogue of distinct prices pays one dict lookup more).
    """
    kind = type(raw_price)
    if (kind is not float and kind is not int and kind is not str) or \
            type(tax_class) is not int or not raw_price or \
            (kind is str and len(raw_price) > _PRICE_TEXT_KEPT):  # 0.0 == -0.0: not kept
        return _priced(raw_price, tax_class, ctx)
    memo = ctx.memo.get(_PRICES_KEY)
    if memo is None:
        memo = ctx.memo[_PRICES_KEY] = {}
    key = (kind, raw_price, tax_class)  # 1 == 1.0, but Decimal(1) and Decimal("1.0") differ
    found = memo.get(key)
    if found is None:
        found = _priced(raw_price, tax_class, ctx)
        if len(memo) < _PRICES_KEPT:
            memo[key] = found
    return found


_PRICES_KEY = "prices"  # ctx.memo's other keys are tuples (`_categories`)


def _priced(raw_price: Any, tax_class: Any, ctx: DeriveContext) -> _Prices:
    pricing = ctx.pricing
    net = _decimal(raw_price)
    vat = pricing.tax_classes.get(tax_class) if type(tax_class) is int else None
    price = Money(pricing.gross(net, vat), pricing.target_currency) \
        if net is not None and vat is not None else None
    return net, vat, price, Money(net if net is not None else Decimal(0), pricing.home_currency)


def _images(raw: Mapping[str, Any], base_url: str,
            problems: _Problems | None = None) -> tuple[str, ...]:
    """The images' absolute URLs, in the list's order, without repeats. Entries that are
    not image objects are skipped; a value that is not a list is reported to `problems`."""
    images = raw.get("images")
    if type(images) is not list:
        if images and problems is not None:
            problems.unusable("images", images, "a list of images")
        return ()
    urls = []
    for image in images:
        if not isinstance(image, dict):
            continue
        full = image["url"].get("full") if isinstance(image.get("url"), dict) else None
        path = full or image.get("path")
        if isinstance(path, str) and path.strip():
            urls.append(_absolute(base_url, path.strip()))
    return tuple(dict.fromkeys(urls))


def not_sellable_because(raw: Any, parent: Any = None) -> str:
    """`parse_product(raw, ctx, parent).not_sellable_because` for a product that is not for
    sale, without deriving the rest; '' when it is for sale (or `raw` is no object). A
    build counts such products and does nothing else with them (a product that cannot
    be read at all is still found out by `parse_product`)."""
    if type(raw) is not dict and not isinstance(raw, Mapping):
        return ""
    children = raw.get("child_product_ids")
    is_parent = raw.get("is_parent") is True or \
        bool(children and (type(children) is list or type(children) is dict))
    if parent is not None and type(parent) is not dict and not isinstance(parent, Mapping):
        parent = None
    return _not_sellable_because(raw, _decimal(raw.get("price")), is_parent) or \
        _parent_hidden(parent)


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

    Never raises: an unusable field is ignored with a violation (module docstring).
    """
    try:
        return _product(raw, ctx, parent)[0]
    except Exception as exc:  # the last resort: one product must never end a build
        return _unreadable(raw, ctx, exc)


Window = tuple[datetime | None, datetime | None]  # since <= now < until; None: unbounded


def derive_window(raw: Mapping[str, Any], ctx: DeriveContext,
                  parent: Mapping[str, Any] | None = None) -> tuple[Product, Window] | None:
    """`parse_product(raw, ctx, parent)`, and the stretch of time in which it is the same
    for any `ctx.now` (every release, backorder and sale date compared with the clock
    falls on the same side, and estimated dates fall on the same day); (None, None) for
    a product whose derivation never read the clock. None for a product that could not
    be read at all."""
    try:
        return _product(raw, ctx, parent)
    except Exception:
        return None


_ML_EXPECTED = "a text or an object of texts per language"
_FLAGS = ("status", "show", "is_parent", "stock_allow_checkout")
# A module constant: an Enum attribute or `.value` costs more than the checks it serves.
_BY_ARTICLE = IdField.ARTICLE_NUMBER


def _product(raw: Mapping[str, Any], ctx: DeriveContext,
             parent: Mapping[str, Any] | None) -> tuple[Product, Window]:
    """The product, and the stretch of time in which it is the same (`_Problems`)."""
    is_object = type(raw) is dict or isinstance(raw, Mapping)
    not_an_object, raw = (None, raw) if is_object else (raw, {})
    vendre_id = _int(raw.get("id"))
    id_field = ctx.id_field
    id_key = "article_number" if id_field is _BY_ARTICLE else "id"
    id_value = raw.get(id_key)
    id_usable = type(id_value) is str or type(id_value) is int or id_value is None
    item_id = feed_id(raw, id_field) if id_usable else ""
    problems = _Problems(item_id or f"vendre:{vendre_id}")
    if not id_usable:
        problems.add(Severity.ERROR, "id", f"product {vendre_id}: its {id_key} is "
                     f"{_show(id_value)}, not a text or an integer", "id_unusable")
    elif not item_id:
        problems.add(Severity.ERROR, "id", f"product {vendre_id} has no {id_key}",
                     "id_missing")
    elif strip_xml_illegal(item_id) != item_id:
        problems.add(Severity.ERROR, "id", f"product {vendre_id}: its {id_key} "
                     "holds characters XML cannot carry", "id_unusable")
    if not is_object:
        problems.add(Severity.ERROR, "product", f"the product is {_show(not_an_object)}, "
                     "not an object", "product_unusable")
    if parent is not None and type(parent) is not dict and not isinstance(parent, Mapping):
        problems.unusable("parent object", parent, "a product object")
        parent = None
    _check_shapes(raw, id_field, problems)
    raw_parent = raw.get("parent")
    parent_vendre_id = _int(raw_parent) or None
    if parent_vendre_id is None and raw_parent and raw_parent != "0":
        problems.unusable("parent", raw_parent, "a product id")
    children = raw.get("child_product_ids")
    if children and type(children) is not list and type(children) is not dict:
        problems.unusable("child_product_ids", children, "a list of product ids")
        children = None
    is_parent = raw.get("is_parent") is True or bool(children)
    source = _with_parent(raw, parent)
    raw_price = raw.get("price")
    tax_class = raw.get("tax_class_id")
    net, vat, price, net_price = _prices(raw_price, tax_class, ctx)
    if net is None:
        problems.add(Severity.ERROR, "price", f"price {_show(raw_price)} is not a number "
                     "(or not below 10^12)", "price_unreadable")
    if vat is None:
        problems.add(Severity.ERROR, "price", f"unknown tax class {_show(tax_class)}: add it "
                     "to [shop] tax_classes", "tax_class_unknown")
    sale_price, sale_start, sale_end = _sale(raw, net, vat, ctx, problems) \
        if net is not None else (None, None, None)
    quantity = _quantity(raw, problems)
    availability, available_date = _availability(quantity, raw, ctx, problems)
    names = source.get("name")
    title, title_language = ml_lang(names, ctx.language, clean_text)
    parent_title = ml(parent.get("name"), ctx.language, clean_text) if parent else ""
    for key in ("name", "description", "description_short", "meta_description"):
        value = source.get(key)
        if type(value) is not dict and type(value) is not str and value:
            problems.unusable(key, value, _ML_EXPECTED)
    seo_paths = _seo_paths(raw, problems)
    link_path = ml(seo_paths, ctx.language) or ml((parent or {}).get("seo_link"), ctx.language)
    category_ids = _category_ids(source, problems)
    category_path, google_category = _categories(category_ids, _first_path(source, problems),
                                                 ctx)
    gtin = _gtin(raw.get("ean1"), problems)
    ean_given = bool(raw.get("ean1"))
    brand = _text(source, "manufacturer_name", problems)
    brand_from_shop = False
    if not brand and not ean_given:
        # The shop's own goods: no manufacturer and no EAN. A product with an EAN is
        # somebody else's, and a made-up brand gets it disapproved (Google 6324351).
        brand, brand_from_shop = ctx.default_brand, bool(ctx.default_brand)
    attributes = _variant_attributes(raw, parent, ctx) if parent_vendre_id else {}
    if attributes:
        title = _titled(title, attributes.values())
    description, description_source, description_language = _description(
        source, ctx, title, brand, category_path, problems)
    _language_fallback(ctx.language, problems, title=title_language,
                       description=description_language)
    why_not = _not_sellable_because(raw, net, is_parent) or _parent_hidden(parent)
    product = whole_product(
        vendre_id=vendre_id,
        article_number=_article_number(raw.get("article_number")),
        feed_id=item_id,
        group_id=_group_id(parent_vendre_id, parent, ctx),
        parent_id=parent_vendre_id,
        is_parent=is_parent,
        sellable=not why_not,
        not_sellable_because=why_not,
        title=title,
        description=description,
        link=_absolute(ctx.base_url, link_path) if link_path and ctx.base_url else "",
        images=_images(raw, ctx.base_url, problems) or _images(parent or {}, ctx.base_url),
        availability=availability,
        availability_date=available_date,
        quantity=quantity,
        net_price=net_price,
        price=price,
        sale_price=sale_price,
        sale_start=sale_start,
        sale_end=sale_end,
        brand=brand,
        gtin=gtin,
        mpn=_mpn(raw.get("manufacturer_model"), problems),
        category_ids=category_ids,
        category_path=category_path,
        google_product_category=google_category,
        weight_kg=_weight(raw.get("weight"), problems),
        seo_paths=seo_paths,
        variant_label=(", ".join(attributes.values()) if attributes else
                       _variant_label(title, parent_title)) if parent else "",
        raw_variant=_raw_variant(raw, parent) if parent_vendre_id or is_parent else {},
        variant_attributes=attributes,
        description_source=description_source,
        ean_rejected=ean_given and gtin is None,
        violations=tuple(problems.found),
        vat_percent=vat,
        brand_from_shop=brand_from_shop,
        commodity_code=_text(raw, "commodity_code", problems),
    )
    return product, (problems.since, problems.until)


_DESCRIPTIONS = ("description", "description_short", "meta_description")
_FALLBACK_RULES = {"description_short": "description_from_short",
                   "meta_description": "description_from_meta"}


def _description(source: Mapping[str, Any], ctx: DeriveContext, title: str, brand: str,
                 category_path: tuple[str, ...], problems: _Problems
                 ) -> tuple[str, str, str]:
    """(text, where it came from, its language): the description, else the short
    description, else `meta_description`, else a text composed from title, brand and
    category path, each fallback with a warning. Never empty while there is a title."""
    for key in _DESCRIPTIONS:
        text, language = ml_lang(source.get(key), ctx.language, html_to_text)
        if text:
            if key in _FALLBACK_RULES:
                problems.add(Severity.WARNING, "description", f"no description: the {key} "
                             "is used", _FALLBACK_RULES[key])
            return text, key, language
    composed = ". ".join(part for part in (title, brand, " > ".join(category_path)) if part)
    if composed:
        problems.add(Severity.WARNING, "description", "no description, short description or "
                     "meta description: composed from title, brand and category",
                     "description_composed")
    return composed, "composed", ""


def _language_fallback(language: str, problems: _Problems, **found: str) -> None:
    """A warning for each text taken from another language than the target's (Google
    wants one language per feed)."""
    for field_, used in found.items():
        if used and used != language:
            problems.add(Severity.WARNING, field_, f"no {language} text: the {used} text is "
                         "used", "text_language_fallback")


def _parent_hidden(parent: Mapping[str, Any] | None) -> str:
    """Why a variant is not for sale because of its parent ('' when it is)."""
    if not parent:
        return ""
    if parent.get("status") is not True:
        return "its variant parent is inactive"
    if parent.get("show") is not True:
        return "its variant parent is hidden"
    return ""


def _titled(title: str, values: Iterable[str]) -> str:
    """The variant's title naming its values ("Tröja Drake, M"), unless it already does."""
    missing = [v for v in values if v and v.lower() not in title.lower()]
    return ", ".join([title, *missing]) if title and missing else title


# ---------------------------------------------------------------- variant attributes
# The filled shape of `variants` / `variant_products` is unknown (vendre-api.md §5).
# Read defensively: axes as a dict or a list of {id, name, choices}, choices as a
# dict or list of {id, name}; a child's choices in the parent's `variant_products`
# (by child id) or in the child's own; and the storefront's naming
# (`product_variant_types` -> `product_variant_choices` -> `products`). Anything
# else gives no attribute (and the channels warn), never a guess.


def _variant_attributes(raw: Mapping[str, Any], parent: Mapping[str, Any] | None,
                        ctx: DeriveContext) -> dict[str, str]:
    """color / size / material / pattern -> this variant's value, in the target's
    language, for each axis `[shop] variant_axes` maps."""
    if not ctx.variant_axes:
        return {}
    found: dict[str, str] = {}
    for owner in (parent or {}, raw):
        for axis_name, value in _choices_of(owner, raw.get("id")):
            attribute = ctx.variant_axes.get(axis_name.strip().lower())
            if attribute and value and attribute not in found:
                found[attribute] = value
    return {key: ml_text(found[key], ctx.language) for key in sorted(found)} \
        if found and all(isinstance(v, (str, dict)) for v in found.values()) else {}


def ml_text(value: Any, language: str) -> str:
    return clean_text(value) if isinstance(value, str) else ml(value, language, clean_text)


def _choices_of(owner: Mapping[str, Any], child_id: Any) -> list[tuple[str, Any]]:
    """(axis name in any language, choice name) pairs `owner` states for `child_id`."""
    pairs: list[tuple[str, Any]] = []
    axes = _axes(owner.get("variants"))
    picked = _picked(owner.get("variant_products"), child_id)
    for axis_id, choice_id in picked.items():
        axis = axes.get(axis_id)
        if axis is not None:
            names, choices = axis
            choice = choices.get(choice_id)
            if choice is not None:
                pairs += [(name, choice) for name in names]
    for axis in _as_list(owner.get("product_variant_types")):
        names = _names(axis.get("name"))
        for choice in _as_list(axis.get("product_variant_choices")):
            products = choice.get("products")
            if isinstance(products, list) and child_id in products:
                pairs += [(name, choice.get("name")) for name in names]
    return pairs


def _axes(value: Any) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """axis id -> (its names in every language, choice id -> choice name)."""
    axes = {}
    for key, axis in _as_items(value):
        names = _names(axis.get("name"))
        choices = {str(ck): choice.get("name") for ck, choice in _as_items(axis.get("choices"))}
        axes[str(axis.get("id", key))] = (names, choices)
    return axes


def _picked(value: Any, child_id: Any) -> dict[str, str]:
    """axis id -> choice id for `child_id`, from a `variant_products` of any known form."""
    for key, entry in _as_items(value):
        owner_id = entry.get("product_id", key)
        if str(owner_id) != str(child_id):
            continue
        choices = entry.get("choices")
        if isinstance(choices, dict):
            return {str(k): str(v) for k, v in choices.items()
                    if type(v) in (int, str)}
    return {}


def _as_items(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """(key, object) pairs of a dict of objects, or (index or id, object) of a list."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items() if isinstance(v, dict)]
    if isinstance(value, list):
        return [(str(v.get("id", i)), v) for i, v in enumerate(value) if isinstance(v, dict)]
    return []


def _as_list(value: Any) -> list[dict[str, Any]]:
    return [v for _, v in _as_items(value)]


def _names(value: Any) -> list[str]:
    """Every name of an axis: a text, or each language's text of an object."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, str) and v]
    return []


def _check_shapes(raw: Mapping[str, Any], id_field: IdField, problems: _Problems) -> None:
    """Warnings for fields read only as flags or kept as they are, when of the wrong type."""
    for key in _FLAGS:
        value = raw.get(key)
        if value is not None and type(value) is not bool:
            problems.unusable(key, value, "true or false")
    # The field that is not the feed id: the other is checked as the id.
    if id_field is not _BY_ARTICLE:
        article = raw.get("article_number")
        if type(article) is not str and type(article) is not int and article:
            problems.unusable("article_number", article, "a text")
    elif raw.get("id") is not None and type(raw.get("id")) is not int:
        problems.unusable("id", raw.get("id"), "an integer")


def _article_number(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    return str(value) if type(value) is int and value else ""


def _text(raw: Mapping[str, Any], key: str, problems: _Problems) -> str:
    """A plain one-line text field (not multilingual), e.g. `manufacturer_name`."""
    value = raw.get(key)
    if type(value) is str:
        return clean_text(value)
    if value:
        problems.unusable(key, value, "a text")
    return ""


def _mpn(value: Any, problems: _Problems) -> str:
    if type(value) is str:
        return clean_text(value)
    if type(value) is int and value:
        return str(value)
    if value:
        problems.unusable("manufacturer_model", value, "a text")
    return ""


def _quantity(raw: Mapping[str, Any], problems: _Problems) -> int:
    """Stock: `quantity` when it reads as an integer, never below 0; else 0."""
    value = raw.get("quantity")
    if type(value) is int:
        return max(0, value)
    quantity = _int_or_none(value)
    if quantity is None:
        if value is not None and value != "":
            problems.unusable("quantity", value, "an integer")
        return 0
    return max(0, quantity)


# A weight is read in kg between one milligram and 10^12 kg; the digits beyond the
# 28 that Decimal's context keeps are rounded away (the feed writes it out in full).
_MIN_WEIGHT = Decimal("0.000001")


def _weight(value: Any, problems: _Problems) -> Decimal | None:
    if value is None:
        return None
    kg = _decimal(value)
    if kg is None or 0 < kg < _MIN_WEIGHT:
        if kg is not None or value != "":
            problems.unusable("weight", value, "a weight in kg")
        return None
    return +kg if kg > 0 else None


def _seo_paths(raw: Mapping[str, Any], problems: _Problems) -> Mapping[str, str]:
    """`seo_link`: an object of relative paths per language (values that are not texts
    are left out)."""
    paths = raw.get("seo_link")
    if type(paths) is not dict:
        if paths:
            problems.unusable("seo_link", paths, "an object of paths per language")
        return {}
    for value in paths.values():
        if type(value) is not str:
            problems.add(Severity.WARNING, "seo_link", "seo_link: values that are not texts "
                         "left out", "field_unusable")
            return {k: v for k, v in paths.items() if type(v) is str}
    return paths


def _unreadable(raw: Any, ctx: DeriveContext, exc: Exception) -> Product:
    """The product an unforeseen failure leaves: not sellable, with an error that names
    the failure (and keeps the item out of every feed)."""
    raw_id = raw.get("id") if isinstance(raw, Mapping) else None
    vendre_id = raw_id if type(raw_id) is int else 0
    try:
        detail = f"{type(exc).__name__}: {exc}"[:200]
    except Exception:  # an exception whose text cannot be made
        detail = type(exc).__name__
    return Product(
        vendre_id=vendre_id, article_number="", feed_id="", group_id=None, parent_id=None,
        is_parent=False, sellable=False, not_sellable_because="unreadable product",
        title="", description="", link="", images=(), availability=Availability.OUT_OF_STOCK,
        availability_date=None, quantity=0,
        net_price=Money(Decimal(0), ctx.pricing.home_currency), price=None,
        sale_price=None, sale_start=None, sale_end=None, brand="", gtin=None, mpn="",
        category_ids=(), category_path=(), google_product_category=None, weight_kg=None,
        seo_paths={},
        violations=(Violation(Severity.ERROR, f"vendre:{vendre_id}", "product",
                              f"product {vendre_id} could not be read ({detail}); "
                              "left out", "parse_failed"),),
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
        value = parent.get("article_number" if ctx.id_field is _BY_ARTICLE else "id")
        if type(value) is str or type(value) is int:
            group = feed_id(parent, ctx.id_field)
            if group and strip_xml_illegal(group) == group:
                return group
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
    """De-duplication key of a raw order: its id under the first known alias that holds
    a text or an integer; None when none does (or `raw` is not an object)."""
    if not isinstance(raw, Mapping):
        return None
    for key in _ORDER_ID:
        value = raw.get(key)
        if type(value) is int or (type(value) is str and value.strip()):
            return str(value)
    return None


def parse_order(raw: Mapping[str, Any], number_field: str = "") -> Order | None:
    """An `Order` from a raw object, or None when it carries no id at all.

    :param number_field: the field holding the order number the confirmation page
        shows (`[purchases] order_number_field`); "" reads the first of
        `order_number`, `number` and `id`.

    Total: fields of unusable types are None or left out, lines that are not
    objects are skipped, and nothing raises.
    """
    order_id = order_key(raw)
    if order_id is None:
        return None
    lines = _first(raw, _ORDER_LINES)
    status_id, status_name = _status(raw)
    return Order(
        id=str(order_id),
        date=to_datetime(_first(raw, _ORDER_DATE)),
        currency=_currency(raw),
        lines=tuple(_line(x) for x in lines if isinstance(x, Mapping))
        if isinstance(lines, list) else (),
        total=_total(raw, "total"),
        tax=_total(raw, "tax"),
        shipping=_total(raw, "shipping"),
        number=order_number(raw, number_field) or str(order_id),
        status_id=status_id,
        status_name=status_name,
        customer=_customer(raw),
        raw=raw,
    )


_ORDER_NUMBER = ("order_number", "number", "id")
_NUMBER_LIMIT = 64  # an order number longer than this is not one


def order_number(raw: Mapping[str, Any], field_name: str = "") -> str:
    """The order number (the purchase's transaction id): `field_name`, else the first
    of `order_number`, `number` and `id` holding a text or an integer; "" when none does."""
    if not isinstance(raw, Mapping):
        return ""
    for key in (field_name,) if field_name else _ORDER_NUMBER:
        value = raw.get(key)
        if type(value) is int and value >= 0:
            return str(value)
        if type(value) is str and 0 < len(value.strip()) <= _NUMBER_LIMIT \
                and value.strip().isprintable():
            return value.strip()
    return ""


# The status: an id (osCommerce's `orders_status`, the storefront's `status`), and a name.
_STATUS_ID = ("status_id", "status", "orders_status")
_STATUS_NAME = ("status_name", "orders_status_name")


def _status(raw: Mapping[str, Any]) -> tuple[int | None, str]:
    """(status id, status name); a `status` that is a word, not a number, is the name."""
    found, name = None, ""
    for key in _STATUS_ID:
        value = raw.get(key)
        number = _int_or_none(value) if type(value) in (int, str) else None
        if number is not None and 0 <= number < 2 ** 31:
            found = number
            break
        if key == "status" and type(value) is str and value.strip():
            name = clean_text(value)
    for key in _STATUS_NAME:
        value = raw.get(key)
        if type(value) is str and value.strip():
            return found, clean_text(value)
        if isinstance(value, Mapping):  # a multilingual name
            text = ml(value, "", clean_text)
            if text:
                return found, text
    return found, name


# The customer, from the order's `customer` object, the osCommerce columns on the order
# itself (`customers_*`), plain fields, and `billing_address`; the first usable value of
# each, in that order (vendre-api.md §9-10: guessed names, none observed on an order).
_CUSTOMER_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    # (customer object keys, order keys, billing_address keys)
    "id": (("id", "customer_id", "customers_id"), ("customer_id", "customers_id"), ()),
    "email": (("email", "email_address"), ("customers_email_address", "email"),
              ("email_address", "email")),
    "phone": (("phone", "phone_mobile", "phone_default", "telephone"),
              ("customers_telephone", "phone", "telephone"),
              ("phone", "phone_mobile", "telephone")),
    "first_name": (("name_first", "first_name", "firstname"),
                   ("customers_firstname", "name_first", "first_name"),
                   ("name_first", "first_name", "firstname")),
    "last_name": (("name_last", "last_name", "lastname"),
                  ("customers_lastname", "name_last", "last_name"),
                  ("name_last", "last_name", "lastname")),
    "city": (("address_city", "city"), ("customers_city", "billing_city"),
             ("city", "address_city")),
    "postcode": (("address_postcode", "postcode", "zip"),
                 ("customers_postcode", "billing_postcode"),
                 ("postcode", "address_postcode", "zip", "zipcode")),
    "country": (("address_country_code_alpha2", "country_code", "country"),
                ("customers_country_code", "billing_country_code", "customers_country"),
                ("country_code", "address_country_code_alpha2", "country")),
}
_TEXT_LIMIT = 200  # a name, city or address longer than this is not one


def _customer(raw: Mapping[str, Any]) -> Customer:
    """The customer as far as the order says; unusable values are left empty."""
    owners = (raw.get("customer"), raw, raw.get("billing_address"))
    found: dict[str, str] = {}
    for name, key_lists in _CUSTOMER_FIELDS.items():
        for owner, keys in zip(owners, key_lists, strict=True):
            value = _customer_text(owner, keys, name)
            if value:
                found[name] = value
                break
    if "first_name" not in found and "last_name" not in found:
        found.update(_split_name(raw.get("customers_name")))
    return Customer(**found)


def _customer_text(owner: Any, keys: tuple[str, ...], name: str) -> str:
    if not isinstance(owner, Mapping):
        return ""
    for key in keys:
        value = owner.get(key)
        if type(value) is int and value >= 0 and name in ("id", "phone", "postcode"):
            return str(value)
        if type(value) is not str:
            continue
        text = clean_text(value)
        if not text or len(text) > _TEXT_LIMIT:
            continue
        if name == "country":
            if re.fullmatch(r"[A-Za-z]{2}", text):
                return text.upper()
            continue  # a country name ("Sverige") is not a code; not guessed
        return text
    return ""


def _split_name(value: Any) -> dict[str, str]:
    """osCommerce's one `customers_name` as first and last name (at the last space)."""
    if type(value) is not str:
        return {}
    text = clean_text(value)
    if not text or len(text) > _TEXT_LIMIT or " " not in text:
        return {"first_name": text} if text and len(text) <= _TEXT_LIMIT else {}
    first, _, last = text.rpartition(" ")
    return {"first_name": first, "last_name": last}


def _currency(raw: Mapping[str, Any]) -> str | None:
    value = _first(raw, ("currency", "currency_code", "currencies_code"))
    return value.upper() if isinstance(value, str) and re.match(r"^[A-Za-z]{3}$", value) else None


def _line(raw: Mapping[str, Any]) -> OrderLine:
    product = _first(raw, _LINE_PRODUCT)
    return OrderLine(
        product_id=_int(product, 0) or None,
        article_number=_article_number(_first(raw, _LINE_MODEL)),
        name=ml(raw.get("name"), "", clean_text),
        quantity=_line_quantity(_first(raw, ("quantity", "qty", "products_quantity"))),
        unit_price_net=_decimal(_first(raw, _LINE_PRICE)),
        tax_percent=_decimal(_first(raw, ("tax", "tax_rate", "products_tax"))),
    )


def _line_quantity(value: Any) -> int:
    """Units on an order line: 1 when unreadable, and when beyond 10^9 (garbage that would
    make the events' price x quantity too long for Decimal's 28 digits)."""
    quantity = _int(value, 1)
    return max(0, quantity) if quantity < 1_000_000_000 else 1


def _total(raw: Mapping[str, Any], kind: str) -> Decimal | None:
    """A total from a `totals: [{class, value}]` list, else from a plain field."""
    totals = raw.get("totals")
    if isinstance(totals, list):
        for row in totals:
            if isinstance(row, Mapping) and row.get("class") in _TOTAL_CLASSES[kind]:
                return _decimal(row.get("value"))
    return _decimal(_first(raw, (kind, f"{kind}_amount", f"order_{kind}")))
