"""The status page and /health: what they show, to whom, and what they never show."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from lxml import html

from feeds.server import create_app
from feeds.storage.layout import write_json_atomic
from tests.conftest import make_config
from tests.server.conftest import ACCESS_KEY, BufferedClient, feed_xml

SNIPPETS = [("GA4 (head)", '<script>gtag("config", "G-TEST123");</script>'),
            ("Meta Pixel", "fbq('init', '1234');")]
VIOLATION = {"severity": "error", "item_id": "17", "field": "gtin", "rule": "missing_gtin",
             "message": "no <GTIN> & no MPN"}


@pytest.fixture
def shop(publisher):
    """Three feeds, two reports with violations, a good sync."""
    publisher.feed("google", feed_xml(3), items=120)
    publisher.feed("google-no", feed_xml(3), items=118)
    publisher.feed("meta", feed_xml(3), items=99)
    publisher.report("google", items=120, errors={"missing_gtin": 3, "bad_price": 1},
                     warnings={"no_brand": 7}, excluded={"out_of_stock": 5}, dropped=3,
                     violations=[VIOLATION])
    publisher.report("meta", items=99, warnings={"short_title": 2})
    publisher.report("criteo", items=0, published=False, reason="drop guard: 100% fewer items",
                     errors={"missing_image": 40})
    publisher.sync_ok(products=42)
    return publisher


def page(client, key=ACCESS_KEY):
    r = client.get(f"/?key={key}")
    return r, html.fromstring(r.data)


def rows(doc):
    return {tr.get("data-stem"): tr for tr in doc.xpath("//tr[@class='feed']")}


def text(el) -> str:
    return " ".join(el.text_content().split())


def without_nonce(body: bytes) -> bytes:
    return re.sub(rb'nonce="[^"]+"', b'nonce=""', body)


def test_without_the_key_a_form_and_nothing_about_the_shop(client, tmp_path, shop):
    r = client.get("/")
    assert r.status_code == 200
    body = r.data.decode()
    assert '<input type="password" id="key" name="key"' in body
    for secret in ("Testshop", "google", "120", ACCESS_KEY, "/feeds/"):
        assert secret not in body
    # the same bytes as for an empty data dir of another shop
    other = create_app(make_config(tmp_path / "other",
                                   server={"access_key": "other-access-key-0000"},
                                   shop={"name": "Other"}))
    other.test_client_class = BufferedClient
    assert without_nonce(other.test_client().get("/").data) == without_nonce(r.data)


def test_a_wrong_key_is_403_with_the_form_only(client, shop):
    r = client.get("/?key=guess")
    assert r.status_code == 403
    body = r.data.decode()
    assert "not right" in body and 'name="key"' in body
    for secret in ("Testshop", "google", "120", ACCESS_KEY):
        assert secret not in body
    assert client.get("/?key=").status_code == 200  # an empty key is no key


def test_one_row_per_feed_with_url_counts_and_report_link(client, shop):
    r, doc = page(client)
    assert r.status_code == 200
    found = rows(doc)
    assert list(found) == ["criteo", "google", "google-no", "meta"]
    google = found["google"]
    url = f"http://localhost/feeds/{ACCESS_KEY}/google.xml"
    assert google.xpath(".//a[@class='url']/@href") == [url]
    assert text(google.xpath(".//td[contains(@class,'items')]")[0]) == "120"
    # "dropped" counts items (3), never violations (4 errors)
    assert text(google.xpath(".//td[contains(@class,'dropped')]")[0]) == "3"
    assert text(google.xpath(".//td[contains(@class,'warnings')]")[0]) == "7"
    assert google.xpath(".//a[@class='report']/@href") == \
        [f"http://localhost/reports/{ACCESS_KEY}/google.html"]
    assert google.xpath(".//a[contains(@class,'report-json')]/@href") == \
        [f"http://localhost/reports/{ACCESS_KEY}/google.json"]
    assert "5 skipped" in text(google) and "excluded" not in text(google)
    assert text(google.xpath(".//td[@class='paste']")[0]).startswith(
        "Merchant Center: Products > Data sources > Add product source")
    assert "(a data source of its own, for" not in text(google)
    assert "UTC" in text(google) and "ago" in text(google)
    assert text(found["google-no"].xpath(".//td[contains(@class,'items')]")[0]) == "118"
    assert text(found["meta"].xpath(".//td[contains(@class,'dropped')]")[0]) == "0"
    assert text(found["meta"].xpath(".//td[@class='paste']")[0]).startswith(
        "Meta Commerce Manager: Catalogue > Data sources")
    criteo = text(found["criteo"])
    assert "not published: drop guard" in criteo and "none yet" in criteo


def test_the_report_links_open_a_table_and_the_json(client, shop):
    _, doc = page(client)
    google = rows(doc)["google"]
    href = google.xpath(".//a[contains(@class,'report-json')]/@href")[0]
    data = client.get(href.removeprefix("http://localhost")).get_json()
    assert data["counts"]["errors"] == {"missing_gtin": 3, "bad_price": 1}
    table = client.get(google.xpath(".//a[@class='report']/@href")[0]
                       .removeprefix("http://localhost"))
    assert table.status_code == 200 and table.mimetype == "text/html"
    assert table.headers["Cache-Control"] == "no-store"
    found = html.fromstring(table.data)
    assert [th.text_content() for th in found.xpath("//table[@id='violations']//th")] == \
        ["Product", "Field", "Severity", "Message"]
    assert [text(td) for td in found.xpath("//tr[contains(@class,'violation')]/td")] == \
        ["17", "gtin", "error", "no <GTIN> & no MPN"]
    assert b"no &lt;GTIN&gt; &amp; no MPN" in table.data   # text, never markup
    assert found.xpath("//a[@class='json']/@href") == [href]
    assert client.get(f"/reports/{ACCESS_KEY}/nothing.html").status_code == 404
    assert client.get("/reports/wrong-key-00000000/google.html").status_code == 404


def test_public_url_is_used_for_the_links(tmp_path):
    cfg = make_config(tmp_path, server={"access_key": ACCESS_KEY,
                                        "public_url": "https://feeds.shop.example/"})
    from tests.server.conftest import Publisher
    Publisher(cfg).feed("google", feed_xml(1))
    app = create_app(cfg)
    app.test_client_class = BufferedClient
    _, doc = page(app.test_client())
    assert rows(doc)["google"].xpath(".//a[@class='url']/@href") == \
        [f"https://feeds.shop.example/feeds/{ACCESS_KEY}/google.xml"]


def test_sync_outcome_ok_then_failed(client, shop):
    _, doc = page(client)
    sync = text(doc.xpath("//div[@id='sync']")[0])
    assert "ok" in sync and "42 products" in sync
    shop.sync_failed("the shop answered 503")
    _, doc = page(client)
    sync = text(doc.xpath("//div[@id='sync']")[0])
    assert "failed" in sync and "the shop answered 503" in sync


def test_refresh_outcome_shows_failure(client, shop):
    now = datetime.now(UTC)
    write_json_atomic(shop.layout.refresh_state, {
        "started_at": (now - timedelta(minutes=3)).isoformat(), "finished_at": now.isoformat(),
        "ok": False, "error": "build failed: google.xml is not well-formed", "summary": {}})
    _, doc = page(client)
    refresh = text(doc.xpath("//div[@id='refresh']")[0])
    assert "failed" in refresh and "last good feeds are still served" in refresh
    assert "google.xml is not well-formed" in refresh


def test_no_feeds_yet(client):
    r, doc = page(client)
    assert r.status_code == 200
    assert "No feed has been built yet" in text(doc)
    assert "Never synced" in text(doc) and "No scheduled refresh" in text(doc)


def test_the_loader_tag_is_the_one_prominent_copy_and_previews_are_collapsed(
        client, app, shop, tmp_path):
    _, doc = page(client)
    # This config has no site key: the page says why there is no tag yet.
    assert "tracking.site_key: missing" in text(doc.xpath("//section[@id='snippets']")[0])
    app.config["STATUS_SNIPPETS"] = lambda cfg: []
    _, doc = page(client)
    assert "No tracking snippets yet" in text(doc.xpath("//section[@id='snippets']")[0])

    cfg = make_config(tmp_path / "tagged", server={"access_key": ACCESS_KEY},
                      tracking={"site_key": "abc123"})
    tagged = create_app(cfg)
    tagged.config["STATUS_SNIPPETS"] = lambda cfg: SNIPPETS
    tagged.test_client_class = BufferedClient
    r, doc = page(tagged.test_client())
    section = doc.xpath("//section[@id='snippets']")[0]
    # without public_url, the tag names the host this page was opened at, and says so
    assert text(section.xpath(".//pre[@id='loader-tag']")[0]) == \
        '<script async src="http://localhost/t/abc123/loader.js"></script>'
    assert "public_url is not set" in text(section.xpath(".//*[@id='loader-note']")[0])
    assert [b.get("data-copy") for b in doc.xpath("//button[contains(@class,'primary')]")] \
        == ["loader-tag"]
    assert not section.xpath(".//details//button")   # the previews are to look at
    previews = section.xpath(".//details[@id='previews']")[0]
    assert previews.get("open") is None
    assert text(previews.xpath("./summary")[0]) == "Preview what the loader sends"
    assert [text(h) for h in previews.xpath(".//h3")] == ["GA4 (head)", "Meta Pixel"]
    assert [c.text_content() for c in previews.xpath(".//pre")] == \
        [code for _, code in SNIPPETS]
    # the snippet's <script> is text on the page, never markup
    assert '&lt;script&gt;gtag(' in r.data.decode()
    assert len(doc.xpath("//script")) == 1


def market_client(tmp_path, **channels):
    cfg = make_config(tmp_path, server={"access_key": ACCESS_KEY}, channels={
        "cdon": {"enabled": True, "default_category": "1"},
        "fyndiq": {"enabled": True, "default_category": "1"}, **channels})
    app = create_app(cfg)
    app.test_client_class = BufferedClient
    return cfg, app.test_client()


def test_a_row_per_marketplace_with_its_ledger_and_last_push(tmp_path):
    from feeds.pipeline.deliver import ledger_of
    from feeds.storage.ledger import LedgerEntry, PushRun, SkuState

    cfg, client = market_client(tmp_path)
    _, doc = page(client)
    rows_ = {tr.get("data-name"): tr for tr in doc.xpath("//tr[@class='market']")}
    assert list(rows_) == ["cdon", "fyndiq"]
    assert "never pushed" in text(rows_["cdon"])
    assert not ledger_of(cfg).path.exists()           # looking never creates the ledger

    ledger = ledger_of(cfg)
    ledger.put("cdon", [LedgerEntry(str(n), SkuState.LIVE) for n in range(1, 28)] + [
        LedgerEntry("28", SkuState.PAUSED), LedgerEntry("29", SkuState.PENDING),
        LedgerEntry("30", SkuState.REJECTED,
                    errors=("SE: invalid_category: Unknown category <1124>",))])
    now = datetime.now(UTC)
    ledger.record_run("cdon", PushRun(now, now, True, counts={"create": 30, "left_out": 2,
                                                              "rejected": 0}))
    ledger.record_run("fyndiq", PushRun(now, now, False,
                                        message="Fyndiq create: HTTP 500 (gave up after 6 tries)"))
    _, doc = page(client)
    rows_ = {tr.get("data-name"): tr for tr in doc.xpath("//tr[@class='market']")}
    cells = {c.get("data-label"): text(c) for c in rows_["cdon"].xpath("./td")}
    assert (cells["For sale"], cells["Paused"], cells["Rejected"], cells["Pending"]) == \
        ("27", "1", "1", "1")
    assert "ok" in cells["Last push"] and "create 30, dropped 2" in cells["Last push"]
    fyndiq = text(rows_["fyndiq"])
    assert "failed" in fyndiq and "HTTP 500 (gave up after 6 tries)" in fyndiq
    details = doc.xpath("//details[@id='rejected-cdon']")[0]
    assert text(details.xpath(".//li")[0]) == \
        "30: SE: invalid_category: Unknown category <1124>"
    assert doc.xpath("//details[@id='rejected-fyndiq']") == []


def test_no_marketplace_section_without_a_pushed_channel(client, shop):
    _, doc = page(client)
    assert doc.xpath("//table[@id='marketplaces']") == []


def test_a_failing_snippet_hook_does_not_break_the_page(client, app, shop):
    def broken(cfg):
        raise ValueError("no")

    app.config["STATUS_SNIPPETS"] = broken
    r, _ = page(client)
    assert r.status_code == 200


def test_headers_of_the_keyed_page(client, shop):
    r, doc = page(client)
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    csp = r.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert doc.xpath("//script/@nonce") == [nonce] == doc.xpath("//style/@nonce")
    assert page(client)[0].headers["Content-Security-Policy"] != csp  # a fresh nonce each time
    assert doc.xpath("//meta[@name='viewport']/@content") == \
        ["width=device-width, initial-scale=1"]


def test_the_key_never_reaches_the_logs(client, shop, caplog):
    with caplog.at_level(logging.DEBUG):
        page(client)
        client.get("/?key=wrong-" + ACCESS_KEY)
        client.get(f"/feeds/{ACCESS_KEY}/google.xml")
        client.get(f"/reports/{ACCESS_KEY}/google.json")
        client.get("/health")
    assert caplog.records and ACCESS_KEY not in caplog.text


# ---------------------------------------------------------------- /health


def test_health_without_feeds_is_503(client):
    r = client.get("/health")
    assert r.status_code == 503
    data = r.get_json()
    assert data["status"] == "no_feeds" and data["feeds"] == {}
    assert data["last_sync"] is None and data["last_refresh"] is None
    assert r.headers["Cache-Control"] == "no-store"


def test_health_with_fresh_feeds_is_200(client, shop):
    r = client.get("/health")
    assert r.status_code == 200
    data = r.get_json()
    assert data["status"] == "ok"
    assert set(data["feeds"]) == {"google", "google-no", "meta"}
    assert data["feeds"]["google"]["items"] == 120
    assert 0 <= data["feeds"]["google"]["age_seconds"] < 60
    assert data["last_sync"]["ok"] is True and data["last_sync"]["age_seconds"] < 60


def test_health_with_an_old_feed_is_503(client, shop):
    shop.feed("meta", feed_xml(3), published_at=datetime.now(UTC) - timedelta(minutes=181))
    r = client.get("/health")
    assert r.status_code == 503
    assert r.get_json()["status"] == "stale" and r.get_json()["stale_feeds"] == ["meta"]
    assert r.get_json()["stale_after_minutes"] == 180   # three hourly schedule intervals


def test_a_failed_refresh_or_sync_is_503_naming_what_failed(client, shop):
    """A monitor that reads only the status code sees the failure, while the feeds are
    still fresh; the body names what failed, never the error's text."""
    now = datetime.now(UTC)
    write_json_atomic(shop.layout.refresh_state, {
        "started_at": now.isoformat(), "finished_at": now.isoformat(), "ok": False,
        "error": "Vendre at https://secret-shop.example answered 500", "summary": {}})
    r = client.get("/health")
    assert r.status_code == 503
    data = r.get_json()
    assert (data["status"], data["failing"]) == ("refresh_failed", ["refresh_failed"])
    assert data["last_refresh"] == {"running": False, "ok": False, "age_seconds": 0}
    shop.sync_failed("https://secret-shop.example timed out")
    r = client.get("/health")
    assert r.status_code == 503
    data = r.get_json()
    assert (data["status"], data["failing"]) == ("sync_failed",
                                                 ["sync_failed", "refresh_failed"])
    assert data["last_sync"]["ok"] is False and data["stale_feeds"] == []
    assert b"secret-shop" not in r.data and b"Testshop" not in r.data
    shop.sync_ok()
    write_json_atomic(shop.layout.refresh_state, {
        "started_at": now.isoformat(), "finished_at": now.isoformat(), "ok": True,
        "error": "", "summary": {}})
    assert client.get("/health").status_code == 200


