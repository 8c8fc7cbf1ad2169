"""A channel switched off stops being served; its files stay on disk."""

from __future__ import annotations

from feeds.jobs.refresh import build_all
from feeds.progress import make_progress
from feeds.server.factory import create_app
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill


def status(client, url: str) -> int:
    response = client.get(url)
    response.close()    # the feed is streamed from an open file
    return response.status_code


def test_disabled_channel_is_withdrawn(tmp_path):
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    key = cfg.server.access_key
    assert status(create_app(cfg).test_client(), f"/feeds/{key}/meta.xml") == 200

    off = demo_cfg(tmp_path, channels={"meta": {"enabled": False}})
    build_all(off, now=NOW, progress=make_progress(quiet=True))
    client = create_app(off).test_client()
    assert status(client, f"/feeds/{key}/meta.xml") == 404
    assert status(client, f"/feeds/{key}/google.xml") == 200
    assert "meta" not in client.get("/health").get_json()["feeds"]
    assert (off.data_dir / "feeds" / "meta.xml").is_file()      # nothing deleted


def test_recorded_ids_follow_the_published_feed(tmp_path):
    """The ids events may name change only when a feed is published."""
    from feeds.demo.catalog import demo_products
    from feeds.pipeline.run import build_feeds
    from feeds.storage.feed_ids import FeedIds
    from feeds.storage.layout import Layout

    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build_feeds(cfg, codes=["google"], now=NOW)
    ids = FeedIds(Layout(cfg.data_dir)).in_all(["google"])
    before = set(ids.ids())
    assert "1001" in before and len(before) == 30

    fill(cfg, NOW, products=demo_products(NOW)[:12])      # the drop guard refuses this
    results = {r.stem: r for r in build_feeds(cfg, codes=["google"], now=NOW)}
    assert not results["google"].published
    assert set(FeedIds(Layout(cfg.data_dir)).in_all(["google"]).ids()) == before

    build_feeds(cfg, codes=["google"], now=NOW, force=True)
    after = set(FeedIds(Layout(cfg.data_dir)).in_all(["google"]).ids())
    assert after < before and "1030" not in after
