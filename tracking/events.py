"""Shop events as tracking sees them: frozen dataclasses of already-known values.

Money is `Decimal`, never float. Every item carries its gross `price` and its
`net_price`; a service picks one by `TrackingOptions.prices_include_vat`.
Constructors reject what would silently produce a wrong event (an empty
transaction id, a float price, mixed currencies) with ValueError/TypeError.
Names and ids are untrusted text and are not cleaned here: the `js` filter is
what makes them safe inside `<script>`.

Each event class has `name`, its CLI name (`EVENT_TYPES` maps names to classes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

__all__ = [
    "EVENT_TYPES",
    "AddToCart",
    "BeginCheckout",
    "Event",
    "EventItem",
    "PageView",
    "Purchase",
    "ViewCart",
    "ViewHome",
    "ViewItem",
    "ViewItemList",
]

_CURRENCY = re.compile(r"[A-Z]{3}")
_CENT = Decimal("0.01")


def _money(owner: str, value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"{owner}: a finite Decimal expected, got {value!r}")


@dataclass(frozen=True)
class EventItem:
    """One product (variant) in an event, with the feeds' id and prices."""

    id: str
    name: str
    price: Decimal
    net_price: Decimal
    currency: str
    quantity: int = 1
    brand: str = ""
    categories: tuple[str, ...] = ()
    variant: str = ""
    group_id: str = ""
    index: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"EventItem.id: a non-empty string expected, got {self.id!r}")
        _money("EventItem.price", self.price)
        _money("EventItem.net_price", self.net_price)
        if not _CURRENCY.fullmatch(self.currency):
            raise ValueError(f"EventItem.currency: an ISO 4217 code expected, got "
                             f"{self.currency!r}")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) \
                or self.quantity < 1:
            raise ValueError(f"EventItem.quantity: a whole number >= 1 expected, got "
                             f"{self.quantity!r}")
        object.__setattr__(self, "categories", tuple(self.categories))

    def unit_price(self, include_vat: bool) -> Decimal:
        return self.price if include_vat else self.net_price

    def line_total(self, include_vat: bool) -> Decimal:
        return self.unit_price(include_vat) * self.quantity


def _items(owner: str, items: Iterable[EventItem]) -> tuple[EventItem, ...]:
    """`items` as a tuple: at least one, all EventItems, one currency."""
    found = tuple(items)
    if not found:
        raise ValueError(f"{owner}.items: at least one item expected")
    if not all(isinstance(i, EventItem) for i in found):
        raise TypeError(f"{owner}.items: EventItem objects expected")
    currencies = sorted({i.currency for i in found})
    if len(currencies) > 1:
        raise ValueError(f"{owner}.items: one currency expected, got {currencies}")
    return found


def _total(items: Iterable[EventItem], include_vat: bool) -> Decimal:
    return sum((i.line_total(include_vat) for i in items), Decimal(0))


@dataclass(frozen=True)
class PageView:
    """Any page. The base code of each service already reports it."""

    name: ClassVar[str] = "page_view"


@dataclass(frozen=True)
class ViewHome:
    """The shop's start page (Criteo `viewHome`)."""

    name: ClassVar[str] = "view_home"


@dataclass(frozen=True)
class ViewItem:
    """A product page."""

    name: ClassVar[str] = "view_item"
    item: EventItem

    def __post_init__(self) -> None:
        _items("ViewItem", (self.item,))

    @property
    def items(self) -> tuple[EventItem, ...]:
        return (self.item,)

    @property
    def currency(self) -> str:
        return self.item.currency

    def goods_value(self, include_vat: bool) -> Decimal:
        return self.item.line_total(include_vat)


@dataclass(frozen=True)
class _Items:
    """An event about a list of items; `value` is the sum of price x quantity."""

    name: ClassVar[str]
    items: tuple[EventItem, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", _items(type(self).__name__, self.items))

    @property
    def currency(self) -> str:
        return self.items[0].currency

    def goods_value(self, include_vat: bool) -> Decimal:
        return _total(self.items, include_vat)


@dataclass(frozen=True)
class ViewItemList(_Items):
    """A category, search or other product list, items in shown order."""

    name: ClassVar[str] = "view_item_list"
    list_id: str = ""
    list_name: str = ""


@dataclass(frozen=True)
class AddToCart(_Items):
    name: ClassVar[str] = "add_to_cart"


@dataclass(frozen=True)
class ViewCart(_Items):
    name: ClassVar[str] = "view_cart"


@dataclass(frozen=True)
class BeginCheckout(_Items):
    name: ClassVar[str] = "begin_checkout"


@dataclass(frozen=True)
class Purchase:
    """A placed order. `value` is the goods' gross value (sum of price x quantity,
    after any order discount, without shipping); `tax` and `shipping` are the order's."""

    name: ClassVar[str] = "purchase"
    transaction_id: str
    items: tuple[EventItem, ...]
    currency: str
    value: Decimal
    tax: Decimal
    shipping: Decimal
    email: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.transaction_id, str) or not self.transaction_id.strip():
            # GA4 collapses every purchase with an empty transaction_id into one.
            raise ValueError("Purchase.transaction_id: must not be empty")
        object.__setattr__(self, "items", _items("Purchase", self.items))
        if self.items[0].currency != self.currency:
            raise ValueError(f"Purchase.currency: {self.currency!r} differs from the items' "
                             f"{self.items[0].currency!r}")
        for name in ("value", "tax", "shipping"):
            _money(f"Purchase.{name}", getattr(self, name))

    def goods_value(self, include_vat: bool) -> Decimal:
        """`value`, or without VAT: the lines' net sum, scaled like `value` when an
        order discount makes `value` differ from the lines' gross sum."""
        if include_vat:
            return self.value
        gross, net = _total(self.items, True), _total(self.items, False)
        if not gross or self.value == gross:
            return net
        return (self.value * net / gross).quantize(_CENT)


Event = PageView | ViewHome | ViewItem | ViewItemList | AddToCart | ViewCart | BeginCheckout \
    | Purchase

EVENT_TYPES: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (ViewItem, ViewItemList, AddToCart, ViewCart, BeginCheckout, Purchase, PageView,
                ViewHome)
}
