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
