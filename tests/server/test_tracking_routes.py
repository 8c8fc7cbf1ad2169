"""`/t/<site_key>/loader.js` and `/t/<site_key>/index/<shard>.json` through Flask's client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from feeds.config import Config
from feeds.events.index import read_index, shard_of
from feeds.formats.templates import make_env
from feeds.jobs.refresh import build_all
from feeds.progress import make_progress
from feeds.server import create_app
from feeds.server.tracking_routes import (
    IMMUTABLE,
    JS_TYPE,
    LOADER_MAX_AGE,
    allowed_origins,
    consent_code,
    origin_of,
)
from feeds.storage.layout import Layout
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill
from tests.server.conftest import BufferedClient

SHOP = "https://demo.vendre-feeds.test"


def client_for(cfg: Config) -> FlaskClient:
    app = create_app(cfg)
    app.test_client_class = BufferedClient
    return app.test_client()


@pytest.fixture
def built(tmp_path: Path) -> Config:
    """The demo shop synced and built (feeds and index)."""
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    return cfg


@pytest.fixture
def client(built: Config) -> FlaskClient:
    return client_for(built)


def shard_url(cfg: Config, key: str = "i:1001", version: str | None = None) -> str:
    state = read_index(Layout(cfg.data_dir))
    v = state.version if version is None else version
    return f"/t/demo/index/{shard_of(key, state.shards)}.json" + (f"?v={v}" if v else "")


# ---------------------------------------------------------------- 404s


@pytest.mark.parametrize("path", [
    "/t/wrong/loader.js", "/t/demo2/loader.js", "/t/dem/loader.js", "/t/DEMO/loader.js",
    "/t/wrong/index/0.json", "/t/demo/index/999.json", "/t/demo/index/x.json",
    "/t/demo/index/-1.json", "/t/demo/index/0.js", "/t/demo/index/../index.json",
    "/t/demo/index.json", "/t/demo/",
])
def test_wrong_key_or_unknown_file_is_a_plain_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_data(as_text=True) == "404 Not Found\n"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_site_key_means_no_loader(tmp_path):
    client = client_for(demo_cfg(tmp_path, tracking={"site_key": ""}))
    assert client.get("/t//loader.js").status_code == 404
    assert client.get("/t/demo/loader.js").status_code == 404


def test_missing_index_is_a_404_but_the_loader_still_loads(tmp_path):
    client = client_for(demo_cfg(tmp_path))
    assert client.get("/t/demo/index/0.json").status_code == 404
    response = client.get("/t/demo/loader.js")
    assert response.status_code == 200
    assert '"version":"","shards":0' in response.get_data(as_text=True)


# ---------------------------------------------------------------- loader.js


def test_loader_is_javascript_with_the_shops_settings(client, built):
    response = client.get("/t/demo/loader.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JS_TYPE
    assert response.headers["Cache-Control"] == f"public, max-age={LOADER_MAX_AGE}"
    text = response.get_data(as_text=True)
    state = read_index(Layout(built.data_dir))
    for part in (f'"version":"{state.version}"', f'"shards":{state.shards}',
                 '"gtm":"GTM-DEMO123"', '"ga4":"G-DEMO12345"', '"meta":"123456789012345"',
                 '"criteo":"12345"', '"siteKey":"demo"', '"consentMode":true'):
        assert part in text
    # The consent defaults are consent.html's own script, included verbatim.
    assert str(consent_code(make_env())) in text
    assert "<script" not in text.replace("<script>alert", "")


def test_loader_etag_and_304(client):
    first = client.get("/t/demo/loader.js")
    etag = first.headers["ETag"]
    again = client.get("/t/demo/loader.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.head("/t/demo/loader.js").headers["ETag"] == etag


def test_a_rebuild_changes_the_loader(client, built):
    before = client.get("/t/demo/loader.js").headers["ETag"]
    raw = _demo_with_price(1001, 300)
    fill(built, NOW, products=raw)
    build_all(built, now=NOW, progress=make_progress(quiet=True))
    after = client.get("/t/demo/loader.js", headers={"If-None-Match": before})
    assert after.status_code == 200 and after.headers["ETag"] != before


def test_settings_are_javascript_data_only(tmp_path):
    nasty = "</script><script>alert(1)</script>'\u2028"
    cfg = demo_cfg(tmp_path, tracking={"buy_button_selector": nasty, "cart_path": nasty})
    text = client_for(cfg).get("/t/demo/loader.js").get_data(as_text=True)
    assert "</script>" not in text and "\u2028" not in text
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in text


# ---------------------------------------------------------------- index shards


def _get(client: FlaskClient, url: str, origin: str | None = SHOP, **headers: str) -> Any:
    if origin:
        headers["Origin"] = origin
    return client.get(url, headers=headers)


def test_shard_is_json_cached_for_good_with_the_current_version(client, built):
    response = _get(client, shard_url(built))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert json.loads(response.data)["i:1001"]["id"] == "1001"
    etag = response.headers["ETag"]
    again = _get(client, shard_url(built), **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["Access-Control-Allow-Origin"] == SHOP


def test_shard_without_or_with_an_unknown_version_is_revalidated(client, built):
    for url in (shard_url(built, version=""), shard_url(built, version="0" * 16)):
        response = _get(client, url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, no-cache"
        assert "ETag" in response.headers


def test_the_previous_version_stays_available(client, built):
    old = read_index(Layout(built.data_dir))
    old_body = _get(client, shard_url(built)).data
    fill(built, NOW, products=_demo_with_price(1001, 300))
    build_all(built, now=NOW, progress=make_progress(quiet=True))
    new = read_index(Layout(built.data_dir))
    assert new.version != old.version and new.previous == old.version
    response = _get(client, shard_url(built, version=old.version))
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert response.data == old_body  # the old loader gets the old shard, whole
    assert json.loads(_get(client, shard_url(built)).data)["i:1001"]["price"] == 375.0


def test_cors_only_for_the_shops_origin(client, built):
    url = shard_url(built)
    allowed = _get(client, url)
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in allowed.headers["Vary"]
    for origin in ("https://evil.test", "http://demo.vendre-feeds.test", None):
        response = _get(client, url, origin=origin)
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Origin" in response.headers["Vary"]


def test_cors_for_configured_origins(tmp_path):
    cfg = demo_cfg(tmp_path, tracking={"allowed_origins": ["https://www.shop.se/",
                                                           "http://127.0.0.1:8081"]})
    fill(cfg, NOW)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    client = client_for(cfg)
    for origin, allowed in (("https://www.shop.se", True), ("HTTPS://WWW.SHOP.SE:443", True),
                            ("http://127.0.0.1:8081", True), (SHOP, False),
                            ("https://www.shop.se.evil.test", False)):
        response = _get(client, shard_url(cfg), origin=origin)
        assert ("Access-Control-Allow-Origin" in response.headers) is allowed, origin


def test_origin_normalisation():
    assert origin_of("https://Shop.se/") == "https://shop.se"
    assert origin_of("https://shop.se:443/x") == "https://shop.se"
    assert origin_of("http://shop.se:8080") == "http://shop.se:8080"
    assert origin_of("ftp://shop.se") == origin_of("null") == origin_of("") == ""
    assert origin_of("http://[::1]:8000") == "http://[::1]:8000"


def test_default_origins_are_the_shops_base_url_and_its_www_twin(tmp_path):
    """A shop is reached with and without www.: both read the index unless
    `[tracking] allowed_origins` names the origins itself."""
    assert allowed_origins(demo_cfg(tmp_path)) == \
        frozenset({SHOP, "https://www.demo.vendre-feeds.test"})
    www = demo_cfg(tmp_path, shop={"base_url": "https://www.shop.se/sv/"})
    assert allowed_origins(www) == frozenset({"https://www.shop.se", "https://shop.se"})
    port = demo_cfg(tmp_path, shop={"base_url": "http://shop.example:8080"})
    assert allowed_origins(port) == frozenset({"http://shop.example:8080",
                                               "http://www.shop.example:8080"})
    for local in ("http://127.0.0.1:8081", "http://localhost:8081", "http://[::1]:8081"):
        assert allowed_origins(demo_cfg(tmp_path, shop={"base_url": local})) == \
            frozenset({local})
    listed = demo_cfg(tmp_path, tracking={"allowed_origins": ["https://staging.shop.se"]})
    assert allowed_origins(listed) == frozenset({"https://staging.shop.se"})


def test_the_www_twin_reads_the_index_and_a_stranger_does_not(tmp_path):
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    client = client_for(cfg)
    for origin, allowed in ((SHOP, True), ("https://www.demo.vendre-feeds.test", True),
                            ("https://staging.demo.vendre-feeds.test", False),
                            ("https://www.www.demo.vendre-feeds.test", False)):
        response = _get(client, shard_url(cfg), origin=origin)
        assert ("Access-Control-Allow-Origin" in response.headers) is allowed, origin


def _demo_with_price(product_id: int, net: float) -> list[dict]:
    from feeds.demo.catalog import demo_products

    products = demo_products(NOW)
    next(p for p in products if p["id"] == product_id)["price"] = net
    return products