def test_health_while_a_refresh_runs_keeps_the_last_outcome(client, shop):
    now = datetime.now(UTC).isoformat()
    write_json_atomic(shop.layout.refresh_state, {
        "started_at": now, "finished_at": None, "ok": None, "error": "", "summary": {},
        "last_finished": {"started_at": now, "finished_at": now, "ok": True, "error": ""}})
    assert client.get("/health").get_json()["last_refresh"] == \
        {"running": True, "ok": True, "age_seconds": 0}


def test_configuration_warnings_are_shown(tmp_path):
    """A foreign target without its own VAT: the warning `build` prints is on the page too."""
    from tests.conftest import make_config

    cfg = make_config(tmp_path, server={"access_key": "w" * 24}, channels={"google": {
        "targets": [{"file": "google-no", "country": "NO", "currency": "NOK", "rate": 1}]}})
    assert cfg.warnings
    client = create_app(cfg).test_client()
    page = client.get("/?key=" + "w" * 24).get_data(as_text=True)
    assert 'id="config-warnings"' in page and "google-no sells to NO" in page


# ---------------------------------------------------------------- the banner


def banner(client) -> list[str]:
    _, doc = page(client)
    return [text(li) for li in doc.xpath("//section[@id='banner']//li[@class='problem']")]


def test_the_banner_names_what_failed_since_when_and_what_is_still_served(client, shop,
                                                                          tmp_path):
    from feeds.storage import refresh_state

    # the fixture: criteo's last build was refused, and nothing of it is served
    (criteo,) = banner(client)
    assert criteo.startswith("The last build of criteo was not published at ")
    assert "drop guard: 100% fewer items" in criteo
    assert criteo.endswith("Nothing is served for criteo yet.")

    shop.sync_failed("the shop answered 503")
    shop.sync_failed("the shop answered 502")
    first = [r for r in _syncs(shop) if not r.ok][-1]   # newest first: the first failure
    sync, criteo = banner(client)
    assert sync.startswith(f"The last sync failed since {first.finished_at:%Y-%m-%d %H:%M} "
                           "UTC")
    assert ": the shop answered 502" in sync   # the newest error, since the first failure
    assert "The snapshot of" in sync and "stays; the last good feeds are still served " \
        "(3 files, the newest published" in sync

    layout = shop.layout
    start = datetime.now(UTC) - timedelta(hours=2)
    refresh_state.write_finished(layout, start, start, False, "build failed: disk full", {})
    refresh_state.write_finished(layout, start + timedelta(hours=1), start + timedelta(hours=1),
                                 False, "build failed: disk full", {})
    problems = banner(client)
    assert problems[1].startswith(f"The last refresh failed since {start:%Y-%m-%d %H:%M} UTC")
    assert "build failed: disk full" in problems[1]

    shop.feed("meta", feed_xml(3), items=99,
              published_at=datetime.now(UTC) - timedelta(minutes=200))
    stale = banner(client)[-1]
    assert stale.startswith("meta.xml is stale since ") and \
        "older than 180 minutes (stale_after_minutes)" in stale
    assert stale.endswith("This old meta.xml is still served.")


