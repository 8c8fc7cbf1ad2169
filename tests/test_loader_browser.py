"""The loader in a real headless Chromium, on a fake shop of another origin.

Two servers on loopback: the feed server (waitress, over a data dir built from
the demo catalogue) and a fake shop whose pages hold the pasted loader tag and,
per case, JSON-LD, `window.vendreProduct` / `vendreCart` / `vendreOrder` or a buy
button. The tags' own scripts (Google, Meta, Criteo) are unreachable: requests
to them are aborted. Each case reads `dataLayer`, the `fbq` queue and
`criteo_q` and checks that

* the events are the ones the page calls for, and no others;
* every product id in them is the feeds' id of a sellable product (every sellable
  product gets events, whether or not a feed holds it);
* each payload equals what the Python services render for the same event
  (`feeds.events.snippets.preview`, parsed back), so JavaScript and Python agree;
* the page raised no error and logged none (other than the blocked requests).

Skips when Chromium is absent, unless VENDRE_FEEDS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from feeds.config import Config
from feeds.demo.catalog import demo_categories, demo_products
from feeds.events.snippets import loader_tag, preview, tracking_options
from feeds.events.source import EventSource, event_item
from feeds.formats.templates import make_env
from feeds.jobs.refresh import build_all
from feeds.progress import make_progress
from feeds.server import create_app
from feeds.storage.store import Store
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill
from tests.server.conftest import LiveServer
from tests.test_events import product_ids, tracked_ids
from tracking.events import ViewCart
from tracking.render import render_all
from tracking.services import enabled_services

pytestmark = pytest.mark.browser

BLOCKED = re.compile(r"^https?://([^/]*\.)?(googletagmanager\.com|google-analytics\.com|"
                     r"facebook\.net|facebook\.com|criteo\.com|criteo\.net)(:\d+)?/")
SERVICES = ("gtm", "ga4", "meta_pixel", "criteo")
EVENT_NAMES = {"view_item", "view_item_list", "add_to_cart", "view_cart", "begin_checkout",
               "purchase"}
_READ_STATE = """() => {
  const plain = (x) => Object.prototype.toString.call(x) === '[object Arguments]'
    ? {args: Array.from(x)} : x;
  return {
    dataLayer: (window.dataLayer || []).map(plain),
    fbq: window.fbq && window.fbq.queue ? window.fbq.queue.map((a) => Array.from(a)) : null,
    criteo: window.criteo_q ? Array.from(window.criteo_q) : null,
    loader: window.vendreFeedsLoader
      ? {page: window.vendreFeedsLoader.page, done: window.vendreFeedsLoader.done} : null,
    scripts: Array.from(document.scripts).map((s) => s.src).filter(Boolean),
  };
}"""


# ---------------------------------------------------------------- the two servers


class FakeShop:
    """A WSGI app serving whatever page a test puts at a path (query strings ignored)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        with self.lock:
            html = self.pages.get(environ.get("PATH_INFO", ""))
        if html is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Cache-Control", "no-store")])
        return [html.encode("utf-8")]


class Later:
    """A WSGI app set once the server's port (and so the config) is known."""

    app: Any = None

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        return self.app(environ, start_response)


@dataclass
class World:
    cfg: Config
    groups_cfg: Config
    shop: LiveServer
    shop_pages: FakeShop
    feeds: LiveServer
    groups: LiveServer
    event_ids: set[str]
    paths: dict[int, dict[str, str]] = field(default_factory=dict)
    category_paths: dict[int, dict[str, str]] = field(default_factory=dict)


