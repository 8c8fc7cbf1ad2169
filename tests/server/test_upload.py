"""The upload stage (feeds.server.upload) after a real build of the demo shop, against
moto's S3 server on loopback: keys, headers and bytes, a round with no change, what
goes when the config stops building it, the static status page, and a refresh whose
storage fails."""

from __future__ import annotations

import gzip
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import html

from feeds.demo.catalog import demo_categories, demo_orders, demo_products
from feeds.demo.run import DEMO_ACCESS_KEY
from feeds.errors import ConfigError, UploadError
from feeds.events.index import read_index
from feeds.jobs.refresh import build_all
from feeds.progress import make_progress
from feeds.server.schedule import run_refresh_once
from feeds.server.upload import Uploader, make_client
from feeds.storage import refresh_state
from feeds.storage.layout import Layout
from tests.conftest import BUCKET, NOW
from tests.fakes.s3 import Fault
from tests.feedkit import demo_cfg, fill

CDN = "https://cdn.example"
KEY = DEMO_ACCESS_KEY
CATALOGUE = (demo_products(NOW), demo_categories(NOW), demo_orders(NOW))


def shop(tmp_path: Path, s3, **publish: Any):
    """The demo shop, built once, publishing to the fake's bucket under `shop/`."""
    cfg = demo_cfg(tmp_path, publish={"target": f"s3://{BUCKET}/shop",
                                      "endpoint_url": s3.endpoint_url, "public_url": CDN,
                                      "retries": 1, **publish})
    fill(cfg, NOW, *CATALOGUE)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    return cfg


def stored(s3) -> dict[str, dict[str, Any]]:
    """Every object under shop/: key -> head_object's answer (less the prefix)."""
    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="shop/")
            .get("Contents", [])]
    return {k.removeprefix("shop/"): client.head_object(Bucket=BUCKET, Key=k) for k in keys}


def body(s3, key: str) -> bytes:
    return s3.client().get_object(Bucket=BUCKET, Key=f"shop/{key}")["Body"].read()


def url(s3, key: str) -> str:
    return f"{s3.endpoint_url}/{BUCKET}/shop/{key}"


# ---------------------------------------------------------------- what goes up


def test_every_published_file_goes_up_under_the_path_serve_uses(tmp_path, s3):
    cfg = shop(tmp_path, s3)
    layout = Layout(cfg.data_dir)
    synced = Uploader(cfg).files()

    objects = stored(s3)
    published = layout.published()
    assert {f.file for f in published} >= {"google.xml", "google-no.xml", "meta.xml",
                                           "criteo.xml", "cdon.json", "amazon.json"}
    state = read_index(layout)
    expected = {f"feeds/{KEY}/{f.file}" for f in published} \
        | {f"feeds/{KEY}/{f.file}.gz" for f in published} \
        | {f"t/demo/index/{n}.json" for n in range(state.shards)} | {"t/demo/loader.js"}
    assert set(objects) == expected
    assert sorted(synced.uploaded) == sorted(expected)
    for feed in published:  # byte for byte the local files
        key = f"feeds/{KEY}/{feed.file}"
        assert body(s3, key) == (layout.feeds / feed.file).read_bytes()
        assert objects[key]["ContentType"] == feed.content_type
        assert objects[key]["CacheControl"] == "public, max-age=300"
        assert "ContentEncoding" not in objects[key]
        assert objects[key + ".gz"]["ContentType"] == "application/gzip"
        assert gzip.decompress(body(s3, key + ".gz")) == body(s3, key)
    assert objects[f"feeds/{KEY}/google.xml"]["ContentType"] == "application/xml; charset=utf-8"
    assert objects[f"feeds/{KEY}/cdon.json"]["ContentType"] == "application/json; charset=utf-8"
    shard = "t/demo/index/0.json"
    assert body(s3, shard) == (layout.tracking / "index" / state.version / "0.json").read_bytes()
    assert objects[shard]["ContentType"] == "application/json"
    loader = body(s3, "t/demo/loader.js").decode()
    assert objects["t/demo/loader.js"]["ContentType"] == "application/javascript; charset=utf-8"
    assert f'"base":"{CDN}"' in loader and f'"version":"{state.version}"' in loader


