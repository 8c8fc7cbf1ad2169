"""The status page in a real headless Chromium, served by waitress on loopback.

Skips when Chromium is absent, unless VENDRE_FEEDS_REQUIRE_BROWSER=1 (CI), where
that is a failure.
"""

from __future__ import annotations

import pytest

from tests.server.conftest import ACCESS_KEY, feed_xml

pytestmark = pytest.mark.browser

SNIPPET = '<script>\n  gtag("config", "G-TEST123");\n</script>'
SITE_KEY = "browser1"


@pytest.fixture
def site(live, tmp_path):
    """A live server with two ad feeds, a marketplace payload, a report, a good sync then
    a failed one (so the banner shows), and one tracking preview."""
    from feeds.server import create_app
    from tests.conftest import make_config
    from tests.server.conftest import Publisher

    cfg = make_config(tmp_path, server={"access_key": ACCESS_KEY},
                      tracking={"site_key": SITE_KEY, "ga4_id": "G-TEST123"},
                      channels={"cdon": {"enabled": True, "default_category": "1"}})
    publisher = Publisher(cfg)
    publisher.feed("google", feed_xml(3), items=120)
    publisher.feed("meta", feed_xml(3), items=99)
    publisher.feed("cdon", b'{"articles": []}', ext="json", items=30)
    publisher.report("google", items=120, errors={"missing_gtin": 3}, warnings={"no_brand": 7},
                     dropped=3)
    publisher.sync_ok(products=42)
    publisher.sync_failed("the shop answered 503 (after 6 tries)")
    app = create_app(cfg)
    app.config["STATUS_SNIPPETS"] = lambda cfg: [("GA4", SNIPPET)]
    return live(app)


def tag(site) -> str:
    """The loader tag the page offers: under the address the page was opened at."""
    return f'<script async src="{site.url}/t/{SITE_KEY}/loader.js"></script>'