def _feed_server(later: Later, cfg_for: Callable[[str], Config]) -> tuple[LiveServer, Config]:
    server = LiveServer(later)
    cfg = cfg_for(server.url)
    later.app = create_app(cfg)
    return server, cfg


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The shop on one port; the feed server on another (a different origin) over a data
    dir built from the demo catalogue; a second feed server with `meta_group_ids`."""
    tmp = tmp_path_factory.mktemp("loader")
    pages = FakeShop()
    shop = LiveServer(pages)

    def cfg_for(**tracking: Any) -> Callable[[str], Config]:
        return lambda url: demo_cfg(tmp, server={"public_url": url},
                                    tracking={"allowed_origins": [shop.url], **tracking})

    feeds, cfg = _feed_server(Later(), cfg_for())
    groups, groups_cfg = _feed_server(Later(), cfg_for(meta_group_ids=True))
    fill(cfg, NOW)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    found = World(cfg, groups_cfg, shop, pages, feeds, groups, tracked_ids(cfg))
    found.paths = {p["id"]: p["seo_link"] for p in demo_products(NOW)}
    found.category_paths = {c["id"]: c["seo_link"] for c in demo_categories(NOW)}
    try:
        yield found
    finally:
        for server in (groups, feeds, shop):
            server.stop()


# ---------------------------------------------------------------- one page visit


@dataclass
class Visit:
    state: dict[str, Any]
    page: Any
    reported: list[str]  # page errors and console errors, as the browser reports them
    blocked: list[str]  # the requests the test aborted
    shops_own: list[Any] = field(default_factory=list)  # dataLayer pushes of the page itself

    @property
    def problems(self) -> list[str]:
        """What went wrong, less the browser's own line about each aborted request."""
        return [p for p in self.reported if not _about(p, self.blocked)]

    @property
    def loader(self) -> dict[str, Any] | None:
        return self.state["loader"]

    def gtm(self) -> list[dict[str, Any]]:
        """Ecommerce pushes, each checked to follow an `{ecommerce: null}` push."""
        layer = self.state["dataLayer"]
        found = []
        for n, entry in enumerate(layer):
            if entry in self.shops_own:
                continue
            if isinstance(entry, dict) and entry.get("event") in EVENT_NAMES:
                assert layer[n - 1] == {"ecommerce": None}, entry
                found.append(entry)
        return found

    def ga4(self) -> list[list[Any]]:
        return [e["args"][1:] for e in self.state["dataLayer"]
                if isinstance(e, dict) and "args" in e and e["args"][0] == "event"]

    def meta(self) -> list[list[Any]]:
        return [c[1:] for c in self.state["fbq"] or []
                if c[0] == "track" and c[1] != "PageView"]

    def criteo(self) -> list[dict[str, Any]]:
        return list(self.state["criteo"] or [])

    def payloads(self) -> dict[str, Any]:
        return {"gtm": self.gtm(), "ga4": self.ga4(), "meta_pixel": self.meta(),
                "criteo": self.criteo()}

    def consent(self) -> None:
        self.page.evaluate("window.vendreFeedsConsent(true)")
        self.state = self.page.evaluate(_READ_STATE)


def page_html(tag: str, head: str = "", body: str = "") -> str:
    return ("<!doctype html>\n<html lang=\"sv\"><head><meta charset=\"utf-8\">"
            "<link rel=\"icon\" href=\"data:,\"><title>Demobutiken</title>\n"
            f"{tag}\n{head}</head>\n<body><h1>Demobutiken</h1>\n{body}\n</body></html>\n")


def visit(world: World, browser: Any, tmp_path: Path, path: str, *, head: str = "",
          body: str = "", cfg: Config | None = None, tag: str | None = None,
          block_index: bool = False, then: Callable[[Any], None] | None = None,
          wait: bool = True) -> Visit:
    """Open the shop page at `path` holding the loader tag (and `head`, `body`), with
    the third-party tags unreachable; wait until the loader is done."""
    cfg = cfg or world.cfg
    world.shop_pages.pages[path.split("?")[0]] = page_html(tag or loader_tag(cfg), head, body)
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    blocked: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text} "
                                                 f"({m.location.get('url', '')})")
            if m.type == "error" else None)
    page.route(BLOCKED, lambda route: (blocked.append(route.request.url), route.abort()))
    if block_index:
        page.route(re.compile(r".*/t/[^/]+/index/.*"),
                   lambda route: (blocked.append(route.request.url), route.abort()))
    try:
        page.goto(world.shop.url + path)
        if wait:
            page.wait_for_function("window.vendreFeedsLoader && window.vendreFeedsLoader.done",
                                   timeout=10_000)
        if then:
            then(page)
        state = page.evaluate(_READ_STATE)
        page.screenshot(path=str(tmp_path / f"{re.sub(r'[^a-z0-9]+', '-', path)}.png"))
    except BaseException:
        context.close()
        raise
    _open_contexts.append(context)
    return Visit(state, page, problems, blocked)