def test_a_round_with_no_change_uploads_only_the_status_page(tmp_path, s3):
    cfg = shop(tmp_path, s3)
    Uploader(cfg).files()
    Uploader(cfg).status_page(NOW)
    later = NOW + timedelta(hours=1)  # the next scheduled run: same catalogue, later clock
    fill(cfg, later, *CATALOGUE)
    build_all(cfg, now=later, progress=make_progress(quiet=True))
    s3.clear()

    uploader = Uploader(cfg)
    files = uploader.files()
    page = uploader.status_page(later)

    assert files.uploaded == [] and files.deleted == [] and files.unchanged > 10
    assert page.uploaded == [f"status/{KEY}/index.html"]
    assert s3.puts() == [f"/{BUCKET}/shop/status/{KEY}/index.html"]
    assert s3.count() == 3  # two listings (feeds/, t/) and the status page


def test_a_change_uploads_what_changed_and_nothing_else(tmp_path, s3):
    cfg = shop(tmp_path, s3)
    Uploader(cfg).files()
    cfg = demo_cfg(tmp_path, publish=_publish(cfg), channels={"meta": {"min_price": 300}})
    build_all(cfg, now=NOW, progress=make_progress(quiet=True), force=True)
    s3.clear()

    synced = Uploader(cfg).files()

    # meta.xml lost its cheap items; the index names the feeds that hold each product, so
    # its shards (and the loader, which names their version) changed with it
    feeds = sorted(k for k in synced.uploaded if k.startswith("feeds/"))
    assert feeds == [f"feeds/{KEY}/meta.xml", f"feeds/{KEY}/meta.xml.gz"]
    assert "t/demo/loader.js" in synced.uploaded
    assert synced.unchanged >= 14  # every other feed, payload and twin
    assert len(s3.puts()) == len(synced.uploaded)


def test_gzip_objects_puts_the_twin_under_the_feeds_own_name(tmp_path, s3):
    cfg = shop(tmp_path, s3)
    Uploader(cfg).files()  # first without: plain files and .gz twins
    cfg = demo_cfg(tmp_path, publish={**_publish(cfg), "gzip_objects": True})

    synced = Uploader(cfg).files()

    objects = stored(s3)
    assert not [k for k in objects if k.endswith(".gz")]
    assert f"feeds/{KEY}/google.xml.gz" in synced.deleted
    head = objects[f"feeds/{KEY}/google.xml"]
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentType"] == "application/xml; charset=utf-8"
    local = cfg.data_dir / "feeds" / "google.xml"
    assert body(s3, f"feeds/{KEY}/google.xml") == local.with_name("google.xml.gz").read_bytes()
    # what a feed fetcher gets over HTTP: the feed, decoded by Content-Encoding
    answer = httpx.get(url(s3, f"feeds/{KEY}/google.xml"))
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.content == local.read_bytes()


def _publish(cfg) -> dict[str, Any]:
    p = cfg.publish
    return {"target": p.target, "endpoint_url": p.endpoint_url, "public_url": p.public_url,
            "retries": p.retries}


def test_a_channel_no_longer_built_goes_and_a_failed_feed_stays(tmp_path, s3):
    cfg = shop(tmp_path, s3)
    Uploader(cfg).files()
    cfg = demo_cfg(tmp_path, publish=_publish(cfg), channels={
        "criteo": {"enabled": False}, "meta": {"exclude_categories": [100, 110, 120, 130, 140]}})
    results = {r.stem: r for r in build_all(cfg, now=NOW, progress=make_progress(quiet=True))}
    assert not results["meta"].published  # the drop guard kept the last good meta.xml

    synced = Uploader(cfg).files()

    assert sorted(synced.deleted) == [f"feeds/{KEY}/criteo.xml", f"feeds/{KEY}/criteo.xml.gz"]
    assert f"feeds/{KEY}/meta.xml" in stored(s3)


def test_shards_past_the_current_count_go(tmp_path, s3):
    cfg = shop(tmp_path, s3)
    Uploader(cfg).files()
    shards = read_index(Layout(cfg.data_dir)).shards
    s3.client().put_object(Bucket=BUCKET, Key=f"shop/t/demo/index/{shards}.json", Body=b"{}")
    assert Uploader(cfg).files().deleted == [f"t/demo/index/{shards}.json"]


