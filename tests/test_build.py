"""Building and publishing feeds: golden files, the fields easy to get wrong, safety."""

from __future__ import annotations

import gzip
import json
import os
from decimal import Decimal

import pytest
from lxml import etree

from feeds.channels import all_channels
from feeds.core.outputs import RssXml
from feeds.errors import LockBusy, StoreError
from feeds.formats.templates import templates_root
from feeds.pipeline.publish import history_versions
from feeds.pipeline.run import build_feeds
from feeds.storage.layout import Layout
from feeds.storage.lock import hold
from tests.conftest import NOW
from tests.feedkit import NS, demo_cfg, fill
from tests.goldens import assert_golden


@pytest.fixture
def demo(tmp_path):
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    return cfg


def build(cfg, *codes, **kw):
    return {r.stem: r for r in build_feeds(cfg, codes=codes, now=NOW, **kw)}


def parse(cfg, stem):
    return etree.parse(str(cfg.data_dir / "feeds" / f"{stem}.xml"))


def item(tree, item_id):
    found = tree.xpath(f"//item[g:id='{item_id}']", namespaces=NS)
    return found[0] if found else None


def text(node, path):
    return node.xpath(f"string({path})", namespaces=NS)


# ---------------------------------------------------------------- whole outputs


def test_golden_feeds(demo):
    results = build(demo)
    assert set(results) == {"google", "google-no", "meta", "criteo", "amazon", "afound",
                            "cdon", "fyndiq"}
    for stem in results:
        assert results[stem].published, results[stem].reason
        file = Layout(demo.data_dir).published_feed(stem).file  # amazon.json, google.xml ...
        assert_golden(f"feeds/{file}", (demo.data_dir / "feeds" / file).read_text())


def test_every_channel_has_a_template_and_a_golden_file():
    for channel in all_channels():
        fmt = channel.format
        if isinstance(fmt, RssXml):
            assert (templates_root() / fmt.template).is_file(), channel.code
        assert (templates_root().parent / "tests" / "golden" / "feeds" /
                f"{channel.code}.{fmt.extension}").is_file(), channel.code
        assert channel.spec_url.startswith("https://")


def test_outputs_are_well_formed_and_declare_g_once(demo):
    build(demo)
    for stem in ("google", "meta", "criteo", "google-no"):
        raw = (demo.data_dir / "feeds" / f"{stem}.xml").read_bytes()
        assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        assert raw.count(b'xmlns:g="http://base.google.com/ns/1.0"') == 1
        root = etree.fromstring(raw)
        assert root.tag == "rss" and root.get("version") == "2.0"
        gz = (demo.data_dir / "feeds" / f"{stem}.xml.gz").read_bytes()
        assert gzip.decompress(gz) == raw


# ---------------------------------------------------------------- fields


def test_prices_include_vat_with_currency(demo):
    build(demo)
    google = parse(demo, "google")
    assert text(item(google, "1001"), "g:price") == "349.00 SEK"
    assert text(item(google, "1026"), "g:price") == "399.00 SEK"       # 376.4151 x 1.06
    assert text(item(google, "1020"), "g:price") == "49.00 SEK"        # 43.75 x 1.12
    assert text(item(google, "1002"), "g:sale_price") == "249.00 SEK"
    assert text(item(google, "1003"), "g:sale_price_effective_date").count("/") == 1
    assert item(google, "1004").xpath("g:sale_price", namespaces=NS) == []   # expired
    norway = parse(demo, "google-no")
    assert text(item(norway, "1001"), "g:price") == "342.00 NOK"       # 349 x 0.98 = 342.02


def test_availability_words_per_channel(demo):
    build(demo)
    expected = {"1001": ("in_stock", "in stock"), "1006": ("out_of_stock", "out of stock"),
                "1005": ("preorder", "preorder"), "1007": ("backorder", "available for order")}
    google, meta = parse(demo, "google"), parse(demo, "meta")
    for item_id, (g_word, m_word) in expected.items():
        assert text(item(google, item_id), "g:availability") == g_word
        assert text(item(meta, item_id), "g:availability") == m_word
    assert text(item(google, "1005"), "g:availability_date").startswith("20")


