"""The status page in a real headless Chromium, served by waitress on loopback.

Skips when Chromium is absent, unless VENDRE_FEEDS_REQUIRE_BROWSER=1 (CI), where
that is a failure.
"""

from __future__ import annotations

import pytest

from tests.server.conftest import ACCESS_KEY, feed_xml

pytestmark = pytest.mark.browser

SNIPPET = '<script>\n  gtag("config", "G-TEST123");\n</script>'


@pytest.fixture
def site(live, app, publisher):
    """A live server with two feeds, a report, a sync and one tracking snippet."""
    publisher.feed("google", feed_xml(3), items=120)
    publisher.feed("meta", feed_xml(3), items=99)
    publisher.report("google", items=120, errors={"missing_gtin": 3}, warnings={"no_brand": 7})
    publisher.sync_ok(products=42)
    app.config["STATUS_SNIPPETS"] = lambda cfg: [("GA4", SNIPPET)]
    return live(app)


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


def test_status_page_in_a_browser(browser, site, tmp_path):
    context, page, problems = open_page(browser, site, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    try:
        rows = page.locator("tr.feed")
        assert rows.count() == 2
        google = page.locator("tr.feed[data-stem='google']")
        assert google.locator("td.items").inner_text().strip() == "120"
        assert google.locator("td.errors").inner_text().strip() == "3"
        assert google.locator("a.url").inner_text() == \
            f"{site.url}/feeds/{ACCESS_KEY}/google.xml"
        assert page.locator("#sync").inner_text().count("42 products") == 1

        page.locator("#snippets button[data-copy]").click()
        page.wait_for_function(
            "document.querySelector('#snippets .copied').textContent.length > 0")
        assert page.locator("#snippets .copied").inner_text() == "Copied"
        assert page.evaluate("navigator.clipboard.readText()") == SNIPPET

        page.screenshot(path=str(tmp_path / "status-desktop.png"), full_page=True)
        assert problems == []
    finally:
        context.close()


def test_copy_falls_back_to_selecting_the_text(browser, site):
    """Without the Clipboard API (plain http on a public host), the code is selected."""
    context, page, problems = open_page(browser, site)
    try:
        page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
        page.locator("#snippets button[data-copy]").click()
        assert page.evaluate("window.getSelection().toString()") == SNIPPET
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
        # nothing wider than the screen: no sideways scrolling
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # the table became cards: each row is as wide as the screen allows, cells stacked
        card = page.locator("tr.feed[data-stem='google']").bounding_box()
        assert card["width"] > 300
        url = page.locator("tr.feed[data-stem='google'] a.url")
        assert url.is_visible() and url.bounding_box()["x"] + url.bounding_box()["width"] <= 390
        assert page.locator("thead").is_hidden()
        button = page.locator("#snippets button[data-copy]").bounding_box()
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
        assert page.locator("tr.feed").count() == 2
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