# ---------------------------------------------------------------- the static status page


def test_the_static_status_page_shows_the_live_pages_data_without_server_links(tmp_path, s3):
    cfg = shop(tmp_path, s3)
    Uploader(cfg).status_page(NOW)

    head = stored(s3)[f"status/{KEY}/index.html"]
    assert head["ContentType"] == "text/html; charset=utf-8"
    assert head["CacheControl"] == "no-cache"
    page = html.fromstring(body(s3, f"status/{KEY}/index.html"))
    assert "noindex" in page.xpath("//meta[@name='robots']/@content")[0]
    assert page.xpath("//meta[@name='referrer']/@content") == ["no-referrer"]
    csp = page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0]
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp
    links = page.xpath("//a/@href")
    assert f"{CDN}/feeds/{KEY}/google.xml" in links
    assert not [link for link in links if "/reports/" in link or "key=" in link]
    rows = page.xpath("//tr[contains(@class,'feed')]/@data-stem")  # ad feeds and payloads
    assert "google" in rows and "cdon" in rows
    assert page.xpath("//tr[@data-stem='google']//td[contains(@class,'items')]/text()")[0] \
        .strip().isdigit()
    text = page.text_content()
    assert "object storage" in text and "demo-api-key" not in text


def test_without_public_url_the_static_page_links_feeds_relative_to_itself(tmp_path, s3):
    cfg = shop(tmp_path, s3, public_url="")
    Uploader(cfg).status_page(NOW)
    page = html.fromstring(body(s3, f"status/{KEY}/index.html"))
    assert f"../../feeds/{KEY}/google.xml" in page.xpath("//a/@href")


@pytest.mark.browser
def test_the_static_status_page_works_in_a_browser_from_the_storage(tmp_path, s3, browser):
    """Its nonce'd style and script pass its own meta CSP; its feed links resolve to the
    stored feeds when it is served from the storage without a CDN."""
    cfg = shop(tmp_path, s3, public_url="")
    Uploader(cfg).files()
    Uploader(cfg).status_page(NOW)
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(url(s3, f"status/{KEY}/index.html"))
    assert page.locator("tr.feed").count() >= 6
    assert page.evaluate("getComputedStyle(document.querySelector('table')).borderCollapse") \
        == "collapse"  # the nonce'd <style> was applied
    href = page.locator("a.url").first.evaluate("a => a.href")
    assert href.startswith(f"{s3.endpoint_url}/{BUCKET}/shop/feeds/{KEY}/")
    assert httpx.get(href).status_code == 200
    assert problems == []
    page.close()


# ---------------------------------------------------------------- a refresh and its outcome


def _build_job(cfg):
    fill(cfg, NOW, *CATALOGUE)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    return {"built": True}


def test_a_refresh_uploads_after_publishing_and_the_status_page_shows_its_outcome(tmp_path,
                                                                                  s3):
    cfg = shop(tmp_path, s3)
    outcome = run_refresh_once(cfg, _build_job)

    assert outcome.ok, outcome.error
    assert outcome.summary["uploaded"]["uploaded"] > 10
    page = html.fromstring(body(s3, f"status/{KEY}/index.html"))
    assert "ok" in page.xpath("//div[@id='refresh']//dd")[0].text_content()
    assert refresh_state.read(Layout(cfg.data_dir)).shown.ok


def test_a_failing_storage_fails_the_refresh_in_one_line_and_keeps_the_local_feeds(tmp_path,
                                                                                   s3):
    cfg = shop(tmp_path, s3)
    feeds = {p.name: p.read_bytes() for p in (cfg.data_dir / "feeds").iterdir()}
    s3.faults.append(Fault(key_contains="google.xml", status=500))

    outcome = run_refresh_once(cfg, _build_job, log_failure=False)

    assert not outcome.ok and isinstance(outcome.exc, UploadError)
    assert "\n" not in outcome.error and KEY not in outcome.error
    assert "not uploaded" in outcome.error and "feeds/***/google.xml" in outcome.error
    assert refresh_state.read(Layout(cfg.data_dir)).shown.error == outcome.error
    assert {p.name: p.read_bytes() for p in (cfg.data_dir / "feeds").iterdir()} == feeds
    # the status page still went up (it is a separate object), with the failure on it
    page = body(s3, f"status/{KEY}/index.html").decode()
    assert "not uploaded" in page