_open_contexts: list[Any] = []


@pytest.fixture(autouse=True)
def _close_contexts() -> Iterator[None]:
    """Each case's browser context is closed after the case (it may still consent)."""
    yield
    while _open_contexts:
        _open_contexts.pop().close()


def _about(problem: str, urls: list[str]) -> bool:
    return "Failed to load resource" in problem and any(u.split("?")[0] in problem
                                                        for u in urls)


# ---------------------------------------------------------------- what Python renders

_GA4 = re.compile(r"^gtag\('event', (.*)\);$")
_META = re.compile(r"^fbq\('track', (\".*)\);$")
_GTM = re.compile(r"^window\.dataLayer\.push\((\{\".*\})\);$")
_CRITEO = re.compile(r"^\s*(\{\"event\".*\}),?$")


def parse_python(html: str) -> dict[str, list[Any]]:
    """The payloads in rendered snippets, per service, read back from their JSON."""
    found: dict[str, list[Any]] = {s: [] for s in SERVICES}
    for line in html.splitlines():
        if m := _GTM.match(line):
            found["gtm"].append(json.loads(m.group(1)))
        elif m := _GA4.match(line):
            found["ga4"].append(json.loads(f"[{m.group(1)}]"))
        elif m := _META.match(line):
            found["meta_pixel"].append(json.loads(f"[{m.group(1)}]"))
        elif m := _CRITEO.match(line):
            found["criteo"].append(json.loads(m.group(1)))
    return found


def expected(cfg: Config, event: str, **ref: Any) -> dict[str, list[Any]]:
    """What each service renders for `event` in Python (`feeds.events.snippets.preview`)."""
    found: dict[str, list[Any]] = {s: [] for s in SERVICES}
    for service in SERVICES:
        html = preview(cfg, service, event=event, placement="head", now=NOW, **ref)
        found[service] = parse_python(html)[service]
    return found


