"""One id policy: every id in every event is an id of the Google, Meta and Criteo feeds."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from click.testing import CliRunner
from lxml import etree

from feeds.errors import NotFound
from feeds.events.index import build_index
from feeds.events.snippets import preview
from feeds.events.source import EventSource, event_item
from feeds.pipeline.run import build_feeds
from feeds.storage.store import Store
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
# cheaper than 100), so events may only name what all three feeds hold.
SHOPS = {
    "id": {"shop": {"id_field": "id"}},
    "article_number": {"shop": {"id_field": "article_number"}},
    "filtered": {"shop": {"default_brand": ""},
                 "channels": {"meta": {"exclude_out_of_stock": True},
                              "criteo": {"min_price": 100}}},
}


@pytest.fixture(params=sorted(SHOPS))
def shop(request, tmp_path):
    cfg = demo_cfg(tmp_path, **SHOPS[request.param])
    fill(cfg, NOW)
    build_feeds(cfg, now=NOW)
    return cfg


def in_all_feeds(cfg) -> set[str]:
    google, meta, criteo = (feed_ids(cfg, s) for s in ("google", "meta", "criteo"))
    return google & meta & criteo


def test_every_event_id_is_a_feed_id(shop):
    common = in_all_feeds(shop)
    store = Store.in_dir(shop.data_dir)
    seen: set[str] = set()
    events = [("view_item", {"product": str(raw["id"])}) for raw, _ in store.iter_products()]
    events += [("add_to_cart", {"product": "1001"}), ("view_cart", {"product": "1022"}),
               ("begin_checkout", {"product": "1031"})]
    events += [("view_item_list", {"category": c}) for c in (110, 120, 130, 140)]
    events += [("purchase", {"order": str(o)}) for o in range(50001, 50012)]
    for name, ref in events:
        try:
            html = preview(shop, "all", event=name, placement="head", now=NOW, **ref)
        except NotFound:
            continue    # hidden, free, parent-less or unreadable: no event at all
        ids = ids_in(html)
        assert ids, (name, ref)
        assert ids <= common, (name, ref, ids - common)
        seen |= ids
    assert len(seen) >= 10


def test_every_index_id_is_a_feed_id(shop):
    """The loader's index names only ids all three feeds hold, and each such id has an
    entry."""
    info = build_index(shop, Store.in_dir(shop.data_dir), NOW)
    ids: set[str] = set()
    for path in info.folder.glob("*.json"):
        for entry in json.loads(path.read_text("utf-8")).values():
            ids.update(item["id"] for item in entry.get("items", [entry]))
    assert ids == in_all_feeds(shop)


def test_variant_parent_page_names_its_first_sellable_variant(shop):
    source = EventSource(shop, Store.in_dir(shop.data_dir), NOW)
    if not shop.shop.default_brand:   # the "filtered" shop: Meta drops the brandless shirts
        with pytest.raises(NotFound, match="no sellable variant"):
            source.product("1030")
        return
    by_article = shop.shop.id_field.value == "article_number"
    first = event_item(source.product("1030"))
    assert first.id == ("DB-1030-S" if by_article else "1031")
    assert first.group_id == ("DB-1030" if by_article else "1030")


def test_product_by_article_number(shop):
    source = EventSource(shop, Store.in_dir(shop.data_dir), NOW)
    assert source.product("DB-1001").vendre_id == 1001
    with pytest.raises(NotFound):
        source.product("DB-9999")
    with pytest.raises(NotFound, match="not a feed item"):
        source.product("1012")    # no image: in no feed, so in no event


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


def test_snippet_command(tmp_path):
    from feeds.cli import main

    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'data_dir = "{tmp_path / "data"}"\n[server]\n'
                        'public_url = "https://feeds.shop.se"\n[tracking]\nsite_key = "abc123"\n'
                        'ga4_id = "G-ABC1234"\n')
    runner = CliRunner()
    loader = runner.invoke(main, ["--config", str(cfg_file), "snippet", "loader"])
    assert loader.output.strip() == \
        '<script async src="https://feeds.shop.se/t/abc123/loader.js"></script>'
    off = runner.invoke(main, ["--config", str(cfg_file), "snippet", "meta"])
    assert off.exit_code == 2 and "tracking.meta_pixel_id" in off.output