def test_a_failed_job_still_uploads_what_it_published(tmp_path, s3):
    cfg = shop(tmp_path, s3)

    def half_job(cfg):
        _build_job(cfg)
        raise UploadError("the push failed after the build")  # any FeedsError

    outcome = run_refresh_once(cfg, half_job, log_failure=False)
    assert not outcome.ok and outcome.error == "the push failed after the build"
    assert f"feeds/{KEY}/google.xml" in stored(s3)


# ---------------------------------------------------------------- the client


def test_without_credentials_the_failure_says_so_in_one_line(tmp_path, s3, monkeypatch):
    cfg = shop(tmp_path, s3)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(UploadError, match="no AWS credentials found") as caught:
        Uploader(cfg).files()
    assert "\n" not in str(caught.value)


def test_without_boto3_the_failure_names_the_extra(tmp_path, s3, monkeypatch):
    cfg = shop(tmp_path, s3)
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigError, match=r"pip install 'vendre-feeds\[s3\]'"):
        make_client(cfg.publish)


def test_a_region_botocore_refuses_is_a_config_error(tmp_path, s3):
    cfg = shop(tmp_path, s3, region="not a region!")
    with pytest.raises(ConfigError, match="^publish: no S3 client"):
        make_client(cfg.publish)


# ---------------------------------------------------------------- the command line


def cli(*args: str, env: dict[str, str]):
    from click.testing import CliRunner

    from feeds.cli import main

    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_build_upload_and_urls_on_the_command_line(tmp_path, s3):
    data = tmp_path / "demo"
    assert cli("demo", "--no-serve", "--data-dir", str(data), env={}).exit_code == 0
    config = str(data / "vendre-feeds.toml")
    env = {"VENDRE_FEEDS_PUBLISH_TARGET": f"s3://{BUCKET}/shop",
           "VENDRE_FEEDS_PUBLISH_ENDPOINT_URL": s3.endpoint_url,
           "VENDRE_FEEDS_PUBLISH_PUBLIC_URL": CDN, "VENDRE_FEEDS_PUBLISH_RETRIES": "0"}

    built = cli("--config", config, "build", env=env)
    assert built.exit_code == 0, built.output
    assert f"uploaded to s3://{BUCKET}/shop: 2" in built.output  # 20-odd files
    again = cli("--config", config, "upload", env=env)
    assert again.exit_code == 0, again.output
    assert "0 files changed" in again.output and "and the status page" in again.output

    urls = cli("--config", config, "urls", env=env).output
    assert f"status page: {CDN}/status/{KEY}/index.html" in urls
    assert f"google.xml: {CDN}/feeds/{KEY}/google.xml" in urls

    s3.faults.append(Fault(status=503))
    failed = cli("--config", config, "upload", "--all", env=env)
    assert failed.exit_code == 1
    line = failed.output.strip().splitlines()[-1]
    assert line.startswith(f"error: upload to s3://{BUCKET}/shop failed: ")
    assert KEY not in failed.output


def test_upload_without_a_target_is_a_config_error(tmp_path, s3):
    data = tmp_path / "demo"
    cli("demo", "--no-serve", "--data-dir", str(data), env={})
    result = cli("--config", str(data / "vendre-feeds.toml"), "upload", env={})
    assert result.exit_code == 2 and "publish.target: missing" in result.output


# ---------------------------------------------------------------- what public_url changes


def test_public_url_moves_the_feed_urls_and_the_loader_tag_to_the_cdn(tmp_path, s3):
    from feeds.events.snippets import loader_tag
    from feeds.server import create_app

    cfg = shop(tmp_path, s3)
    assert loader_tag(cfg) == f'<script async src="{CDN}/t/demo/loader.js"></script>'
    page = html.fromstring(create_app(cfg).test_client().get(f"/?key={KEY}").data)
    links = page.xpath("//a/@href")
    assert f"{CDN}/feeds/{KEY}/google.xml" in links
    server = cfg.public_base("http://localhost/")  # the test client's host
    assert f"{server}/reports/{KEY}/google.json" in links  # reports stay on the server