def open_page(browser, site, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in {"error", "warning"} else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    response = page.goto(f"{site.url}/?key={ACCESS_KEY}")
    assert response is not None and response.status == 200
    return context, page, problems


def tops(page, *selectors: str) -> list[float]:
    """Where each element starts on the page (y, in CSS pixels)."""
    return [page.locator(s).first.bounding_box()["y"] for s in selectors]


def check_leads_with_the_banner_and_the_split_tables(page, height: int) -> None:
    """The banner first, on the first screen; then the ad feeds, their match rates, the
    marketplace payloads and the tag, in that order."""
    banner = page.locator("#banner")
    assert banner.is_visible()
    assert banner.bounding_box()["y"] < height / 2
    text = banner.inner_text()
    assert "The last sync failed" in text and "since" in text
    assert "the shop answered 503 (after 6 tries)" in text
    assert "The snapshot of" in text and "still served" in text
    order = tops(page, "#banner", "#feeds", "#tracking-match", "#payloads", "#snippets",
                 "#sync")
    assert order == sorted(order), order
    assert page.locator("#feeds-title").inner_text() == "Ad feeds: paste these URLs"
    assert page.locator("#payloads-title").inner_text() == "Marketplace payloads"
    assert "never fetch them" in page.locator("#payloads-note").inner_text()
    assert page.locator("#feeds tr.feed").count() == 2
    assert page.locator("#payloads tr.feed").count() == 1
    google = page.locator("#feeds tr.feed[data-stem='google']")
    assert google.locator("td.paste").inner_text().startswith("Merchant Center: Products")
    assert google.locator("td.paste").is_visible()


def test_status_page_in_a_browser(browser, site, tmp_path):
    context, page, problems = open_page(browser, site, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    try:
        check_leads_with_the_banner_and_the_split_tables(page, 900)
        google = page.locator("tr.feed[data-stem='google']")
        assert google.locator("td.items").inner_text().strip() == "120"
        assert google.locator("td.dropped").inner_text().strip() == "3"
        assert google.locator("a.url").inner_text() == \
            f"{site.url}/feeds/{ACCESS_KEY}/google.xml"
        assert "42 products" not in page.locator("#sync").inner_text()   # it failed since
        # one prominent Copy: the loader tag
        assert page.locator("button.primary").count() == 1
        page.locator("#snippets button.primary").click()
        # a selector, not wait_for_function: the page's CSP forbids the eval that polls it
        page.locator("#snippets .copied", has_text="Copied").wait_for()
        assert page.locator("#snippets .copied").inner_text() == "Copied"
        assert page.evaluate("navigator.clipboard.readText()") == tag(site)
        # the previews are collapsed until asked for
        preview = page.locator("#previews pre")
        assert preview.is_hidden()
        page.locator("#previews summary").click()
        assert preview.is_visible() and preview.inner_text() == SNIPPET
        # the violations link opens a table
        google.locator("a.report").click()
        page.wait_for_selector("#violations")
        assert page.locator("h1").inner_text().startswith("google:")
        page.go_back()
        page.screenshot(path=str(tmp_path / "status-desktop.png"), full_page=True)
        assert problems == []
    finally:
        context.close()


def test_copy_falls_back_to_selecting_the_text(browser, site):
    """Without the Clipboard API (plain http on a public host), the tag is selected."""
    context, page, problems = open_page(browser, site)
    try:
        page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
        page.locator("#snippets button.primary").click()
        assert page.evaluate("window.getSelection().toString()") == tag(site)
        assert page.locator("#snippets .copied").inner_text() in {
            "Copied", "Selected: press Ctrl+C (or long-press) to copy"}
        assert problems == []
    finally:
        context.close()


def test_usable_on_a_phone(browser, site, tmp_path):
    context, page, problems = open_page(
        browser, site, viewport={"width": 390, "height": 844}, device_scale_factor=3,
        is_mobile=True, has_touch=True)
    try:
        check_leads_with_the_banner_and_the_split_tables(page, 844)
        # nothing wider than the screen: no sideways scrolling
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.locator("#banner").bounding_box()["width"] <= 390
        # the table became cards: each row is as wide as the screen allows, cells stacked
        card = page.locator("tr.feed[data-stem='google']").bounding_box()
        assert card["width"] > 300
        url = page.locator("tr.feed[data-stem='google'] a.url")
        assert url.is_visible() and url.bounding_box()["x"] + url.bounding_box()["width"] <= 390
        paste = page.locator("tr.feed[data-stem='google'] td.paste").bounding_box()
        assert paste["x"] + paste["width"] <= 390
        assert page.locator("thead").first.is_hidden()
        button = page.locator("#snippets button.primary").bounding_box()
        assert button["height"] >= 30  # a tappable target
        page.screenshot(path=str(tmp_path / "status-phone.png"), full_page=True)
        assert (tmp_path / "status-phone.png").stat().st_size > 1000
        assert problems == []
    finally:
        context.close()


def test_key_form_in_a_browser(browser, site):
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{site.url}/")
        page.fill("#key", ACCESS_KEY)
        page.click("button[type=submit]")
        page.wait_for_selector("tr.feed")
        assert page.locator("#feeds tr.feed").count() == 2
        assert problems == []
    finally:
        context.close()


def test_marketplaces_on_a_phone(browser, live, tmp_path):
    """The marketplace rows become cards too, and a long rejection message wraps."""
    from datetime import UTC, datetime

    from feeds.pipeline.deliver import ledger_of
    from feeds.server import create_app
    from feeds.storage.ledger import LedgerEntry, PushRun, SkuState
    from tests.conftest import make_config

    cfg = make_config(tmp_path, server={"access_key": ACCESS_KEY},
                      channels={"cdon": {"enabled": True, "default_category": "1"}})
    ledger = ledger_of(cfg)
    ledger.put("cdon", [LedgerEntry("1001", SkuState.LIVE), LedgerEntry(
        "1002", SkuState.REJECTED, errors=("SE: invalid_category: " + "Unknown-category-" * 12,))])
    now = datetime.now(UTC)
    ledger.record_run("cdon", PushRun(now, now, True, counts={"create": 2}))
    site = live(create_app(cfg))
    context, page, problems = open_page(
        browser, site, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        row = page.locator("tr.market[data-name='cdon']")
        assert row.locator("td.for-sale").inner_text().strip().endswith("1")
        assert row.bounding_box()["width"] > 300
        page.locator("#rejected-cdon summary").click()
        assert page.locator("#rejected-cdon li").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert problems == []
    finally:
        context.close()