def test_variants_grouped_and_parents_left_out(demo):
    build(demo)
    google = parse(demo, "google")
    for child, group in (("1022", "1021"), ("1023", "1021"), ("1031", "1030"), ("1033", "1030")):
        assert text(item(google, child), "g:item_group_id") == group
    assert item(google, "1021") is None and item(google, "1030") is None
    assert text(item(google, "1031"), "description")       # borrowed from the parent


def test_excluded_and_dropped_items(demo):
    results = build(demo)
    google = parse(demo, "google")
    for missing in ("1010", "1011", "1012", "1013"):   # hidden, price 0, no image, tax 9
        assert item(google, missing) is None
    counts = results["google"].counts
    assert counts.errors["image_link_required"] == 1
    assert counts.errors["tax_class_unknown"] == 1
    assert "price_required" not in counts.errors      # not reported twice
    report = json.loads((demo.data_dir / "reports" / "google.json").read_text())
    assert report["published"] and report["counts"]["items"] == counts.items
    assert {v["item_id"] for v in report["violations"]
            if v["severity"] == "error"} == {"1012", "1013"}


def test_gtin_identifiers(demo):
    build(demo)
    google = parse(demo, "google")
    assert text(item(google, "1014"), "g:gtin") == "036000291452" or \
        len(text(item(google, "1014"), "g:gtin")) == 12
    assert item(google, "1016").xpath("g:gtin", namespaces=NS) == []        # bad check digit
    no_ids = item(google, "1018")
    assert text(no_ids, "g:identifier_exists") == "no"
    mpn_only = item(google, "1017")
    assert text(mpn_only, "g:mpn") and not mpn_only.xpath("g:identifier_exists", namespaces=NS)


def test_text_is_plain_and_titles_are_cut(demo):
    build(demo)
    google = parse(demo, "google")
    for node in google.xpath("//item/title | //item/description"):
        assert "<" not in (node.text or "") or "<20 mm>" in node.text
        assert not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in node.text or "")
        assert "&amp;" not in (node.text or "")
    title = text(item(google, "1009"), "title")
    assert len(title) <= 150 and title.endswith("…")
    assert text(item(parse(demo, "meta"), "1009"), "title") != title   # Meta allows 200
    raw = (demo.data_dir / "feeds" / "google.xml").read_text()
    assert "Tärning &#34;Deluxe&#34; &lt;20 mm&gt; &amp; co" in raw or \
        'Tärning "Deluxe" &lt;20 mm&gt; &amp; co' in raw


def test_meta_brand_defaults_and_criteo_ids(demo):
    build(demo)
    meta = parse(demo, "meta")
    assert text(item(meta, "1018"), "g:brand") == "Demobutiken"    # default_brand
    criteo = parse(demo, "criteo")
    assert all(i.isascii() and '"' not in i for i in criteo.xpath("//g:id/text()",
                                                                    namespaces=NS))


def test_bestseller_label_from_orders(demo):
    build(demo, "google")
    google = parse(demo, "google")
    labelled = {i.xpath("string(g:id)", namespaces=NS)
                for i in google.xpath("//item[g:custom_label_0='bestseller']", namespaces=NS)}
    assert labelled == {"1001"}     # 6 units in 30 days; the next sold 5 (demo orders)


def test_filters_and_extra_values(tmp_path):
    cfg = demo_cfg(tmp_path, channels={"meta": {"exclude_categories": [130],
                                                 "exclude_out_of_stock": True,
                                                 "min_price": 100,
                                                 "extra": {"condition": "new",
                                                           "custom_label_3": "sommar",
                                                           "shipping_label": "stor"}}})
    fill(cfg, NOW)
    result = build(cfg, "meta")["meta"]
    meta = parse(cfg, "meta")
    assert item(meta, "1026") is None           # book: category 130's child 131
    assert item(meta, "1006") is None           # out of stock
    assert result.counts.excluded["in exclude_categories"] >= 4
    first = meta.xpath("//item", namespaces=NS)[0]
    assert text(first, "g:custom_label_3") == "sommar"
    assert text(first, "g:shipping_label") == "stor"
    assert len(first.xpath("g:condition", namespaces=NS)) == 1


