"""The sync writes a whole snapshot or nothing (unit level, with an in-memory page source)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest

from feeds.demo.catalog import demo_orders
from feeds.errors import IncompleteSync, VendreResponseError
from feeds.jobs.sync import run_sync
from feeds.progress import make_progress
from feeds.storage.store import Store
from tests.conftest import NOW, make_config
from tests.feedkit import demo_cfg, fill


class Pages:
    """A PageSource serving fixed lists; `fail` maps resource -> exception to raise midway."""

    def __init__(self, data, fail=None):
        self.data, self.fail = data, fail or {}

    def iter_pages(self, resource, *, key=None):
        items = self.data.get(resource, [])
        for start in range(0, max(len(items), 1), 2):
            if resource in self.fail and start >= 2:
                raise self.fail[resource]
            yield items[start:start + 2]


def products(n, modified=1):
    return [{"id": i, "article_number": f"A-{i}", "date_modified": modified, "parent": 0}
            for i in range(1, n + 1)]


def order(oid, days_ago):
    return {"id": oid, "date_added": int((NOW - timedelta(days=days_ago)).timestamp()),
            "products": [{"product_id": 1, "quantity": 1}]}


def quiet():
    return make_progress(quiet=True)


def test_sync_writes_snapshot_and_diff(config):
    store = Store.in_dir(config.data_dir)
    first = run_sync(config, Pages({"products": products(5), "categories": [{"id": 1}]}),
                     store, progress=quiet(), now=NOW)
    assert (first.products, first.categories, first.added) == (5, 1, 5)
    changed = products(6)
    changed[1]["date_modified"] = 2
    second = run_sync(config, Pages({"products": changed[1:], "categories": []}), store,
                      progress=quiet(), now=NOW)
    assert (second.added, second.removed, second.changed) == (1, 1, 1)
    assert store.counts()["products"] == 5


def test_failed_sync_keeps_previous_snapshot(config):
    store = Store.in_dir(config.data_dir)
    run_sync(config, Pages({"products": products(5)}), store, progress=quiet(), now=NOW)
    before = list(store.iter_products())
    broken = Pages({"products": products(9)},
                   fail={"products": VendreResponseError("page 3 broke")})
    with pytest.raises(VendreResponseError):
        run_sync(config, broken, store, progress=quiet(), now=NOW)
    assert list(store.iter_products()) == before
    last = store.syncs(limit=1)[0]
    assert not last.ok and last.error == "page 3 broke"
    assert store.last_good_sync().products == 5


def test_orders_window_and_failure_is_a_warning(config):
    store = Store.in_dir(config.data_dir)
    data = {"products": products(2), "orders": [order(1, 5), order(2, 61), order(3, 59)]}
    record = run_sync(config, Pages(data), store, progress=quiet(), now=NOW)
    assert record.orders == 2 and not record.warnings
    failing = Pages({"products": products(2), "orders": [order(9, 1)] * 4},
                    fail={"orders": IncompleteSync("orders: read 2 of 4")})
    record = run_sync(config, failing, store, progress=quiet(), now=NOW)
    assert record.ok and record.orders == 2          # the previous orders are kept
    later = NOW + timedelta(days=2)                   # ... but only within the window
    record = run_sync(config, failing, store, progress=quiet(), now=later)
    assert record.orders == 1
    assert "orders: read 2 of 4" in record.warnings[0]


def test_orders_disabled(tmp_path):

    cfg = make_config(tmp_path, vendre={"orders": False})
    record = run_sync(cfg, Pages({"products": products(1), "orders": [order(1, 1)]}),
                      Store.in_dir(cfg.data_dir), progress=quiet(), now=NOW)
    assert record.orders == 0


def test_raw_json_is_kept_exactly(config):
    odd = {"id": 1, "article_number": "A-1", "parent": 0, "huge": 2**70, "text": "å\u2028"}
    store = Store.in_dir(config.data_dir)
    run_sync(config, Pages({"products": [odd]}), store, progress=quiet(), now=NOW)
    raw, parent = store.product(1)
    assert raw == odd and parent is None


def test_values_sqlite_cannot_hold_are_kept_or_skipped_not_fatal(tmp_path):
    """A parent id beyond 64 bits, a lone surrogate: the sync goes on (the raw JSON keeps
    what it can, as escapes), and an id the store cannot hold is a skipped object."""
    from feeds.jobs.sync import run_sync
    from tests.feedkit import Pages

    cfg = make_config(tmp_path)
    products = [{"id": 1, "parent": 2 ** 70, "date_modified": 2 ** 64,
                 "article_number": "A\ud800", "name": {"sv": "Namn \udfff"}},
                {"id": 2 ** 64, "name": {"sv": "för stort id"}}, {"id": 3}]
    orders = [{"id": "O\ud800", "date_added": "2026-11-27", "products": []}]
    store = Store.in_dir(cfg.data_dir)
    record = run_sync(cfg, Pages({"products": products, "orders": orders}), store,
                      progress=quiet(), now=NOW)
    assert record.ok and record.products == 2 and record.orders == 1
    assert any("without a numeric id" in w for w in record.warnings)
    raw, _parent = store.product(1)
    assert raw["name"]["sv"] == "Namn \udfff" and raw["parent"] == 2 ** 70


def test_reads_inside_reading_share_one_connection_of_their_own_thread(tmp_path, monkeypatch):
    """`Store.reading()` serves the block's reads from one connection (a purchases run
    looks products up one by one); a stream of bytes, which changes its connection's
    settings, and another thread each still open a connection of their own."""
    import threading

    store = Store(tmp_path / "catalog.sqlite3")
    with store.write_snapshot(NOW) as writer:
        writer.add_products([{"id": 1, "article_number": "A-1"}, {"id": 2, "parent": 1}])
    opened = []
    connect = Store._connect
    monkeypatch.setattr(Store, "_connect", lambda self: opened.append(1) or connect(self))
    with store.reading():
        rows = store.iter_product_rows()
        assert next(rows)[0].startswith(b"{")                  # bytes, as asked
        assert store.duplicate_article_numbers() == set()
        assert store.product(2)[1]["id"] == 1
        assert store.article_numbers([1]) == {1: "A-1"}          # text, not bytes
        rows.close()
        assert store.product_by_article("nope") is None
        other = []
        thread = threading.Thread(target=lambda: other.append(store.product(1)))
        thread.start()
        thread.join()
        assert other[0][0]["id"] == 1
    assert len(opened) == 3  # the held one, the stream's and the other thread's
    store.product(1)
    assert len(opened) == 4  # outside the block: a connection per read again


def test_a_new_snapshot_leaves_no_trace_of_the_orders_it_replaced(tmp_path):
    # Orders carry customers' data: the pages the old ones held are overwritten, whatever
    # the SQLite library's default (Debian's overwrites everything, upstream's nothing).
    cfg = demo_cfg(tmp_path)
    orders = sorted(demo_orders(NOW), key=lambda o: o.get("date_added", 0), reverse=True)
    secret = "kund-som-slutat@example.com"
    orders[0] = {**orders[0], "customer": {**orders[0]["customer"], "email": secret}}
    store = fill(cfg, NOW, orders=orders)
    assert secret.encode() in store_bytes(store)  # the search would find it
    fill(cfg, NOW, orders=orders[1:])
    assert secret.encode() not in store_bytes(store)


def store_bytes(store: Store) -> bytes:
    with closing(sqlite3.connect(store.path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(p.read_bytes() for p in store.path.parent.glob("catalog.sqlite3*"))