def merged(*parts: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {s: [x for p in parts for x in p[s]] for s in SERVICES}


def check(world: World, seen: Visit, want: dict[str, list[Any]], *,
          meta_ids_are_feed_ids: bool = True, unknown: frozenset[str] = frozenset()
          ) -> None:
    """The page's payloads equal Python's, name only sellable products' feed ids, and
    nothing went wrong, before or after the visitor consents (Meta and Criteo wait)."""
    assert seen.problems == []
    before = seen.payloads()
    seen.consent()
    assert ["consent", "grant"] in seen.state["fbq"]
    got = seen.payloads()
    assert got == before
    for service in SERVICES:
        assert got[service] == want[service], service
    for service, payloads in got.items():
        if service == "meta_pixel" and not meta_ids_are_feed_ids:
            continue
        ids = product_ids(payloads)
        assert ids <= world.event_ids | unknown, (service, ids - world.event_ids)
    if want["gtm"]:
        assert product_ids(got["gtm"])


def path_of(world: World, product: int, language: str = "sv") -> str:
    return "/" + world.paths[product][language]


# ---------------------------------------------------------------- cases


def test_product_page_by_swedish_path(world, browser, tmp_path):
    seen = visit(world, browser, tmp_path, path_of(world, 1001))
    assert seen.loader == {"page": "product", "done": True}
    # Consent: denied by default, Meta revoked, Criteo's tag not yet loaded ...
    layer = seen.state["dataLayer"]
    assert layer[0] == {"args": ["consent", "default", {
        "ad_storage": "denied", "analytics_storage": "denied", "ad_user_data": "denied",
        "ad_personalization": "denied", "wait_for_update": 500}]}
    assert ["consent", "revoke"] in seen.state["fbq"]
    assert not any("criteo" in s for s in seen.state["scripts"])
    check(world, seen, expected(world.cfg, "view_item", product="1001"))
    # ... until the banner's call (made by `check`) grants Meta and loads Criteo's tag.
    assert seen.state["fbq"][-1] == ["consent", "grant"]
    assert any(s.startswith("https://dynamic.criteo.com/js/ld/ld.js?a=12345")
               for s in seen.state["scripts"])
    assert [p["event"] for p in seen.gtm()] == ["view_item"]
    assert seen.problems == []


def test_product_page_by_english_path_with_query_and_no_trailing_slash(world, browser,
                                                                        tmp_path):
    path = path_of(world, 1001, "en").rstrip("/").upper() + "?visitorid=abc123"
    seen = visit(world, browser, tmp_path, path)
    check(world, seen, expected(world.cfg, "view_item", product="1001"))


def test_product_page_by_json_ld_only(world, browser, tmp_path):
    ld = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "name": "Kampanj"},
        {"@type": "Product", "name": "Kapten Kvasts äventyr", "sku": "DB-1002",
         "offers": {"@type": "Offer", "price": "249.00", "priceCurrency": "SEK"}}]}
    head = f'<script type="application/ld+json">{json.dumps(ld)}</script>'
    seen = visit(world, browser, tmp_path, "/kampanj/veckans-spel/", head=head)
    assert seen.loader["page"] == "product"
    check(world, seen, expected(world.cfg, "view_item", product="1002"))


def test_product_page_by_page_object(world, browser, tmp_path):
    body = "<script>window.vendreProduct = {id: 1003};</script>"
    seen = visit(world, browser, tmp_path, "/p/hansans-kopman", body=body)
    check(world, seen, expected(world.cfg, "view_item", product="1003"))


def test_product_page_by_vendres_data_layer(world, browser, tmp_path):
    body = ("<script>window.dataLayer = window.dataLayer || [];\n"
            "dataLayer.push({ecommerce: {detail: {products: [{id: 'DB-1008'}]}}});</script>")
    seen = visit(world, browser, tmp_path, "/produkt.php", body=body)
    check(world, seen, expected(world.cfg, "view_item", product="1008"))


def test_variant_parent_page_names_its_first_variant(world, browser, tmp_path):
    seen = visit(world, browser, tmp_path, path_of(world, 1021))
    want = expected(world.cfg, "view_item", product="1021")
    check(world, seen, want)
    (push,) = seen.gtm()
    assert push["ecommerce"]["items"][0]["item_id"] == "1022"


def test_variant_parent_with_meta_group_ids(world, browser, tmp_path):
    seen = visit(world, browser, tmp_path, path_of(world, 1021, "nb"), cfg=world.groups_cfg)
    check(world, seen, expected(world.groups_cfg, "view_item", product="1021"),
          meta_ids_are_feed_ids=False)
    (call,) = seen.meta()
    assert call[1]["content_ids"] == ["1021"] and call[1]["content_type"] == "product_group"


def test_category_page(world, browser, tmp_path):
    seen = visit(world, browser, tmp_path, "/" + world.category_paths[110]["sv"])
    assert seen.loader["page"] == "category"
    check(world, seen, expected(world.cfg, "view_item_list", category=110))
    (push,) = seen.gtm()
    assert len(push["ecommerce"]["items"]) == 12


def test_add_to_cart_click(world, browser, tmp_path):
    body = ('<form action="#" onsubmit="return false"><input name="quantity" value="1">'
            '<button class="buy-button" type="submit">Köp</button></form>')
    seen = visit(world, browser, tmp_path, path_of(world, 1001), body=body,
                 then=lambda page: page.click("button.buy-button"))
    check(world, seen, merged(expected(world.cfg, "view_item", product="1001"),
                              expected(world.cfg, "add_to_cart", product="1001")))
    assert [p["event"] for p in seen.gtm()] == ["view_item", "add_to_cart"]