def test_id_field_article_number(tmp_path):
    cfg = demo_cfg(tmp_path, shop={"id_field": "article_number"})
    fill(cfg, NOW)
    build(cfg, "google")
    google = parse(cfg, "google")
    assert text(item(google, "DB-1001"), "g:price") == "349.00 SEK"
    assert text(item(google, "DB-1030-M"), "g:item_group_id") == "DB-1030"
    assert text(item(google, "DB-1001"), "g:custom_label_0") == "bestseller"


# ---------------------------------------------------------------- real data


def test_real_fixture_builds_every_channel(tmp_path, real_products):
    from tests.feedkit import demo_cfg as cfg_for

    cfg = cfg_for(tmp_path, shop={"base_url": "https://dragonslair.se",
                                  "default_brand": "Dragon's Lair"})
    fill(cfg, NOW, products=real_products, categories=[], orders=[])
    results = build(cfg, "google", "meta", "criteo")
    for stem in ("google", "meta", "criteo"):
        r = results[stem]
        assert r.published
        no_image = sum(1 for p in real_products if p["show"] and not p["images"])
        # The only errors: products without an image (Google, Meta, Criteo require one).
        assert dict(r.counts.errors) == ({"image_link_required": no_image} if no_image else {})
        hidden = sum(1 for p in real_products if not p["show"])
        free = sum(1 for p in real_products if p["show"] and not p["price"])
        assert r.counts.excluded == {"hidden (show false)": hidden, "no price above 0": free}
        assert r.counts.items == len(real_products) - hidden - free - no_image
    google = parse(cfg, "google")
    assert text(item(google, "10160"), "g:price") == "549.00 SEK"
    assert Decimal(text(item(google, "10160"), "g:price").split()[0]) == Decimal("549.00")


# ---------------------------------------------------------------- publishing safety


def test_drop_guard_keeps_the_old_feed(tmp_path):
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build(cfg, "google")
    before = (cfg.data_dir / "feeds" / "google.xml").read_bytes()
    from feeds.demo.catalog import demo_products

    fill(cfg, NOW, products=demo_products(NOW)[:12])
    result = build(cfg, "google")["google"]
    assert not result.published and "drop guard" in result.reason
    assert (cfg.data_dir / "feeds" / "google.xml").read_bytes() == before
    report = json.loads((cfg.data_dir / "reports" / "google.json").read_text())
    assert report["published"] is False and "drop guard" in report["reason"]
    forced = build(cfg, "google", force=True)["google"]
    assert forced.published and forced.counts.items < 12


