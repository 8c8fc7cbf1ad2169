"""Bestseller labels: rank products by units sold in the orders in the store.

The top `top_percent` of the products that sold at least once in the last
`window_days` days, counted in whole days (from 00:00 UTC `window_days` days
ago, so an order leaves the window at a midnight, not at any build: an unchanged
shop builds the same feeds all day), ties at the cut included, get
`label = value`, e.g.
`custom_label_0 = bestseller`, so a shop can bid on what sells. Ranking among
the products that sold (not the whole catalogue) keeps the label meaningful when
most products sell nothing in the window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from feeds.core.model import Order, OrderLine

__all__ = ["bestseller_labels", "units_sold"]


def units_sold(orders: Iterable[Order], since: datetime,
               feed_id_of: Callable[[OrderLine], str | None]) -> Counter[str]:
    """Units sold per feed id in orders dated at or after `since` (undated ones are skipped)."""
    units: Counter[str] = Counter()
    for order in orders:
        if order.date is None or order.date < since:
            continue
        for line in order.lines:
            item_id = feed_id_of(line)
            if item_id and line.quantity > 0:
                units[item_id] += line.quantity
    return units


def bestseller_labels(orders: Iterable[Order], *, now: datetime, window_days: int,
                      top_percent: int, label: str, value: str,
                      feed_id_of: Callable[[OrderLine], str | None]
                      ) -> dict[str, Mapping[str, str]]:
    """feed id -> {label: value} for the bestsellers; empty when disabled or nothing sold."""
    if not value or top_percent <= 0:
        return {}
    start = (now - timedelta(days=window_days)).astimezone(UTC)
    units = units_sold(orders, datetime(start.year, start.month, start.day, tzinfo=UTC),
                       feed_id_of)
    if not units:
        return {}
    ranked = units.most_common()
    cut = max(1, math.ceil(len(ranked) * top_percent / 100))
    threshold = ranked[cut - 1][1]
    return {item_id: {label: value} for item_id, sold in ranked if sold >= threshold}
