"""The catalogue model every feed and every tracking event is built from.

Frozen dataclasses derived once from Vendre's raw JSON (`feeds.vendre.parse`).
Money is `Decimal` with a currency, never a float; times are timezone-aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from enum import StrEnum
from typing import Any

from feeds.core.validation import Violation

__all__ = [
    "Availability",
    "Category",
    "Customer",
    "Derived",
    "Money",
    "Order",
    "OrderLine",
    "Product",
    "product_of",
    "round_money",
    "whole_product",
]

CENT = Decimal("0.01")
_MODES = {"half_up": ROUND_HALF_UP, "up": ROUND_UP, "down": ROUND_DOWN}


def round_money(amount: Decimal, quantum: Decimal = CENT, mode: str = "half_up") -> Decimal:
    """`amount` rounded to a multiple of `quantum` (0.01, 1, 0.10 ...), half-up by default."""
    if quantum == CENT:  # every price's first rounding: the same result in one step
        return amount.quantize(CENT, rounding=_MODES[mode])
    steps = (amount / quantum).quantize(Decimal(1), rounding=_MODES[mode])
    return (steps * quantum).quantize(CENT)


@dataclass(frozen=True, order=True)
class Money:
    """An amount of one currency, kept to two decimals."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")

    def format(self) -> str:
        """`123.45 SEK`: the form Google, Meta and Criteo expect."""
        return f"{self.amount.quantize(CENT)} {self.currency}"


class Availability(StrEnum):
    """Stock state in the project's own words; each channel maps it to its vocabulary."""

    IN_STOCK = "in_stock"
    OUT_OF_STOCK = "out_of_stock"
    PREORDER = "preorder"
    BACKORDER = "backorder"


@dataclass(frozen=True)
class Category:
    """One Vendre category, with names and links in every language."""

    id: int
    parent_id: int | None
    names: Mapping[str, str]
    seo_links: Mapping[str, str]
    google_product_category: int | None
    status: bool = True


@dataclass(frozen=True)
class Product:
    """One Vendre product as every channel sees it, for one language and pricing target.

    `sellable` is False for hidden, inactive, zero-priced products and variant
    parents; channels leave those out. `violations` are data problems found
    while deriving (unknown tax class, bad GTIN); channels add their own.
    """

    vendre_id: int
    article_number: str
    feed_id: str
    group_id: str | None
    parent_id: int | None
    is_parent: bool
    sellable: bool
    not_sellable_because: str
    title: str
    description: str
    link: str
    images: tuple[str, ...]
    availability: Availability
    availability_date: datetime | None
    quantity: int
    net_price: Money
    price: Money | None
    sale_price: Money | None
    sale_start: datetime | None
    sale_end: datetime | None
    brand: str
    gtin: str | None
    mpn: str
    category_ids: tuple[int, ...]
    category_path: tuple[str, ...]
    google_product_category: int | None
    weight_kg: Decimal | None
    seo_paths: Mapping[str, str]
    variant_label: str = ""
    raw_variant: Mapping[str, Any] = field(default_factory=dict)
    # color, size, material, pattern -> the variant's value, where its payload names it
    variant_attributes: Mapping[str, str] = field(default_factory=dict)
    # "description", "description_short", "meta_description" or "composed"
    description_source: str = "description"
    # the shop gave an EAN that failed its check (evidence of an identifier Google weighs)
    ean_rejected: bool = False
    violations: tuple[Violation, ...] = ()
    vat_percent: Decimal | None = None  # the VAT the prices include (the target's table)
    # the brand is [shop] default_brand (no manufacturer, no EAN), not the maker's name
    brand_from_shop: bool = False
    commodity_code: str = ""  # Vendre's `commodity_code` (a CN/HS customs code), as given

    @property
    def current_price(self) -> Money | None:
        """What a shopper pays today: the sale price when one is active, else the price."""
        return self.sale_price or self.price


_PRODUCT_FIELDS = frozenset(f.name for f in fields(Product))


def whole_product(**values: Any) -> Product:
    """`Product(**values)` when `values` names every field: the same frozen object, made
    several times faster (the dataclass's own `__init__` sets its 35 attributes one
    `object.__setattr__` at a time, a sixth of deriving a product; this gives the
    object its attribute dict in one step).

    :raises TypeError: a field is missing or unknown.
    """
    if values.keys() != _PRODUCT_FIELDS:
        wrong = sorted(_PRODUCT_FIELDS.symmetric_difference(values))
        raise TypeError(f"whole_product needs exactly the fields of Product: {wrong}")
    return product_of(values)


def product_of(values: dict[str, Any]) -> Product:
    """`whole_product` of a dict the caller made with exactly Product's fields (not
    checked here); the dict becomes the product's own."""
    product = object.__new__(Product)
    object.__setattr__(product, "__dict__", values)
    return product


@dataclass(frozen=True)
class OrderLine:
    """One line of an order; fields the shop did not send are None or empty."""

    product_id: int | None
    article_number: str
    name: str
    quantity: int
    unit_price_net: Decimal | None
    tax_percent: Decimal | None


@dataclass(frozen=True)
class Customer:
    """Who placed an order, as far as the order says; every field may be empty.

    Personal data: read only to be normalised and hashed for an ad platform when the
    shop says so (`[purchases] send_user_data`), never logged or shown.
    """

    id: str = ""
    email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    city: str = ""
    postcode: str = ""
    country: str = ""  # ISO 3166-1 alpha-2, upper case, or ""

    def __repr__(self) -> str:  # never print personal data by accident
        return "Customer(...)"


@dataclass(frozen=True)
class Order:
    """An order as far as the undocumented /orders shape lets us read it; `raw` keeps all.

    `id` is the key orders are told apart by; `number` is what the shop's confirmation
    page calls the order (the purchase's transaction id), by default the same text.
    """

    id: str
    date: datetime | None
    currency: str | None
    lines: tuple[OrderLine, ...]
    total: Decimal | None
    tax: Decimal | None
    shipping: Decimal | None
    number: str = ""
    status_id: int | None = None
    status_name: str = ""
    customer: Customer = field(default_factory=Customer, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


class Derived(dict[str, Product]):
    """One product derived for each target a channel reads, by target name, in the
    channel's order. A feed file reads one target (`primary`); a marketplace combines
    its markets into one article."""

    __slots__ = ("primary",)

    def __init__(self, by_target: Mapping[str, Product]) -> None:
        super().__init__(by_target)
        self.primary = next(iter(self.values()))