def _syncs(shop):
    from feeds.storage.store import Store

    return Store.in_dir(shop.cfg.data_dir).syncs(limit=10)


def test_no_banner_when_nothing_failed(client, publisher):
    publisher.feed("google", feed_xml(3), items=3)
    publisher.report("google", items=3)
    publisher.sync_ok()
    r, doc = page(client)
    assert doc.xpath("//section[@id='banner']") == []
    assert "Nothing failed" in text(doc.xpath("//*[@id='all-ok']")[0])


def test_a_failed_push_is_in_the_banner(tmp_path):
    from feeds.pipeline.deliver import ledger_of
    from feeds.storage.ledger import PushRun

    cfg, client = market_client(tmp_path)
    now = datetime.now(UTC)
    ledger_of(cfg).record_run("fyndiq", PushRun(now, now, False,
                                                message="Fyndiq create: HTTP 500"))
    (push,) = banner(client)
    assert push.startswith("The last push to fyndiq failed at ")
    assert "Fyndiq create: HTTP 500" in push
    assert push.endswith("Fyndiq keeps what it accepted before; the next push sends the "
                         "difference again.")


def test_failed_purchases_are_in_the_banner(server_config):
    from types import SimpleNamespace

    from feeds.server.status_data import _problems, _Readings

    when = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    failed = SimpleNamespace(title="GA4 (Measurement Protocol)", last_ok=False, last_run=when,
                             last_error="GA4 answered 500")
    fine = SimpleNamespace(title="Meta (Conversions API)", last_ok=True, last_run=when,
                           last_error="")
    readings = _Readings(published=[], reports={}, syncs=[], refresh=None)
    (problem,) = _problems(server_config, readings, [], [], when + timedelta(hours=1),
                           [failed, fine])
    assert problem.what == "Sending purchases to GA4 (Measurement Protocol) failed"
    assert problem.since == "at 2026-11-28 11:00 UTC (60 min ago)"
    assert problem.detail == "GA4 answered 500"
    assert problem.served == "The orders not sent stay pending; the next run sends them"