def test_cart_page_with_items(world, browser, tmp_path):
    body = ("<script>window.vendreCart = {items: [{id: 1001, quantity: 2}, "
            "{id: 'DB-1021-RED', quantity: 1}, {id: 'DB-9999', quantity: 1}]};</script>")
    seen = visit(world, browser, tmp_path, "/varukorg/", body=body)
    assert seen.loader["page"] == "cart"
    # preview() takes one product; the same services render the two-line cart here.
    source = EventSource(world.cfg, Store.in_dir(world.cfg.data_dir), NOW)
    cart = ViewCart((event_item(source.product("1001"), quantity=2, index=0),
                     event_item(source.product("DB-1021-RED"), quantity=1, index=1)))
    options = tracking_options(world.cfg)
    html = str(render_all(make_env(), enabled_services(options), options, "head", [cart]))
    check(world, seen, parse_python(html))


def test_cart_page_without_items_sends_a_page_level_event(world, browser, tmp_path):
    seen = visit(world, browser, tmp_path, "/kassa")
    assert seen.problems == []
    assert seen.gtm() == [{"event": "view_cart"}]
    assert seen.ga4() == [["view_cart"]]
    assert seen.meta() == [] and seen.criteo() == []


def test_confirmation_page_with_the_order(world, browser, tmp_path):
    purchase = EventSource(world.cfg, Store.in_dir(world.cfg.data_dir), NOW).purchase("50004")
    order = {"id": purchase.transaction_id, "currency": purchase.currency,
             "value": float(purchase.value), "tax": float(purchase.tax),
             "shipping": float(purchase.shipping),
             "items": [{"id": i.id, "quantity": i.quantity, "price": float(i.price)}
                       for i in purchase.items]}
    body = f"<script>window.vendreOrder = {json.dumps(order)};</script>"
    seen = visit(world, browser, tmp_path, "/tack/", body=body)
    assert seen.loader["page"] == "confirmation"
    check(world, seen, expected(world.cfg, "purchase", order="50004"))
    (call,) = seen.meta()
    assert call[2] == {"eventID": "50004"}


def test_confirmation_page_keeps_a_line_the_index_does_not_know(world, browser, tmp_path):
    """Order 50007 sold product 990, deleted since: the loader keeps its line with the
    page's id, name and price, as the Python purchase does."""
    purchase = EventSource(world.cfg, Store.in_dir(world.cfg.data_dir), NOW).purchase("50007")
    assert purchase.items[-1].id == "990"
    order = {"id": "50007", "currency": "SEK", "tax": float(purchase.tax),
             "shipping": float(purchase.shipping),
             "items": [{"id": i.id, "name": i.name, "quantity": i.quantity,
                        "price": float(i.price)} for i in purchase.items]}
    body = f"<script>window.vendreOrder = {json.dumps(order)};</script>"
    seen = visit(world, browser, tmp_path, "/tack/", body=body)
    check(world, seen, expected(world.cfg, "purchase", order="50007"), unknown={"990"})
    (push,) = seen.gtm()
    assert push["ecommerce"]["items"][-1] == {"item_id": "990", "item_name": "Utgånget spel",
                                              "price": 99.0, "quantity": 1, "index": 2}
    assert push["ecommerce"]["value"] == 546.0


