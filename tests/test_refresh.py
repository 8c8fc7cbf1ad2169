"""A failed refresh keeps the last good feeds (the real sync and build, a failing shop)."""

from __future__ import annotations

import httpx
import pytest

from feeds.errors import FeedsError
from feeds.jobs.refresh import build_all, run_refresh
from feeds.progress import make_progress
from feeds.storage.store import Store
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill


def broken_shop(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html>maintenance</html>")


def test_failed_refresh_keeps_the_last_good_feeds(tmp_path):
    cfg = demo_cfg(tmp_path, vendre={"retries": 0})
    fill(cfg, NOW)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    feeds = {p.name: p.read_bytes() for p in (cfg.data_dir / "feeds").iterdir()}
    index = (cfg.data_dir / "tracking" / "index.json").read_bytes()

    with pytest.raises(FeedsError, match="not the .*envelope"):
        run_refresh(cfg, transport=httpx.MockTransport(broken_shop), api_key="k" * 20, now=NOW)

    assert {p.name: p.read_bytes() for p in (cfg.data_dir / "feeds").iterdir()} == feeds
    assert (cfg.data_dir / "tracking" / "index.json").read_bytes() == index
    last = Store.in_dir(cfg.data_dir).syncs(limit=1)[0]
    assert not last.ok and "envelope" in last.error
