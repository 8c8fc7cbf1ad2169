"""The bridge from the catalogue to tracking events: one id policy for feeds and tags.

Every `EventItem` id here is `Product.feed_id`, which `feeds.vendre.parse.feed_id`
gave the feeds too, so an event can only ever name an id the feeds use. Prices
are the home feed's prices (gross, in the shop's currency).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from feeds.config import Config
from feeds.core.model import CENT, Order, Product
from feeds.errors import NotFound
from feeds.pipeline.plan import derive_context, home_stems
from feeds.storage.feed_ids import FeedIds
from feeds.storage.layout import Layout
from feeds.storage.store import Store
from feeds.vendre.parse import (
    DeriveContext,
    order_key,
    parse_category,
    parse_order,
    parse_product,
    with_descendants,
)
from tracking.events import EventItem, Purchase, ViewItemList

__all__ = ["EventSource", "event_item"]

LIST_LENGTH = 12  # items in a category's view_item_list (a first screen of products)


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
        categories = {c.id: c for c in map(parse_category, store.raw_categories())}
        home = cfg.channel("google").targets[0]
        self.derive: DeriveContext = derive_context(cfg, home, categories, now)
        # Events name only ids every live home feed holds (see feeds.storage.feed_ids).
        self.is_feed_item = FeedIds(Layout(cfg.data_dir)).in_all(home_stems(cfg))

    def product(self, ref: str) -> Product:
        """A product by Vendre id or article number; a variant parent gives its first
        sellable variant (the parent is no feed item)."""
        found = self.store.product(int(ref)) if ref.isdigit() else None
        found = found or self.store.product_by_article(ref)
        if found is None:
            raise NotFound(f"no product with id or article number {ref!r} in the store")
        raw, parent = found
        product = parse_product(raw, self.derive, parent)
        if product.is_parent:
            return self._first_variant(product)
        if not self.is_feed_item(product.feed_id):
            why = product.not_sellable_because or "not in every published feed (see reports/)"
            raise NotFound(f"product {ref} is not a feed item: {why}")
        return product

    def _first_variant(self, parent: Product) -> Product:
        raw_parent = self.store.product(parent.vendre_id)
        for raw in self.store.children(parent.vendre_id):
            child = parse_product(raw, self.derive, raw_parent[0] if raw_parent else None)
            if self.is_feed_item(child.feed_id):
                return child
        raise NotFound(f"variant parent {parent.vendre_id} has no sellable variant")

    def category_list(self, category_id: int) -> ViewItemList:
        """The first feed items of a category or its subcategories, in store order."""
        wanted = with_descendants([category_id], self.derive.categories)
        items = []
        for raw, parent in self.store.iter_products():
            if not wanted.intersection(raw.get("category_ids") or []):
                continue
            product = parse_product(raw, self.derive, parent)
            if self.is_feed_item(product.feed_id):
                items.append(event_item(product, index=len(items)))
            if len(items) == LIST_LENGTH:
                break
        if not items:
            raise NotFound(f"category {category_id} has no products for sale in the store")
        names = self.derive.categories.get(category_id)
        return ViewItemList(tuple(items), list_id=str(category_id),
                            list_name=names.names.get(self.derive.language, "") if names else "")

    def purchase(self, order_id: str) -> Purchase:
        """An order from the store as a purchase event (lines at the order's prices)."""
        raw = next((o for o in self.store.raw_orders() if _order_id(o) == order_id), None)
        order = parse_order(raw) if raw else None
        if order is None:
            raise NotFound(f"no order {order_id!r} in the store (orders of the last "
                           f"{self.cfg.vendre.orders_days} days are kept)")
        return self._purchase(order)

    def _purchase(self, order: Order) -> Purchase:
        items = list(self._order_items(order))
        if not items:
            raise NotFound(f"order {order.id} has no lines we can read")
        currency = order.currency or self.cfg.shop.currency
        value = sum((i.price * i.quantity for i in items), Decimal(0))
        return Purchase(order.id, tuple(items), currency, value.quantize(CENT),
                        (order.tax or Decimal(0)).quantize(CENT),
                        (order.shipping or Decimal(0)).quantize(CENT))

    def _order_items(self, order: Order) -> Iterable[EventItem]:
        for index, line in enumerate(order.lines):
            ref = str(line.product_id or line.article_number or "")
            try:
                product = self.product(ref) if ref else None
            except NotFound:
                product = None
            if product is None:
                continue
            base = event_item(product, quantity=max(line.quantity, 1), index=index)
            yield _at_order_price(base, line.unit_price_net, line.tax_percent)


def _order_id(raw: dict) -> str | None:
    key = order_key(raw)
    return None if key is None else str(key)


def _at_order_price(item: EventItem, net: Decimal | None, tax: Decimal | None) -> EventItem:
    """The item at the price the order charged, when the order says it."""
    if net is None or tax is None:
        return item
    gross = (net * (1 + tax / 100)).quantize(CENT)
    return EventItem(**{**item.__dict__, "price": gross, "net_price": net.quantize(CENT)})
