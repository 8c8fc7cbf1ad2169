"""`vendre-feeds sync`: the shop's catalogue and recent orders -> a new store snapshot.

Categories and products must be read completely or the sync fails and the
previous snapshot stays. Orders are optional: a missing, refused or oddly
shaped /orders endpoint is a warning, and the previously stored orders stay.

The whole sync has a deadline (`[vendre] sync_deadline_minutes`): when it
passes, the reader stops its requests and the sync fails with a line that says
so, whatever it was reading, orders included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from feeds.config import Config, api_key_from_env, require
from feeds.errors import FeedsError, VendreError, VendreUnavailable
from feeds.log import add_secret, mask
from feeds.pipeline.plan import derive_contexts, feed_specs
from feeds.progress import Progress
from feeds.storage.layout import Layout
from feeds.storage.lock import SNAPSHOT, held
from feeds.storage.store import SnapshotWriter, Store, SyncRecord
from feeds.vendre.parse import order_key, parse_category, parse_order
from feeds.vendre.prepared import Preparer, micros_now

__all__ = ["PageSource", "prepare_products", "run_sync", "sync_shop"]

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
    # One instant for the reader and the sync, so both agree on when it has passed.
    deadline = time.monotonic() + v.sync_deadline_minutes * 60
    with held(Layout(cfg.data_dir), SNAPSHOT), \
            VendreClient(api_url, key, page_size=v.page_size, concurrency=v.concurrency,
                         timeout_s=v.timeout_s, retries=v.retries, max_items=v.max_products,
                         max_response_bytes=v.max_response_mb * 1024 * 1024,
                         deadline=deadline, transport=transport,
                         on_page=lambda page: progress.total_known(page.total)) as client:
        return run_sync(cfg, client, Store.in_dir(cfg.data_dir), progress=progress,
                        now=now or datetime.now(UTC), deadline=deadline)


def run_sync(cfg: Config, client: PageSource, store: Store, *, progress: Progress,
             now: datetime, deadline: float | None = None) -> SyncRecord:
    """Read categories, products and (optionally) orders into one new snapshot.

    :param deadline: a `time.monotonic()` instant by which the sync must be done
        (None = no limit); it is checked after every page.
    :raises FeedsError: when categories or products cannot be read completely, or
        the deadline passed; the failure is recorded in the store (secrets masked)
        and the old snapshot is untouched.
    """
    warnings: list[str] = []
    clock = _Deadline(deadline, cfg.vendre.sync_deadline_minutes)
    try:
        with store.write_snapshot(now) as writer:
            _copy(client, "categories", writer.add_categories, progress, warnings, clock)
            prepare_products(cfg, writer, now)
            _copy(client, "products", writer.add_products, progress, warnings, clock)
            if cfg.vendre.orders:
                _sync_orders(cfg, client, writer, progress, warnings, now, clock)
            writer.warnings = warnings
    except FeedsError as exc:
        failure = clock.failure() if clock.passed() else exc
        # The reader scrubs the key from its messages; masking again costs nothing.
        store.record_failure(now, mask(str(failure)), [mask(w) for w in warnings])
        if failure is exc:
            raise
        raise failure from exc
    return store.syncs(limit=1)[0]


def prepare_products(cfg: Config, writer: SnapshotWriter, now: datetime) -> None:
    """Have `writer` store every product derived for each target the enabled channels
    read, next to its JSON, once the categories are staged (`feeds.vendre.prepared`:
    a build loads them instead of deriving each product again). The sync mostly waits
    for the shop meanwhile; a config that names no channel prepares nothing."""
    try:
        specs = feed_specs(cfg)
    except FeedsError as exc:  # the build will say the same, more usefully
        log.warning("products not prepared for the build: %s", exc)
        return
    categories = {c.id: c for c in map(parse_category, writer.staged_categories())}
    preparer = Preparer(list(derive_contexts(cfg, specs, categories, now).values()))
    if preparer:
        writer.prepare_with(preparer.keys, preparer.prepare, micros_now(now))


class _Deadline:
    """The sync's deadline, and the one line that says it passed."""

    def __init__(self, at: float | None, minutes: float) -> None:
        self.at = at
        self.minutes = minutes

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def failure(self) -> VendreUnavailable:
        return VendreUnavailable(
            f"the sync did not finish within {self.minutes:g} minutes "
            "(vendre.sync_deadline_minutes); stopped, the previous snapshot stays")

    def check(self) -> None:
        if self.passed():
            raise self.failure()


def _pages(client: PageSource, resource: str, clock: _Deadline, **kwargs: Any
           ) -> Iterator[list[dict]]:
    """The client's pages, checked against the deadline after each; the client's
    iterator is closed however this ends, so its threads stop now, not at GC."""
    pages = client.iter_pages(resource, **kwargs)
    try:
        for page in pages:
            yield page
            clock.check()
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _copy(client: PageSource, resource: str, write: Callable[[list[dict]], int],
          progress: Progress, warnings: list[str], clock: _Deadline) -> None:
    step = progress.step(resource)
    written = skipped = 0
    with closing(_pages(client, resource, clock)) as pages:
        for page in pages:
            good = [item for item in page if _has_int_id(item)]
            skipped += len(page) - len(good)
            written += write(good)
            step.advance(len(page), pages=1)
    if skipped:
        warnings.append(f"{resource}: {skipped} objects without a numeric id were skipped")
    step.close(f"{written} written")


def _has_int_id(item: Any) -> bool:
    """An object whose id is an integer the store can hold (signed 64 bits)."""
    if not isinstance(item, Mapping):
        return False
    value = item.get("id")
    return isinstance(value, int) and not isinstance(value, bool) and \
        -2 ** 63 <= value < 2 ** 63


def _sync_orders(cfg: Config, client: PageSource, writer: SnapshotWriter, progress: Progress,
                 warnings: list[str], now: datetime, clock: _Deadline) -> None:
    """Stage the orders of the last `orders_days` days; any failure becomes a warning,
    except the sync's deadline passing (that fails the whole sync)."""
    step = progress.step("orders")
    since = now - timedelta(days=cfg.vendre.orders_days)
    writer.orders_since = since
    kept: list[tuple[str, datetime | None, Mapping[str, Any]]] = []
    stats = {"read": 0, "no_id": 0, "undated": 0}
    try:
        with closing(_pages(client, "orders", clock, key=order_key)) as pages:
            for page in pages:
                step.advance(len(page), pages=1)
                kept += _recent_orders(page, since, stats)
    except VendreError as exc:
        if clock.passed():
            raise
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
