"""One id policy: every sellable product gets events, named by the id the feeds give it."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from feeds.config import load_config
from feeds.core.ids import feed_id
from feeds.demo.run import demo_overrides, demo_toml
from feeds.errors import NotFound
from feeds.events.index import build_index
from feeds.events.snippets import preview
from feeds.events.source import EventSource, event_item
from feeds.pipeline.run import build_feeds
from feeds.storage.store import Store
from feeds.vendre.parse import order_key
from tests.conftest import NOW
from tests.feedkit import NS, demo_cfg, fill

_JSON_IN_SCRIPT = re.compile(r"(\{.*\}|\[.*\])")


def feed_ids(cfg, stem):
    tree = etree.parse(str(cfg.data_dir / "feeds" / f"{stem}.xml"))
    return set(tree.xpath("//item/g:id/text()", namespaces=NS))


def product_ids(value) -> set[str]:
    """Every product id an event payload names: GA4/GTM `items[].item_id`, Meta
    `content_ids` and `contents[].id`, Criteo `item` (one id, a list of ids, or a
    list of `{id, ...}`). Order ids are not product ids."""
    found: set[str] = set()

    def walk(value):
        if isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for key, v in value.items():
                if key == "item_id" or (key == "item" and isinstance(v, str)):
                    found.add(v)
                elif key in {"content_ids", "item"} and isinstance(v, list):
                    found.update(x for x in v if isinstance(x, str))
                if key in {"items", "item", "contents"} and isinstance(v, list):
                    found.update(x["id"] for x in v if isinstance(x, dict) and "id" in x)
                walk(v)

    walk(value)
    return found


def ids_in(html: str) -> set[str]:
    """Every product id the rendered events name, read back from the JSON in the scripts."""
    found: set[str] = set()
    for line in html.splitlines():
        for match in _JSON_IN_SCRIPT.finditer(line):
            try:
                found |= product_ids(json.loads(match.group(1)))
            except json.JSONDecodeError:
                continue
    return found


# "filtered": the channels disagree about which products are items (Meta leaves out
# what is out of stock and, without a default brand, what has no brand; Criteo what is
# cheaper than 100). Events do not care: every sellable product gets them.
SHOPS = {
    "id": {"shop": {"id_field": "id"}},
    "article_number": {"shop": {"id_field": "article_number"}},
    "filtered": {"shop": {"default_brand": ""},
                 "channels": {"meta": {"exclude_out_of_stock": True},
                              "criteo": {"min_price": 100}}},
}
# The demo products that get no events, and why (checked by hand in feeds/demo/catalog.py).
UNTRACKED = {1010: "hidden", 1011: "no price above 0", 1013: "no price"}
FIRST_VARIANT = {1021: 1022, 1030: 1031}  # variant parent -> the variant its page names
HOME_STEMS = ("criteo", "google", "meta")


@pytest.fixture(params=sorted(SHOPS))
def shop(request, tmp_path):
    cfg = demo_cfg(tmp_path, **SHOPS[request.param])
    fill(cfg, NOW)
    build_feeds(cfg, now=NOW)
    return cfg


def raw_by_id(cfg) -> dict[int, dict]:
    return {raw["id"]: raw for raw, _ in Store.in_dir(cfg.data_dir).iter_products()}


def in_all_feeds(cfg) -> set[str]:
    google, meta, criteo = (feed_ids(cfg, s) for s in ("google", "meta", "criteo"))
    return google & meta & criteo


def tracked_ids(cfg) -> set[str]:
    """The id of every demo product that gets events, by the feeds' own id function."""
    raws = raw_by_id(cfg)
    return {feed_id(raw, cfg.shop.id_field) for vendre_id, raw in raws.items()
            if vendre_id not in UNTRACKED and vendre_id not in FIRST_VARIANT}


def test_every_sellable_product_gets_events_with_its_feed_id(shop):
    """Whatever the feeds hold: a product page names the product by the id the feeds'
    id function gives it, in every service, and every feed item is among them."""
    raws = raw_by_id(shop)
    seen: set[str] = set()
    for vendre_id in raws:
        if vendre_id in UNTRACKED:
            with pytest.raises(NotFound, match=UNTRACKED[vendre_id]):
                preview(shop, "all", event="view_item", placement="head", now=NOW,
                        product=str(vendre_id))
            continue
        html = preview(shop, "all", event="view_item", placement="head", now=NOW,
                       product=str(vendre_id))
        shown = raws[FIRST_VARIANT.get(vendre_id, vendre_id)]
        assert ids_in(html) == {feed_id(shown, shop.shop.id_field)}, vendre_id
        for service in ("gtm", "ga4", "meta", "criteo"):   # each service on its own
            one = preview(shop, service, event="view_item", placement="head", now=NOW,
                          product=str(vendre_id))
            assert ids_in(one) == {feed_id(shown, shop.shop.id_field)}, (vendre_id, service)
        seen |= ids_in(html)
    assert seen == tracked_ids(shop)
    assert len(seen) == 31    # 36 products, less 3 untracked and 2 variant parents
    for stem in ("google", "google-no", "meta", "criteo"):
        assert feed_ids(shop, stem) <= seen, stem
    # ... including the sellable product no feed carries (it has no image).
    assert feed_id(raws[1012], shop.shop.id_field) in seen - feed_ids(shop, "google")


