"""The loader's purchase beacon in a real headless Chromium (issue 18).

A fake shop on one origin shows a confirmation page that exposes only the order
number (`window.vendreOrder = {id}`), with GA and Meta cookies set; the feed server
(waitress, `[purchases] enabled`) on another origin. The loader sends no purchase
event from such a page, and the beacon only once the visitor consents; what reaches
the inbox is what consent allows, with the browser's User-Agent.

Skips when Chromium is absent, unless VENDRE_FEEDS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from feeds.events.snippets import loader_tag
from feeds.server import create_app
from feeds.storage.inbox import Inbox
from tests.feedkit import demo_cfg
from tests.server.conftest import LiveServer
from tests.test_loader_browser import BLOCKED, FakeShop, Later, page_html

pytestmark = pytest.mark.browser

COOKIES = ("document.cookie = '_ga=GA1.1.1234567890.1700000000; path=/';"
           "document.cookie = '_ga_DEMO12345=GS1.1.1700000123.4.1.1700000200.0.0.0; path=/';"
           "document.cookie = '_fbp=fb.1.1700000000000.987654321; path=/';"
           "document.cookie = '_fbc=fb.1.1700000000000.IwAR2xyz; path=/';")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("beacon")
    pages = FakeShop()
    shop = LiveServer(pages)
    later = Later()
    feeds = LiveServer(later)
    cfg = demo_cfg(tmp, server={"public_url": feeds.url},
                   tracking={"allowed_origins": [shop.url]}, purchases={"enabled": True})
    later.app = create_app(cfg)
    try:
        yield {"cfg": cfg, "shop": shop, "pages": pages, "feeds": feeds}
    finally:
        feeds.stop()
        shop.stop()


def open_page(servers: dict[str, Any], browser: Any, path: str, body: str, before: str = ""
              ) -> tuple[Any, Any, list[str]]:
    """Open the confirmation page at `path` (`before`: markup ahead of the loader's tag)."""
    servers["pages"].pages[path] = page_html(before + loader_tag(servers["cfg"]), "",
                                             f"<script>{COOKIES}</script>{body}")
    context = browser.new_context(user_agent="Mozilla/5.0 (BeaconTest) Chromium")
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.url.endswith("/seen") else None)
    page.route(BLOCKED, lambda route: route.abort())
    page.goto(servers["shop"].url + path)
    page.wait_for_function("window.vendreFeedsLoader && window.vendreFeedsLoader.done",
                           timeout=10_000)
    return context, page, seen


def beacons(servers: dict[str, Any], number: str) -> list[dict[str, Any]]:
    rows = Inbox.in_dir(servers["cfg"].data_dir).beacons_for([number]).get(number, [])
    return [r.data for r in rows]


def test_the_beacon_goes_only_after_consent(servers, browser):
    body = "<script>window.vendreOrder = {id: '5006'};</script>"
    context, page, seen = open_page(servers, browser, "/tack/", body)
    try:
        assert page.evaluate("window.vendreFeedsLoader.page") == "confirmation"
        assert page.evaluate("window.vendreFeedsLoader.beacon") == "waiting"
        page.wait_for_timeout(300)
        assert seen == [] and beacons(servers, "5006") == []
        # No purchase event from a page with only the number (the server sends it).
        layer = page.evaluate("JSON.stringify(window.dataLayer)")
        assert '"purchase"' not in layer
        page.evaluate("window.vendreFeedsConsent(true)")
        page.wait_for_function("window.vendreFeedsLoader.beacon === 'sent'", timeout=5_000)
        page.wait_for_timeout(500)  # sendBeacon is fire-and-forget
        page.evaluate("window.vendreFeedsConsent(false); window.vendreFeedsConsent(true)")
        page.wait_for_timeout(300)
        assert len(seen) == 1 and re.search(r"/t/demo/seen$", seen[0])
        (kept,) = beacons(servers, "5006")
        assert kept["ga_client_id"] == "1234567890.1700000000"
        assert kept["ga_session_id"] == "1700000123"
        assert kept["fbp"] == "fb.1.1700000000000.987654321"
        assert kept["fbc"] == "fb.1.1700000000000.IwAR2xyz"
        assert kept["page_url"] == servers["shop"].url + "/tack/"
        assert kept["user_agent"] == "Mozilla/5.0 (BeaconTest) Chromium"
        assert kept["consent"]["ad_user_data"] == "granted"
    finally:
        context.close()


def test_a_visitor_who_declines_sends_no_beacon(servers, browser):
    body = "<script>window.vendreOrder = {id: '5007'};</script>"
    context, page, seen = open_page(servers, browser, "/checkout_success.php", body)
    try:
        page.evaluate("window.vendreFeedsConsent(false)")
        page.wait_for_timeout(500)
        assert seen == [] and beacons(servers, "5007") == []
        assert page.evaluate("window.vendreFeedsLoader.beacon") == "waiting"
    finally:
        context.close()