def test_interrupted_build_leaves_the_old_feed(tmp_path, monkeypatch):
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build(cfg, "google")
    feed = cfg.data_dir / "feeds" / "google.xml"
    before = feed.read_bytes()
    import feeds.pipeline.items as build_module

    calls = {"n": 0}
    real = build_module._one  # every product, whether prepared at sync or not

    def dies_midway(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(build_module, "_one", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        build(cfg, "google")
    assert feed.read_bytes() == before
    leftovers = [p.name for p in feed.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_override_template(tmp_path):
    override = tmp_path / "mine" / "feeds"
    override.mkdir(parents=True)
    shipped = (templates_root() / "feeds" / "_rss.xml").read_text()
    (override / "google.xml").write_text(
        shipped.replace("<g:condition>{{ item.condition }}</g:condition>",
                        "<g:condition>{{ item.condition }}</g:condition>\n"
                        "<g:custom_label_4>{{ item.title }}</g:custom_label_4>"))
    cfg = demo_cfg(tmp_path, build={"templates_dir": str(tmp_path / "mine")})
    fill(cfg, NOW)
    assert build(cfg, "google")["google"].published
    google = parse(cfg, "google")
    assert text(item(google, "1019"), "g:custom_label_4") == 'Tärning "Deluxe" <20 mm> & co'


@pytest.mark.parametrize(("old", "new", "why"), [
    ("{% for item in items %}", "{% for item in items if item.id != '1001' %}", "items"),
    ("<g:id>{{ item.id }}</g:id>", "<g:id>{{ item.id }}</g:id><oops>", "not well-formed"),
    ("{{ item.title }}", "{{ item.no_such_field }}", "template feeds/google.xml"),
    ('xmlns:g="http://base.google.com/ns/1.0"', 'xmlns:g="urn:wrong"', "namespace"),
])
def test_broken_override_is_never_published(tmp_path, old, new, why):
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build(cfg, "google")
    before = (cfg.data_dir / "feeds" / "google.xml").read_bytes()
    override = tmp_path / "mine" / "feeds"
    override.mkdir(parents=True)
    shipped = (templates_root() / "feeds" / "_rss.xml").read_text()
    assert old in shipped
    (override / "google.xml").write_text(shipped.replace(old, new, 1))
    broken = demo_cfg(tmp_path, build={"templates_dir": str(tmp_path / "mine")})
    result = build(broken, "google")["google"]
    assert not result.published and why in result.reason, result.reason
    assert (cfg.data_dir / "feeds" / "google.xml").read_bytes() == before


def test_history_and_diff(tmp_path):
    from datetime import timedelta

    from feeds.channels import get_channel
    from feeds.demo.catalog import demo_products
    from feeds.pipeline.diff import diff_latest, format_diff

    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build(cfg, "google")
    changed = demo_products(NOW)
    changed[0]["price"] = 300          # 1001: 375.00 with VAT
    changed = [p for p in changed if p["id"] != 1002]
    fill(cfg, NOW, products=changed)
    build_feeds(cfg, codes=["google"], now=NOW + timedelta(hours=1))
    layout = Layout(cfg.data_dir)
    assert len(history_versions(layout, "google")) == 2
    diff = diff_latest(layout, "google", get_channel("google"))
    assert diff.removed == ["1002"] and diff.added == []
    assert diff.changed["1001"] == [("price", "349.00 SEK", "375.00 SEK")]
    assert "1 removed" in format_diff(diff)


def test_history_is_pruned(tmp_path):
    cfg = demo_cfg(tmp_path, build={"history_versions": 3})
    fill(cfg, NOW)
    from datetime import timedelta

    for hours in range(5):
        build_feeds(cfg, codes=["google"], now=NOW + timedelta(hours=hours))
    assert len(history_versions(Layout(cfg.data_dir), "google")) == 3


def test_validate_publishes_nothing(tmp_path):
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    results = build(cfg, "google", publish_feeds=False, keep_first=5)
    assert results["google"].counts.items > 0 and not results["google"].published
    assert len(results["google"].first_violations) <= 5
    assert not (cfg.data_dir / "feeds" / "google.xml").exists()
    assert not (cfg.data_dir / "reports").exists()


def test_two_builds_never_run_at_once(demo):
    with hold(Layout(demo.data_dir).lock("build"), "build"), pytest.raises(LockBusy):
        build(demo, "google")
    assert build(demo, "google")["google"].published     # released afterwards


def test_build_without_a_snapshot(tmp_path):
    with pytest.raises(StoreError, match="vendre-feeds sync"):
        build(demo_cfg(tmp_path))


def test_lock_is_released_when_the_holder_dies(tmp_path):
    path = tmp_path / ".lock-build"
    pid = os.fork()
    if pid == 0:  # child: take the lock and die without releasing it
        with hold(path, "build"):
            os._exit(0)
    os.waitpid(pid, 0)
    with hold(path, "build"):
        pass