def test_events_name_no_other_ids(shop):
    """Lists, carts and purchases name only tracked ids (and a purchase's unknown line)."""
    allowed = tracked_ids(shop) | {"990", "DB-990"}   # order 50007 sold a product gone since
    events = [("add_to_cart", {"product": "1001"}), ("view_cart", {"product": "1022"}),
              ("begin_checkout", {"product": "1031"})]
    events += [("view_item_list", {"category": c}) for c in (110, 120, 130, 140)]
    orders = [str(order_key(o)) for o in Store.in_dir(shop.data_dir).raw_orders()]
    assert len(orders) == 10    # 50001 is older than orders_days
    events += [("purchase", {"order": o}) for o in orders]
    for name, ref in events:
        ids = ids_in(preview(shop, "all", event=name, placement="head", now=NOW, **ref))
        assert ids and ids <= allowed, (name, ref, ids - allowed)


def test_every_sellable_product_has_an_index_entry_naming_its_feeds(shop):
    """The loader's index has an entry for every tracked id, and each entry lists the
    home feeds that hold it."""
    info = build_index(shop, Store.in_dir(shop.data_dir), NOW)
    holders: dict[str, list[str]] = {}
    for path in info.folder.glob("*.json"):
        for entry in json.loads(path.read_text("utf-8")).values():
            for item in entry.get("items", [entry]):
                holders[item["id"]] = item["feeds"]
    assert set(holders) == tracked_ids(shop)
    for item_id, feeds in holders.items():
        assert feeds == [s for s in HOME_STEMS if item_id in feed_ids(shop, s)], item_id
    assert {i for i, feeds in holders.items() if feeds == list(HOME_STEMS)} == \
        in_all_feeds(shop)


def test_variant_parent_page_names_its_first_sellable_variant(shop):
    source = EventSource(shop, Store.in_dir(shop.data_dir), NOW)
    by_article = shop.shop.id_field.value == "article_number"
    first = event_item(source.product("1030"))
    assert first.id == ("DB-1030-S" if by_article else "1031")
    assert first.group_id == ("DB-1030" if by_article else "1030")


def test_product_by_article_number(shop):
    source = EventSource(shop, Store.in_dir(shop.data_dir), NOW)
    assert source.product("DB-1001").vendre_id == 1001
    with pytest.raises(NotFound):
        source.product("DB-9999")
    with pytest.raises(NotFound, match="gets no events: hidden"):
        source.product("1010")
    assert source.product("1012").vendre_id == 1012   # no image, in no feed: still tracked


def test_purchase_uses_the_orders_prices(tmp_path):
    """Order 50004 of the demo shop, worked out by hand: 279.20 x 1.25 = 349.00 (x1) and
    103.20 x 1.25 = 129.00 (x2) give 607.00, the order's own subtotal; tax and shipping
    are the order's totals."""
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build_feeds(cfg, now=NOW)
    purchase = EventSource(cfg, Store.in_dir(cfg.data_dir), NOW).purchase("50004")
    assert purchase.transaction_id == "50004"
    assert [(i.id, i.price, i.quantity) for i in purchase.items] == [
        ("1001", Decimal("349.00"), 1), ("1022", Decimal("129.00"), 2)]
    assert purchase.value == Decimal("607.00")
    assert (purchase.tax, purchase.shipping) == (Decimal("131.20"), Decimal("49.00"))