def test_a_page_without_an_order_number_sends_nothing(servers, browser):
    context, page, seen = open_page(servers, browser, "/tack/", "")
    try:
        page.evaluate("window.vendreFeedsConsent(true)")
        page.wait_for_timeout(300)
        assert seen == [] and page.evaluate("window.vendreFeedsLoader.beacon") is None
    finally:
        context.close()


# A banner that speaks Consent Mode itself, as many consent platforms do: the site's
# own gtag, pushing `arguments` to the dataLayer, never window.vendreFeedsConsent.
SITE_GTAG = "window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}"


def test_a_banner_that_updates_consent_itself_is_noticed(servers, browser):
    body = "<script>window.vendreOrder = {id: '5010'};</script>"
    context, page, seen = open_page(servers, browser, "/tack/", body)
    try:
        page.wait_for_timeout(300)
        assert seen == [] and page.evaluate("window.vendreFeedsLoader.beacon") == "waiting"
        page.evaluate(SITE_GTAG + "gtag('consent', 'update', {analytics_storage: 'granted'});")
        page.wait_for_function("window.vendreFeedsLoader.beacon === 'sent'", timeout=5_000)
        page.wait_for_timeout(500)
        # Ads granted later: the beacon has gone already, and goes only once.
        page.evaluate(SITE_GTAG + "gtag('consent', 'update', {ad_storage: 'granted', "
                      "ad_user_data: 'granted'});")
        page.wait_for_timeout(300)
        assert len(seen) == 1
        (kept,) = beacons(servers, "5010")
        assert kept["ga_client_id"] == "1234567890.1700000000"
        assert "fbp" not in kept and "fbc" not in kept and "user_agent" not in kept
        assert kept["consent"]["analytics_storage"] == "granted"
        assert kept["consent"]["ad_user_data"] == "denied"
    finally:
        context.close()


def test_a_banner_that_updates_signal_by_signal_is_seen_whole(servers, browser):
    body = "<script>window.vendreOrder = {id: '5011'};</script>"
    context, page, seen = open_page(servers, browser, "/tack/", body)
    try:
        page.evaluate(SITE_GTAG + "gtag('consent', 'update', {analytics_storage: 'granted'});"
                      "gtag('consent', 'update', {ad_storage: 'granted'});"
                      "gtag('consent', 'update', {ad_user_data: 'granted'});")
        page.wait_for_function("window.vendreFeedsLoader.beacon === 'sent'", timeout=5_000)
        page.wait_for_timeout(500)
        assert len(seen) == 1
        (kept,) = beacons(servers, "5011")
        assert kept["ga_client_id"] == "1234567890.1700000000"
        assert kept["fbp"] == "fb.1.1700000000000.987654321"
        assert kept["user_agent"] == "Mozilla/5.0 (BeaconTest) Chromium"
    finally:
        context.close()


def test_consent_given_before_the_loader_ran_sends_at_once(servers, browser):
    """A returning visitor: the banner restores the stored choice before the loader's
    own defaults (all denied) reach the dataLayer; an update outranks a default."""
    body = "<script>window.vendreOrder = {id: '5012'};</script>"
    before = (f"<script>{SITE_GTAG} gtag('consent', 'update', {{analytics_storage: "
              "'granted', ad_storage: 'granted', ad_user_data: 'granted'});</script>")
    context, page, seen = open_page(servers, browser, "/tack/", body, before)
    try:
        page.wait_for_function("window.vendreFeedsLoader.beacon === 'sent'", timeout=5_000)
        page.wait_for_timeout(500)
        assert len(seen) == 1
        (kept,) = beacons(servers, "5012")
        assert kept["fbp"] and kept["ga_client_id"]
    finally:
        context.close()


@pytest.mark.parametrize(("number", "script"), [
    # A default for visitors of some regions says nothing of this one.
    ("5021", "gtag('consent', 'default', {analytics_storage: 'granted', ad_storage: "
             "'granted', ad_user_data: 'granted', region: ['US']});"),
    # Granted, then withdrawn in the same breath.
    ("5022", "gtag('consent', 'update', {analytics_storage: 'granted'});"
             "gtag('consent', 'update', {analytics_storage: 'denied'});"),
    # Not Consent Mode: an event that happens to be named so.
    ("5023", "dataLayer.push({event: 'consent', analytics_storage: 'granted'});"),
], ids=["region-default", "withdrawn", "not-a-command"])
def test_what_is_not_consent_sends_no_beacon(servers, browser, number, script):
    body = f"<script>window.vendreOrder = {{id: '{number}'}};</script>"
    context, page, seen = open_page(servers, browser, "/tack/", body)
    try:
        page.evaluate(SITE_GTAG + script)
        page.wait_for_timeout(500)
        assert seen == [] and beacons(servers, number) == []
        assert page.evaluate("window.vendreFeedsLoader.beacon") == "waiting"
    finally:
        context.close()
