"""A catalogue that did not change builds the same bytes: feeds, their .gz twins, the
tracking index's shards and loader.js. Object storage relies on it (a round with no
change uploads nothing but the static status page)."""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path

from feeds.demo.catalog import demo_categories, demo_orders, demo_products
from feeds.events.index import read_index
from feeds.formats.templates import make_env
from feeds.jobs.refresh import build_all
from feeds.progress import make_progress
from feeds.server.tracking_routes import render_loader
from feeds.storage.layout import Layout
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill


def _outputs(cfg) -> dict[str, bytes]:
    layout = Layout(cfg.data_dir)
    found = {f"feeds/{p.name}": p.read_bytes() for p in layout.feeds.iterdir()
             if not p.name.startswith(".")}
    state = read_index(layout)
    assert state is not None
    for shard in (layout.tracking / "index" / state.version).iterdir():
        found[f"index/{shard.name}"] = shard.read_bytes()
    found["loader.js"] = render_loader(cfg, make_env(), state,
                                       "https://cdn.example").encode()
    return found


def test_a_build_an_hour_later_of_the_same_catalogue_writes_the_same_bytes(tmp_path: Path):
    cfg = demo_cfg(tmp_path, tracking={"site_key": "demo-site"})
    catalogue = demo_products(NOW), demo_categories(NOW), demo_orders(NOW)
    fill(cfg, NOW, *catalogue)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    first = _outputs(cfg)

    later = NOW + timedelta(hours=1)
    fill(cfg, later, *catalogue)
    build_all(cfg, now=later, progress=make_progress(quiet=True))
    second = _outputs(cfg)

    assert {k for k in first if k.endswith(".gz")}, "the demo publishes .gz twins"
    assert sorted(first) == sorted(second)
    changed = [k for k in first if first[k] != second[k]]
    assert changed == []


def test_the_gz_twin_has_no_name_and_no_time_in_its_header(tmp_path: Path):
    """RFC 1952: MTIME 0 means none; FLG.FNAME unset means no original name."""
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    twin = (cfg.data_dir / "feeds" / "google.xml.gz").read_bytes()
    assert twin[:3] == b"\x1f\x8b\x08"
    assert twin[3] & 0x08 == 0  # FLG.FNAME
    assert twin[4:8] == b"\0\0\0\0"  # MTIME
    assert gzip.decompress(twin) == (cfg.data_dir / "feeds" / "google.xml").read_bytes()


def test_an_order_leaves_the_bestseller_window_at_midnight_not_at_a_build():
    """Bestsellers count whole days: builds at 12:00 and at 15:00 label the same products,
    though an order 30 days and 2 hours old crosses a sliding window between them."""
    from decimal import Decimal

    from feeds.core.bestsellers import bestseller_labels
    from feeds.core.model import Order, OrderLine

    def order(product: int, when):
        line = OrderLine(product, "", "", 1, Decimal(10), Decimal(25))
        return Order(str(product), when, "SEK", (line,), None, None, None)

    orders = [order(1, NOW - timedelta(days=30, hours=2)), order(2, NOW - timedelta(days=2))]

    def labels(now):
        return bestseller_labels(orders, now=now, window_days=30, top_percent=100,
                                 label="custom_label_0", value="bestseller",
                                 feed_id_of=lambda line: str(line.product_id))

    assert set(labels(NOW)) == set(labels(NOW + timedelta(hours=3))) == {"1", "2"}
    assert set(labels(NOW + timedelta(days=1))) == {"2"}  # gone after midnight