def test_a_purchase_keeps_the_line_of_a_product_no_longer_in_the_store(tmp_path):
    """Order 50007 sold product 990, which the shop has since deleted. Its line keeps its
    id, name and the order's price (79.20 x 1.25 = 99.00), so the purchase's value is the
    order's own subtotal: 2 x 199.00 + 49.00 (43.75 x 1.12) + 99.00 = 546.00."""
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    purchase = EventSource(cfg, Store.in_dir(cfg.data_dir), NOW).purchase("50007")
    assert [(i.id, i.name, i.price, i.quantity, i.index) for i in purchase.items] == [
        ("1031", "T-shirt Meeple – S", Decimal("199.00"), 2, 0),
        ("1020", "Godistärningar 200 g", Decimal("49.00"), 1, 1),
        ("990", "Utgånget spel", Decimal("99.00"), 1, 2)]
    assert purchase.items[2].net_price == Decimal("79.20")
    assert purchase.value == Decimal("546.00")
    html = preview(cfg, "all", event="purchase", placement="head", now=NOW, order="50007")
    assert "990" in ids_in(html)
    by_article = demo_cfg(tmp_path / "a", shop={"id_field": "article_number"})
    fill(by_article, NOW)
    lines = EventSource(by_article, Store.in_dir(by_article.data_dir), NOW).purchase("50007")
    assert [i.id for i in lines.items] == ["DB-1030-S", "DB-1020", "DB-990"]


def _line(product_id, model, name, price=None, tax=None, quantity=1):
    line = {"product_id": product_id, "model": model, "name": name, "quantity": quantity}
    if price is not None:
        line["price_each"] = price
    if tax is not None:
        line["tax"] = tax
    return line


def test_a_purchase_never_drops_a_line(tmp_path):
    """Lines whose product is hidden, unpriced, unknown, or named by an article number
    only: each stays, with the feeds' id where the store knows the product."""
    order = {"id": 60001, "currency": "SEK", "date_added": int(NOW.timestamp()) - 3600,
             "products": [
                 _line(1010, "DB-1010", "Gömd produkt", 8, 25),      # hidden
                 _line(1013, "DB-1013", "Okänd momsklass", 80, 25),   # unknown tax class
                 _line(None, "X-77", "Bara artikelnummer", 40, 25, 2),
                 _line(1001, "DB-1001", "Stigar genom skogen"),       # no price in the order
                 _line(995, "", "Inget pris", quantity=3)]}           # unknown, no price
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW, orders=[order])
    purchase = EventSource(cfg, Store.in_dir(cfg.data_dir), NOW).purchase("60001")
    assert [(i.id, i.name, i.price, i.net_price, i.quantity) for i in purchase.items] == [
        ("1010", "Gömd produkt", Decimal("10.00"), Decimal("8.00"), 1),
        ("1013", "Okänd momsklass", Decimal("100.00"), Decimal("80.00"), 1),
        ("X-77", "Bara artikelnummer", Decimal("50.00"), Decimal("40.00"), 2),
        ("1001", "Stigar genom skogen", Decimal("349.00"), Decimal("279.20"), 1),
        ("995", "Inget pris", Decimal("0.00"), Decimal("0.00"), 3)]
    assert purchase.value == Decimal("10.00") + 100 + 2 * 50 + 349
    by_article = demo_cfg(tmp_path / "a", shop={"id_field": "article_number"})
    fill(by_article, NOW, orders=[order])
    lines = EventSource(by_article, Store.in_dir(by_article.data_dir), NOW).purchase("60001")
    assert [i.id for i in lines.items] == ["DB-1010", "DB-1013", "X-77", "DB-1001", "995"]


# ---------------------------------------------------------------- no channel decides events


def all_events(cfg) -> list:
    """Every event the demo shop's store gives: each product page, each category list,
    each order (NotFound where there is none), as dataclasses."""
    source = EventSource(cfg, Store.in_dir(cfg.data_dir), NOW)

    def attempt(make):
        try:
            return make()
        except NotFound as exc:
            return f"NotFound: {exc}"

    found = [attempt(lambda r=raw: event_item(source.product(str(r["id"]))))
             for raw, _ in source.store.iter_products()]
    found += [attempt(lambda c=c: source.category_list(c)) for c in (110, 111, 120, 130, 140)]
    found += [attempt(lambda o=o: source.purchase(str(o))) for o in range(50001, 50012)]
    return found


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """Every event of the demo shop as it is, with every feed built."""
    cfg = demo_cfg(tmp_path_factory.mktemp("baseline"))
    fill(cfg, NOW)
    build_feeds(cfg, now=NOW)
    return all_events(cfg)


def _google_no() -> list[dict]:
    return demo_overrides(Path("unused"))["channels"]["google"]["targets"]


@pytest.mark.parametrize("channels", [
    {"criteo": {"min_price": 300}},                       # a Criteo-only filter
    {"google": {"min_price": 300}},                       # a Google-only filter
    {"google": {"enabled": False}},                       # Google off
    {"google": {"home": False, "targets": _google_no()}},  # Google's first feed is in NOK
    {"google": {"enabled": False, "home": False, "targets": _google_no()}},
    {"meta": {"enabled": False}, "criteo": {"enabled": False}},
], ids=["criteo-filter", "google-filter", "google-off", "google-nok-only",
        "google-off-nok", "google-alone"])
