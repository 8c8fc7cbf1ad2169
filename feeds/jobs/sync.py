"""`vendre-feeds sync`: the shop's catalogue and recent orders -> a new store snapshot.

Categories and products must be read completely or the sync fails and the
previous snapshot stays. Orders are optional: a missing, refused or oddly
shaped /orders endpoint is a warning, and the previously stored orders stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from feeds.config import Config, api_key_from_env, require
from feeds.errors import FeedsError, VendreError
from feeds.log import add_secret
from feeds.progress import Progress
from feeds.storage.layout import Layout
from feeds.storage.lock import hold
from feeds.storage.store import SnapshotWriter, Store, SyncRecord
from feeds.vendre.parse import order_key, parse_order

__all__ = ["PageSource", "run_sync", "sync_shop"]

log = logging.getLogger("feeds.jobs.sync")


class PageSource(Protocol):
    """What the sync needs of a reader (`feeds.vendre.client.VendreClient` is one)."""

    def iter_pages(self, resource: str, *,
                   key: Callable[[dict[str, Any]], object] = ...) -> Iterable[list[dict]]: ...


def sync_shop(cfg: Config, progress: Progress, *, transport: Any = None,
              api_key: str | None = None, now: datetime | None = None) -> SyncRecord:
    """One sync of the configured shop: the reader, the store and the sync, wired together.

    Holds the data dir's "snapshot" lock, so a sync never overlaps another sync or a
    build (a build must read one snapshot from start to end).

    :param transport: an httpx transport to use instead of the network (the demo).
    :param api_key: the key; by default read from the environment variable.
    """
    from feeds.vendre.client import VendreClient

    api_url = require(cfg.vendre.api_url, "vendre.api_url", "set it to https://<shop>/API/1")
    key = api_key if api_key is not None else api_key_from_env(cfg)
    add_secret(key)
    v = cfg.vendre
    with hold(Layout(cfg.data_dir).lock("snapshot"), "sync or build"), \
            VendreClient(api_url, key, page_size=v.page_size, concurrency=v.concurrency,
                         timeout_s=v.timeout_s, retries=v.retries, transport=transport,
                         on_page=lambda page: progress.total_known(page.total)) as client:
        return run_sync(cfg, client, Store.in_dir(cfg.data_dir), progress=progress,
                        now=now or datetime.now(UTC))


def run_sync(cfg: Config, client: PageSource, store: Store, *, progress: Progress,
             now: datetime) -> SyncRecord:
    """Read categories, products and (optionally) orders into one new snapshot.

    :raises FeedsError: when categories or products cannot be read completely;
        the failure is recorded in the store and the old snapshot is untouched.
    """
    warnings: list[str] = []
    try:
        with store.write_snapshot(now) as writer:
            _copy(client, "categories", writer.add_categories, progress, warnings)
            _copy(client, "products", writer.add_products, progress, warnings)
            if cfg.vendre.orders:
                _sync_orders(cfg, client, writer, progress, warnings, now)
            writer.warnings = warnings
    except FeedsError as exc:
        store.record_failure(now, str(exc), warnings)
        raise
    return store.syncs(limit=1)[0]


def _copy(client: PageSource, resource: str, write: Callable[[list[dict]], int],
          progress: Progress, warnings: list[str]) -> None:
    step = progress.step(resource)
    written = skipped = 0
    for page in client.iter_pages(resource):
        good = [item for item in page if _has_int_id(item)]
        skipped += len(page) - len(good)
        written += write(good)
        step.advance(len(page), pages=1)
    if skipped:
        warnings.append(f"{resource}: {skipped} objects without a numeric id were skipped")
    step.close(f"{written} written")


def _has_int_id(item: Any) -> bool:
    return isinstance(item, Mapping) and isinstance(item.get("id"), int) \
        and not isinstance(item.get("id"), bool)


def _sync_orders(cfg: Config, client: PageSource, writer: SnapshotWriter, progress: Progress,
                 warnings: list[str], now: datetime) -> None:
    """Stage the orders of the last `orders_days` days; any failure becomes a warning."""
    step = progress.step("orders")
    since = now - timedelta(days=cfg.vendre.orders_days)
    writer.orders_since = since
    kept: list[tuple[str, datetime | None, Mapping[str, Any]]] = []
    stats = {"read": 0, "no_id": 0, "undated": 0}
    try:
        for page in client.iter_pages("orders", key=order_key):
            step.advance(len(page), pages=1)
            kept += _recent_orders(page, since, stats)
    except VendreError as exc:
        message = f"orders: {exc}; the catalogue was synced, previous orders kept"
        warnings.append(message)
        log.warning("%s", message)
        step.close("failed (warning)")
        return
    writer.add_orders(kept)
    if stats["no_id"]:
        warnings.append(f"orders: {stats['no_id']} orders without an id were skipped")
    if stats["undated"]:
        warnings.append(f"orders: {stats['undated']} orders without a readable date were kept "
                        "but are left out of bestseller labels")
    step.close(f"{len(kept)} of the last {cfg.vendre.orders_days} days kept "
               f"({stats['read']} read)")


def _recent_orders(page: list[dict], since: datetime, stats: dict[str, int]
                   ) -> list[tuple[str, datetime | None, Mapping[str, Any]]]:
    kept = []
    for raw in page:
        stats["read"] += 1
        order = parse_order(raw) if isinstance(raw, Mapping) else None
        if order is None:
            stats["no_id"] += 1
        elif order.date is None:
            stats["undated"] += 1
            kept.append((order.id, None, raw))
        elif order.date >= since:
            kept.append((order.id, order.date, raw))
    return kept
