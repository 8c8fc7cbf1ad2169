"""Which products get events, and the two choices every event source makes alike.

This is the one place that decides, for events (`feeds.events.source`) and for the
loader's index (`feeds.events.index`):

- **who is tracked** (`why_untracked`): every sellable product with an id and a
  price, whether or not a feed carries it. Feeds decide what a catalogue holds;
  they never decide what is counted (the index records which feeds hold an id).
- **the first sellable variant** of a variant parent: the variant a parent's page
  names, the lowest-id tracked variant (the store streams products by id);
- **category members**: the first `LIST_LENGTH` tracked products of a category and
  its subcategories, in store order (a category's `view_item_list`).

Products are derived for the shop's own target (`[shop]`: country, language,
currency and VAT table), never for a channel's, so no channel setting changes an
event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feeds.config import Config
from feeds.config.load import home_target
from feeds.core.model import Category, Product
from feeds.pipeline.plan import derive_context
from feeds.storage.store import Store
from feeds.vendre.parse import DeriveContext, parse_category, parse_product

__all__ = ["LIST_LENGTH", "EventCatalog", "Seen", "why_untracked"]

LIST_LENGTH = 12  # items in a category's view_item_list (a first screen of products)

Row = tuple[Mapping[str, Any], Mapping[str, Any] | None]  # (raw product, raw parent)


def why_untracked(product: Product) -> str:
    """Why `product` gets no events ('' = it gets them in every enabled service)."""
    if not product.sellable:
        return product.not_sellable_because or "not sellable"
    if not product.feed_id:
        return "no id (the id field is empty)"
    if product.price is None:
        return "no price (unknown tax class?)"
    return ""


@dataclass(frozen=True)
class Seen:
    """One product as the event pass sees it."""

    raw: Mapping[str, Any]
    product: Product
    untracked: str                  # why it gets no events ('' = it gets them)
    first_variant_of: int | None    # the parent whose page names this variant
    lists: tuple[tuple[int, int], ...]  # (category, position) of the lists it is in

    @property
    def tracked(self) -> bool:
        return not self.untracked


class EventCatalog:
    """The store's products derived for the shop's own target, and the pass over them."""

    def __init__(self, cfg: Config, store: Store, now: datetime) -> None:
        self.store = store
        self.categories: dict[int, Category] = {
            c.id: c for c in map(parse_category, store.raw_categories())}
        self.derive: DeriveContext = derive_context(cfg, home_target(cfg.shop, "shop"),
                                                    self.categories, now)

    def parse(self, raw: Mapping[str, Any], parent: Mapping[str, Any] | None) -> Product:
        return parse_product(raw, self.derive, parent)

    def walk(self, rows: Iterable[Row] | None = None) -> Iterator[Seen]:
        """Every product of `rows` (default: the whole store, by id) in order, with the
        choices made so far: a tracked variant is its parent's first when no tracked
        sibling came before it; a tracked product takes the next place of each list it
        belongs to (its categories and every category above them) until the list is full.
        """
        firsts: set[int] = set()
        listed: dict[int, int] = {}
        for raw, parent in self.store.iter_products() if rows is None else rows:
            product = self.parse(raw, parent)
            why = why_untracked(product)
            first_of, lists = None, []
            if not why:
                if product.parent_id is not None and product.parent_id not in firsts:
                    firsts.add(product.parent_id)
                    first_of = product.parent_id
                for category in with_ancestors(product.category_ids, self.categories):
                    count = listed.get(category, 0)
                    if count < LIST_LENGTH:
                        lists.append((category, count))
                        listed[category] = count + 1
            yield Seen(raw, product, why, first_of, tuple(lists))

    def first_variant(self, parent: Product, raw_parent: Mapping[str, Any]) -> Product | None:
        """The variant a parent's page names, or None when no variant is tracked."""
        rows = ((raw, raw_parent) for raw in self.store.children(parent.vendre_id))
        return next((s.product for s in self.walk(rows)
                     if s.first_variant_of == parent.vendre_id), None)

    def members(self, category_id: int) -> list[Product]:
        """The products of a category's list, in their places (stops once it is full)."""
        found: list[Product] = []
        for seen in self.walk():
            if any(c == category_id for c, _ in seen.lists):
                found.append(seen.product)
                if len(found) == LIST_LENGTH:
                    break
        return found


def with_ancestors(ids: Iterable[int], categories: Mapping[int, Category]) -> list[int]:
    """The categories and every category above them, each once, cycles cut."""
    found: dict[int, None] = {}
    for start in ids:
        current: int | None = start
        while current is not None and current not in found:
            found[current] = None
            known = categories.get(current)
            current = known.parent_id if known else None
    return list(found)