def test_no_channel_setting_changes_an_event(tmp_path, baseline, channels):
    """Events come from [shop] and the store alone: no channel's filter, target or
    switch changes one (prices, language, which products get events)."""
    cfg = demo_cfg(tmp_path, channels=channels)
    fill(cfg, NOW)
    build_feeds(cfg, now=NOW)
    assert all_events(cfg) == baseline


def test_events_need_no_build(tmp_path, baseline):
    """An enabled channel that was never built blocks nothing: no build at all, or only
    Google's, gives the same events."""
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    assert all_events(cfg) == baseline
    build_feeds(cfg, codes=["google"], now=NOW)
    assert all_events(cfg) == baseline


def test_a_criteo_only_filter_does_not_shrink_the_index(tmp_path):
    """`[channels.criteo] min_price = 300` once shrank the index from 187 to 63 keys. Now
    it changes only which entries list criteo among their feeds."""
    plain, filtered = demo_cfg(tmp_path / "plain"), demo_cfg(
        tmp_path / "filtered", channels={"criteo": {"min_price": 300}})
    found = {}
    for name, cfg in (("plain", plain), ("filtered", filtered)):
        store = fill(cfg, NOW)
        build_feeds(cfg, now=NOW)
        info = build_index(cfg, store, NOW)
        found[name] = {k: v for p in info.folder.glob("*.json")
                       for k, v in json.loads(p.read_text("utf-8")).items()}
    assert len(found["plain"]) == len(found["filtered"]) == 192   # 187 + 1012's five keys
    assert found["plain"].keys() == found["filtered"].keys()

    def without_feeds(entry):
        if "items" in entry:
            return {**entry, "items": [without_feeds(i) for i in entry["items"]]}
        return {k: v for k, v in entry.items() if k != "feeds"}

    assert {k: without_feeds(v) for k, v in found["plain"].items()} == \
        {k: without_feeds(v) for k, v in found["filtered"].items()}
    assert found["plain"]["i:1004"]["feeds"] == ["criteo", "google", "meta"]
    assert found["filtered"]["i:1004"]["feeds"] == ["google", "meta"]   # 279 SEK < 300
    assert found["filtered"]["i:1009"]["feeds"] == ["criteo", "google", "meta"]
    assert found["filtered"]["i:1012"]["feeds"] == []    # no image: in no feed


# ---------------------------------------------------------------- the command


def test_snippet_command(tmp_path):
    from feeds.cli import main

    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'data_dir = "{tmp_path / "data"}"\n[server]\n'
                        'public_url = "https://feeds.shop.se"\n[tracking]\nsite_key = "abc123"\n'
                        'ga4_id = "G-ABC1234"\n[shop]\nbase_url = "https://shop.se"\n')
    runner = CliRunner()
    loader = runner.invoke(main, ["--config", str(cfg_file), "snippet", "loader"])
    assert loader.output.strip() == \
        '<script async src="https://feeds.shop.se/t/abc123/loader.js"></script>'
    off = runner.invoke(main, ["--config", str(cfg_file), "snippet", "meta"])
    assert off.exit_code == 2 and "tracking.meta_pixel_id" in off.output


def test_snippet_after_building_google_alone(tmp_path):
    """`snippet ga4 --event view_item` works before any build and after `build google`
    alone, though Meta and Criteo are enabled and were never built."""
    from feeds.cli import main

    cfg_file = tmp_path / "vendre-feeds.toml"
    cfg_file.write_text(demo_toml(tmp_path / "data"), encoding="utf-8")
    fill(load_config(cfg_file, env={}), NOW)
    runner = CliRunner()
    snippet = ["--config", str(cfg_file), "snippet", "ga4", "--event", "view_item",
               "--product", "1001"]
    before = runner.invoke(main, snippet)
    assert before.exit_code == 0, before.output
    built = runner.invoke(main, ["--config", str(cfg_file), "build", "google"])
    assert built.exit_code == 0, built.output
    assert {p.name for p in (tmp_path / "data" / "feeds").glob("*.xml")} == \
        {"google.xml", "google-no.xml"}
    after = runner.invoke(main, snippet)
    assert after.exit_code == 0, after.output
    assert after.output == before.output
    assert ids_in(after.output) == {"1001"}
    assert '"item_name":"Stigar genom skogen"' in after.output
