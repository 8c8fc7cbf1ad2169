"""The bridge from the catalogue to tracking events: one id policy for feeds and tags.

Every `EventItem` id here is `Product.feed_id`, which `feeds.core.ids.feed_id` gave
the feeds too, so an event names a product by the id its catalogue item has (or
would have). Every sellable product gets events, whether or not a feed carries it
(`feeds.events.catalog`); prices and language are the shop's own (`[shop]`), gross,
in the shop's currency. A purchase keeps every line of the order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from feeds.config import Config, IdField
from feeds.core.model import CENT, Order, OrderLine, Product
from feeds.errors import NotFound
from feeds.events.catalog import LIST_LENGTH, EventCatalog, why_untracked
from feeds.storage.store import Store
from feeds.vendre.parse import order_key, parse_order
from tracking.events import EventItem, Purchase, ViewItemList

__all__ = ["LIST_LENGTH", "EventSource", "event_item"]


def event_item(product: Product, *, quantity: int = 1, index: int = 0) -> EventItem:
    """The product as an event item, with the feed's id and prices."""
    if product.price is None:
        raise NotFound(f"product {product.vendre_id} has no price (unknown tax class?)")
    current = product.current_price or product.price
    net = product.net_price.amount
    if product.sale_price is not None and product.price.amount:
        net = net * current.amount / product.price.amount
    return EventItem(id=product.feed_id, name=product.title, price=current.amount,
                     net_price=net.quantize(CENT), currency=current.currency,
                     quantity=quantity, brand=product.brand,
                     categories=product.category_path, variant=product.variant_label,
                     group_id=product.group_id or "", index=index)


class EventSource:
    """Builds events from the store, for previews and the loader's checks."""

    def __init__(self, cfg: Config, store: Store, now: datetime) -> None:
        self.cfg, self.store = cfg, store
        self.catalog = EventCatalog(cfg, store, now)
        self.derive = self.catalog.derive

    def product(self, ref: str) -> Product:
        """A product by Vendre id or article number; a variant parent gives its first
        sellable variant (the variant its page shows)."""
        found = self._find(ref)
        if found is None:
            raise NotFound(f"no product with id or article number {ref!r} in the store")
        raw, parent = found
        product = self.catalog.parse(raw, parent)
        if product.is_parent:
            variant = self.catalog.first_variant(product, raw)
            if variant is None:
                raise NotFound(f"variant parent {product.vendre_id} has no sellable variant")
            return variant
        why = why_untracked(product)
        if why:
            raise NotFound(f"product {ref} gets no events: {why}")
        return product

    def _find(self, ref: str) -> tuple[dict, dict | None] | None:
        found = self.store.product(int(ref)) if ref.isdigit() else None
        return found or self.store.product_by_article(ref)

    def category_list(self, category_id: int) -> ViewItemList:
        """The first sellable products of a category or its subcategories, in store order."""
        members = self.catalog.members(category_id)
        if not members:
            raise NotFound(f"category {category_id} has no products for sale in the store")
        items = tuple(event_item(p, index=n) for n, p in enumerate(members))
        names = self.derive.categories.get(category_id)
        return ViewItemList(items, list_id=str(category_id),
                            list_name=names.names.get(self.derive.language, "") if names else "")

    def purchase(self, order_id: str) -> Purchase:
        """An order from the store as a purchase event (lines at the order's prices)."""
        raw = next((o for o in self.store.raw_orders() if _order_id(o) == order_id), None)
        order = parse_order(raw, self.cfg.purchases.order_number_field) if raw else None
        if order is None:
            raise NotFound(f"no order {order_id!r} in the store (orders of the last "
                           f"{self.cfg.vendre.orders_days} days are kept)")
        return self.purchase_of(order)

    def purchase_of(self, order: Order) -> Purchase:
        """An order as its purchase event: what the browser events and the server-side
        events (`feeds.purchases`) both send; the transaction id is the order's number.

        :raises NotFound: the order has no line that can be read.
        """
        items = list(self._order_items(order))
        if not items:
            raise NotFound(f"order {order.id} has no lines we can read")
        currency = order.currency or self.cfg.shop.currency
        value = sum((i.price * i.quantity for i in items), Decimal(0))
        return Purchase(order.number or order.id, tuple(items), currency,
                        value.quantize(CENT),
                        (order.tax or Decimal(0)).quantize(CENT),
                        (order.shipping or Decimal(0)).quantize(CENT))

    def _order_items(self, order: Order) -> Iterable[EventItem]:
        """Every line: a tracked product's item at the order's price, else the line as
        the order names it (its id, name and price), so no line is ever dropped."""
        for index, line in enumerate(order.lines):
            quantity = max(line.quantity, 1)
            ref = str(line.product_id or line.article_number or "")
            try:
                product = self.product(ref) if ref else None
            except NotFound:
                product = None
            if product is None:
                yield self._line_item(line, quantity, index)
                continue
            base = event_item(product, quantity=quantity, index=index)
            yield _at_order_price(base, line.unit_price_net, line.tax_percent)

    def _line_item(self, line: OrderLine, quantity: int, index: int) -> EventItem:
        """A line whose product is unknown or gets no events: the id the feeds would
        give it, its name and the order's price (else the product's, else 0)."""
        found = self._find(str(line.product_id)) if line.product_id else None
        found = found or (self._find(line.article_number) if line.article_number else None)
        product = self.catalog.parse(*found) if found else None
        ids = [line.article_number, str(line.product_id or "")]
        if self.cfg.shop.id_field is IdField.ID:
            ids.reverse()
        item_id = (product.feed_id if product else "") or next((i for i in ids if i), "")
        name = line.name or (product.title if product else "")
        price, net = _line_price(line, product)
        return EventItem(id=item_id or name or f"line-{index + 1}", name=name,
                         price=price, net_price=net, currency=self.cfg.shop.currency,
                         quantity=quantity, brand=product.brand if product else "",
                         categories=product.category_path if product else (),
                         variant=product.variant_label if product else "",
                         group_id=(product.group_id or "") if product else "", index=index)


def _order_id(raw: dict) -> str | None:
    key = order_key(raw)
    return None if key is None else str(key)


def _line_price(line: OrderLine, product: Product | None) -> tuple[Decimal, Decimal]:
    """(gross, net) of one unit: the order's, else the product's today, else unknown (0);
    a net price without a tax rate stands for both."""
    if line.unit_price_net is not None and line.tax_percent is not None:
        net = line.unit_price_net
        return (net * (1 + line.tax_percent / 100)).quantize(CENT), net.quantize(CENT)
    if product is not None and product.price is not None:
        item = event_item(product)
        return item.price, item.net_price
    if line.unit_price_net is not None:
        return line.unit_price_net.quantize(CENT), line.unit_price_net.quantize(CENT)
    return Decimal("0.00"), Decimal("0.00")


def _at_order_price(item: EventItem, net: Decimal | None, tax: Decimal | None) -> EventItem:
    """The item at the price the order charged, when the order says it."""
    if net is None or tax is None:
        return item
    gross = (net * (1 + tax / 100)).quantize(CENT)
    return EventItem(**{**item.__dict__, "price": gross, "net_price": net.quantize(CENT)})
