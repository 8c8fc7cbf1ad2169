"""Helpers for feed tests: stores filled from the demo shop or the real fixture."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from feeds.config import Config, load_config
from feeds.demo.catalog import demo_categories, demo_orders, demo_products
from feeds.demo.run import demo_overrides
from feeds.jobs.sync import run_sync
from feeds.progress import make_progress
from feeds.storage.store import Store

G = "http://base.google.com/ns/1.0"
NS = {"g": G}


class Pages:
    """A page source serving fixed lists, two items a page."""

    def __init__(self, data: dict[str, list[dict]]) -> None:
        self.data = data

    def iter_pages(self, resource: str, *, key: Any = None):
        items = self.data.get(resource, [])
        for start in range(0, max(len(items), 1), 7):
            yield items[start:start + 7]


def demo_cfg(tmp_path: Path, **extra: Any) -> Config:
    overrides = demo_overrides(tmp_path / "data")
    for key, value in extra.items():
        overrides[key] = {**overrides.get(key, {}), **value} if isinstance(value, dict) \
            else value
    return load_config(env={}, overrides=overrides, use_file=False)


def fill(cfg: Config, now: datetime, products: list[dict] | None = None,
         categories: list[dict] | None = None, orders: list[dict] | None = None) -> Store:
    """Sync the given objects (default: the demo shop at `now`) into cfg's store."""
    data = {"products": demo_products(now) if products is None else products,
            "categories": demo_categories(now) if categories is None else categories,
            "orders": demo_orders(now) if orders is None else orders}
    store = Store.in_dir(cfg.data_dir)
    run_sync(cfg, Pages(data), store, progress=make_progress(quiet=True), now=now)
    return store