def test_confirmation_page_with_vendres_data_layer_purchase(world, browser, tmp_path):
    purchase = EventSource(world.cfg, Store.in_dir(world.cfg.data_dir), NOW).purchase("50004")
    push = {"event": "purchase", "ecommerce": {
        "transaction_id": "50004", "currency": "SEK", "tax": float(purchase.tax),
        "shipping": float(purchase.shipping),
        "items": [{"item_id": i.id, "quantity": i.quantity, "price": float(i.price)}
                  for i in purchase.items]}}
    body = ("<script>window.dataLayer = window.dataLayer || [];\n"
            f"dataLayer.push({json.dumps(push)});</script>")
    seen = visit(world, browser, tmp_path, "/confirmation", body=body)
    seen.shops_own.append(push)  # the shop's own push is no event of ours
    check(world, seen, expected(world.cfg, "purchase", order="50004"))


def test_confirmation_page_with_only_an_order_number_sends_no_purchase(world, browser,
                                                                       tmp_path):
    body = "<script>window.vendreOrder = {id: '50004'};</script>"
    seen = visit(world, browser, tmp_path, "/checkout_success.php?order=50004", body=body)
    assert seen.loader["page"] == "confirmation"
    assert seen.problems == []
    assert seen.payloads() == {s: [] for s in SERVICES}


def test_home_page(world, browser, tmp_path):
    seen = visit(world, browser, tmp_path, "/en/")
    assert seen.loader["page"] == "home"
    check(world, seen, expected(world.cfg, "view_home"))
    assert seen.criteo()[-1] == {"event": "viewHome"}


def test_unreachable_index_sends_nothing_and_breaks_nothing(world, browser, tmp_path):
    body = "<script>window.shopScriptRan = true;</script>"
    seen = visit(world, browser, tmp_path, path_of(world, 1004), body=body, block_index=True,
                 then=lambda page: page.wait_for_function("window.shopScriptRan === true"))
    assert seen.problems == []
    assert seen.loader == {"page": None, "done": True}
    assert seen.payloads() == {s: [] for s in SERVICES}
    assert ["init", "123456789012345"] in seen.state["fbq"]  # the tags themselves loaded


def test_an_origin_the_index_refuses_gets_one_warning_naming_the_setting(world, browser):
    """A page on an origin `[tracking] allowed_origins` does not list (www., a staging
    domain) gets no index; the browser's CORS error does not say why, the loader does."""
    tmp = world.cfg.data_dir.parent   # the same data dir, another feed server
    server, cfg = _feed_server(Later(), lambda url: demo_cfg(
        tmp, server={"public_url": url},
        tracking={"allowed_origins": ["https://shop.example"]}))
    path = path_of(world, 1004)
    world.shop_pages.pages[path] = page_html(loader_tag(cfg))
    context = browser.new_context()
    try:
        page = context.new_page()
        messages: list[tuple[str, str]] = []
        page.on("console", lambda m: messages.append((m.type, m.text)))
        page.route(BLOCKED, lambda route: route.abort())
        page.goto(world.shop.url + path)
        page.wait_for_function("window.vendreFeedsLoader && window.vendreFeedsLoader.done",
                               timeout=10_000)
        warnings = [text for kind, text in messages if kind == "warning"]
        assert len(warnings) == 1, messages
        assert warnings[0].startswith("vendre-feeds: the product index could not be read "
                                      f"from {world.shop.url}")
        assert "[tracking] allowed_origins" in warnings[0]
        assert any(kind == "error" and "CORS" in text for kind, text in messages)
        state = page.evaluate(_READ_STATE)
        assert state["loader"]["page"] is None
    finally:
        context.close()
        server.stop()


def test_wrong_site_key_loads_nothing(world, browser, tmp_path):
    tag = loader_tag(world.cfg).replace("/t/demo/", "/t/not-the-key/")
    body = "<script>window.shopScriptRan = true;</script>"
    seen = visit(world, browser, tmp_path, path_of(world, 1001), tag=tag, body=body,
                 wait=False, then=lambda page: page.wait_for_load_state("load"))
    assert seen.page.evaluate("window.shopScriptRan") is True
    assert seen.loader is None and seen.state["dataLayer"] == []
    # The only complaint is the browser's own line about the 404 script.
    assert all("404" in p and "Failed to load resource" in p for p in seen.problems)
    assert len(seen.problems) <= 1
