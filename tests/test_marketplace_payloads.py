"""CDON and Fyndiq payloads: what the build writes, checked against each marketplace's rules.

Whole payloads from the demo catalogue are golden files (tests/test_build.py); here the
fields that are easy to get wrong, the real sample fixture, the rules and the settings.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from feeds.config import load_config
from feeds.core.validation import lookup
from feeds.demo.catalog import demo_products
from feeds.errors import ConfigError
from feeds.pipeline.run import build_feeds
from tests.conftest import NOW, make_config
from tests.fakes.merchants_api import CDON, COVERED, FYNDIQ, _validate
from tests.feedkit import demo_cfg, fill

SCHEMAS = {"cdon": CDON, "fyndiq": FYNDIQ}


def built(cfg: Any, *codes: str) -> dict[str, Any]:
    """Build `codes`; {code: (result, {sku: article}, violations)}. Forced: these tests
    look at the payloads, and a first one of the books alone would be refused."""
    out = {}
    for result in build_feeds(cfg, codes=codes, now=NOW, force=True):
        document = json.loads((cfg.data_dir / "feeds" / f"{result.stem}.json").read_text())
        assert list(document) == ["articles"]
        report = json.loads((cfg.data_dir / "reports" / f"{result.stem}.json").read_text())
        out[result.stem] = (result, {a["sku"]: a for a in document["articles"]},
                            report["violations"])
    return out


def at(articles: dict[str, Any], path: str) -> Any:
    """A JSON path into the payload: `1001.price.0.value.amount`, or `1001.title[nb-NO]`
    for the value of one language."""
    sku, _, rest = path.partition(".")
    if "[" in rest:
        key, language = rest.rstrip("]").split("[")
        return next(e["value"] for e in articles[sku][key] if e["language"] == language)
    return lookup(articles[sku], rest)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    cfg = demo_cfg(tmp_path_factory.mktemp("demo"))
    fill(cfg, NOW)
    return built(cfg, "cdon", "fyndiq")


# ---------------------------------------------------------------- the demo catalogue


def test_every_article_is_one_the_marketplace_accepts(demo):
    for code, (result, articles, _violations) in demo.items():
        assert result.published and len(articles) == result.counts.items == 30
        for article in articles.values():
            assert _validate(SCHEMAS[code].create, article, COVERED) == [], article["sku"]
            assert not any(key.startswith("_") for key in article)


def test_prices_per_market_with_vat_as_a_fraction(demo):
    cdon, fyndiq = demo["cdon"][1], demo["fyndiq"][1]
    assert at(cdon, "1001.price.0") == {
        "market": "SE", "value": {"amount_including_vat": 349.0, "currency": "SEK",
                                  "vat_rate": 0.25}}
    assert at(cdon, "1001.price.1.value.amount_including_vat") == 342.0   # 349 x 0.98
    assert at(cdon, "1026.price.0.value.vat_rate") == 0.06                # a book in SE
    assert at(cdon, "1026.price.1.value.vat_rate") == 0.0                 # ... and in NO
    assert at(cdon, "1020.price.1.value.vat_rate") == 0.15                # NO's food rate
    assert "original_price" not in cdon["1002"]
    assert at(cdon, "1002.price.0.value.amount_including_vat") == 249.0  # the sale price
    assert at(fyndiq, "1002.price.0.value") == {"amount": 249.0, "currency": "SEK",
                                                "vat_rate": 0.25}
    assert at(fyndiq, "1002.original_price.0.value.amount") == 299.0
    assert at(fyndiq, "1002.price.1.value") == {"amount": 21.75, "currency": "EUR",
                                                "vat_rate": 0.255}
    assert "original_price" not in fyndiq["1004"]                         # the sale ended


def test_markets_texts_and_languages(demo):
    cdon, fyndiq = demo["cdon"][1], demo["fyndiq"][1]
    assert cdon["1001"]["markets"] == ["SE", "NO"] and fyndiq["1001"]["markets"] == ["SE", "FI"]
    assert at(cdon, "1001.title[nb-NO]") == "Stier gjennom skogen"
    assert [e["language"] for e in fyndiq["1001"]["title"]] == ["sv-SE", "en-US"]
    assert at(fyndiq, "1001.title[en-US]") == "Paths Through the Forest"
    assert at(cdon, "1001.shipping_time") == [{"market": "SE", "min": 1, "max": 3},
                                              {"market": "NO", "min": 3, "max": 7}]
    assert "<" not in at(fyndiq, "1002.description[sv-SE]")               # plain text


def test_titles_over_the_limit_are_cut_at_a_word_boundary_with_a_warning(demo):
    for code, limit in (("cdon", 150), ("fyndiq", 64)):
        _result, articles, violations = demo[code]
        title = at(articles, "1009.title[sv-SE]")
        assert len(title) <= limit and title.endswith("…") and " " in title
        assert title[:-1].rstrip() in demo_products(NOW)[8]["name"]["sv"]
        cut = [v for v in violations if v["item_id"] == "1009" and v["rule"] == "title_cut"]
        assert cut and cut[0]["severity"] == "warning"


def test_categories_images_brand_and_gtin(demo):
    cdon, fyndiq = demo["cdon"][1], demo["fyndiq"][1]
    assert cdon["1001"]["category"] == "1124" and fyndiq["1001"]["categories"] == ["11"]
    assert cdon["1035"]["category"] == "2211"       # 120's mapping
    assert cdon["1027"]["category"] == "3301"       # its first category (131) maps via 130
    assert cdon["1001"]["main_image"].startswith("https://")
    assert len(cdon["1001"]["images"]) == 2 and "images" not in cdon["1002"]
    assert cdon["1001"]["brand"] == "Nordspel"
    # brand is optional on both, and [shop] default_brand never sent there (issue 15).
    for articles in (cdon, fyndiq):
        assert "brand" not in articles["1004"] and "brand" not in articles["1018"]
    assert cdon["1014"]["gtin"] == "081234001018" and "gtin" not in cdon["1016"]


def test_variants_are_grouped_with_their_properties(demo):
    cdon, fyndiq = demo["cdon"][1], demo["fyndiq"][1]
    assert "1021" not in cdon and "1030" not in cdon                   # parents are no items
    assert cdon["1022"]["parent_sku"] == cdon["1023"]["parent_sku"] == "1021"
    assert fyndiq["1022"]["parent_sku"] == fyndiq["1023"]["parent_sku"] == "1022"
    assert fyndiq["1033"]["parent_sku"] == "1031"                      # the lowest variant id
    assert cdon["1022"]["variational_properties"] == ["color"]
    assert {"name": "color", "value": "Rød", "language": "nb-NO"} in cdon["1022"]["properties"]
    assert {"name": "size", "value": "L", "language": "en-US"} in fyndiq["1033"]["properties"]
    assert "parent_sku" not in cdon["1001"] and "properties" not in cdon["1001"]


def test_what_the_marketplace_would_refuse_is_left_out_and_reported(demo):
    for _code, (result, articles, violations) in demo.items():
        errors = {(v["item_id"], v["rule"]) for v in violations if v["severity"] == "error"}
        assert errors == {("1012", "main_image_required"), ("1013", "tax_class_unknown")}
        assert "1012" not in articles and "1013" not in articles
        assert result.counts.dropped == 2


# ---------------------------------------------------------------- rules, one at a time


def shop_with(tmp_path, changes: dict[int, dict[str, Any]], **channel: Any) -> Any:
    products = [dict(p, **changes.get(p["id"], {})) for p in demo_products(NOW)]
    cfg = demo_cfg(tmp_path, channels={
        "cdon": {"enabled": True, "default_category": "1", **channel},
        "fyndiq": {"enabled": True, "default_category": "1", **channel}})
    fill(cfg, NOW, products=products)
    return built(cfg, "cdon", "fyndiq")


def test_a_short_description_becomes_title_and_brand_with_a_warning(tmp_path):
    found = shop_with(tmp_path, {1014: {"description": {"sv": "<p>Kul!</p>", "en": "",
                                                        "nb": ""}}})
    for _code, (_r, articles, violations) in found.items():
        assert at(articles, "1014.description[sv-SE]") == "Rävspel – Foxtail Games"
        assert ("1014", "description_from_title", "warning") in {
            (v["item_id"], v["rule"], v["severity"]) for v in violations}


def test_stock_title_and_image_limits(tmp_path):
    found = shop_with(tmp_path, {
        1014: {"quantity": 600_000},
        1015: {"images": [{"path": "/a.jpg", "url": {"full": "http://cdn.example/a.jpg"}}]},
        1017: {"name": {"sv": "Ok", "en": "Ok", "nb": "Ok"}},
    })
    for _code, (_r, articles, violations) in found.items():
        rules = {(v["item_id"], v["rule"]) for v in violations}
        assert articles["1014"]["quantity"] == 500_000 and ("1014", "quantity_capped") in rules
        assert ("1015", "main_image_url") in rules and "1015" not in articles
        assert ("1017", "title_length") in rules and "1017" not in articles


def test_without_a_category_an_item_is_left_out(tmp_path):
    found = shop_with(tmp_path, {}, default_category="", categories={130: "77"})
    for code, (_r, articles, violations) in found.items():
        assert sorted(articles) == ["1026", "1027", "1028", "1029"]   # the books (130) only
        key = "categories" if code == "fyndiq" else "category"
        assert ("1001", f"{key}_required", "error") in {
            (v["item_id"], v["rule"], v["severity"]) for v in violations}


def test_no_price_in_one_market_keeps_the_item_out(tmp_path):
    cfg = demo_cfg(tmp_path, channels={"cdon": {
        "enabled": True, "default_category": "1",
        "markets": [{"market": "DK", "language": "sv", "rate": 0.65,
                     "tax_classes": {2: 25, 4: 25}}]}})   # no class 3: books have no price
    fill(cfg, NOW)
    _result, articles, violations = built(cfg, "cdon")["cdon"]
    assert "1026" not in articles and "1001" in articles
    assert {"item_id": "1026", "rule": "price_every_market", "severity": "error",
            "field": "price", "message": "no price above 0 in DK (unknown tax class?)"} \
        in violations
    assert at(articles, "1001.markets") == ["SE", "DK"]   # DK reads the Swedish texts


def test_fyndiq_text_that_reads_as_html_is_removed_with_a_warning(tmp_path):
    found = shop_with(tmp_path, {1014: {"description": {
        "sv": "<p>Ett spel &lt;b&gt;för&lt;/b&gt; listiga rävar.</p>", "en": "", "nb": ""}}})
    fyndiq, cdon = found["fyndiq"], found["cdon"]
    assert at(fyndiq[1], "1014.description[sv-SE]") == "Ett spel för listiga rävar."
    assert ("1014", "html_removed") in {(v["item_id"], v["rule"]) for v in fyndiq[2]}
    assert at(cdon[1], "1014.description[sv-SE]") == "Ett spel <b>för</b> listiga rävar."


def test_under_article_numbers_fyndiq_groups_by_the_parents_number(tmp_path):
    cfg = demo_cfg(tmp_path, shop={"id_field": "article_number"})
    fill(cfg, NOW)
    _r, fyndiq, _v = built(cfg, "fyndiq")["fyndiq"]
    # "the sku of the main article": the group's first published variant.
    assert fyndiq["DB-1021-RED"]["parent_sku"] == fyndiq["DB-1021-BLUE"]["parent_sku"] == \
        "DB-1021-RED"


# ---------------------------------------------------------------- the real sample


def test_real_products_give_articles_without_errors(tmp_path, real_products):
    cfg = make_config(tmp_path, shop={"base_url": "https://www.dragonslair.se"},
                      channels={"cdon": {"enabled": True, "default_category": "1124"},
                                "fyndiq": {"enabled": True, "default_category": "1"}})
    fill(cfg, NOW, products=real_products, categories=[], orders=[])
    found = built(cfg, "cdon", "fyndiq")
    for code, (result, articles, violations) in found.items():
        errors = {v["item_id"] for v in violations if v["severity"] == "error"}
        assert errors == {"10193"}                      # the one product without an image
        assert len(articles) == result.counts.items == 33
        for article in articles.values():
            assert _validate(SCHEMAS[code].create, article, COVERED) == [], article["sku"]
    cdon, fyndiq = found["cdon"][1], found["fyndiq"][1]
    assert at(cdon, "10161.price.0.value") == {"amount_including_vat": 129.0,
                                               "currency": "SEK", "vat_rate": 0.25}
    assert at(cdon, "10268.price.0.value.amount_including_vat") == 529.0   # 499.0566 x 1.06
    assert at(cdon, "10268.price.0.value.vat_rate") == 0.06
    assert at(cdon, "10163.gtin") == "801269152918"
    assert at(cdon, "10200.quantity") == 54 and at(cdon, "10164.quantity") == 0
    assert at(cdon, "10183.brand") == "Disney Lorcana"
    assert at(cdon, "10161.main_image").startswith("https://")
    assert "10208" not in cdon and "10187" not in cdon   # hidden; price 0
    assert all(len(at(fyndiq, f"{sku}.title[sv-SE]")) <= 64 for sku in fyndiq)


# ---------------------------------------------------------------- settings


def marketplace(tmp_path, name: str = "cdon", **table: Any):
    return load_config(env={}, use_file=False, overrides={
        "data_dir": str(tmp_path), "shop": {"base_url": "https://shop.example"},
        "channels": {name: {"enabled": True, "default_category": "1", **table}}})


def test_markets_follow_the_shop_and_their_tables(tmp_path):
    cfg = marketplace(tmp_path, markets=[{"market": "no", "language": "nb", "rate": 0.98,
                                          "shipping_time": {"max": 7}}])
    home, norway = cfg.channels["cdon"].targets
    assert (home.market, home.currency, home.file) == ("SE", "SEK", "cdon")
    assert (norway.market, norway.country, norway.currency, norway.file) == \
        ("NO", "NO", "NOK", "no")
    assert cfg.channels["cdon"].api_url == "https://merchants-api.cdon.com/api"
    assert cfg.channels["fyndiq"].api_url == "https://merchants-api.fyndiq.se/api/v1"
    assert not cfg.channels["fyndiq"].enabled and not cfg.channels["fyndiq"].push


@pytest.mark.parametrize(("name", "table", "message"), [
    ("cdon", {"markets": [{"market": "DE", "language": "en", "currency": "EUR", "rate": 0.09}]},
     r"channels\.cdon\.markets\[0\]\.market: cdon sells in SE, DK, FI or NO, got 'DE'"),
    ("cdon", {"markets": [{"market": "SE"}]},
     r"markets\[0\]\.market: SE is listed twice"),
    ("cdon", {"markets": [{"market": "NO", "language": "nb", "currency": "SEK"}]},
     r"markets\[0\]\.currency: NO takes NOK, got 'SEK'"),
    ("cdon", {"markets": [{"market": "NO", "language": "nb"}]},
     r"markets\[0\]\.rate: missing; needed to convert SEK to NOK"),
    ("fyndiq", {"markets": [{"market": "NO", "language": "nb", "rate": 1}]},
     r"channels\.fyndiq\.markets\[0\]\.language: fyndiq takes titles in en, sv, got 'nb'"),
    ("cdon", {"shipping_time": {"min": 5, "max": 2}},
     r"channels\.cdon\.shipping_time: min 5 is more than max 2"),
    ("cdon", {"shipping_time": {"max": 10}}, r"channels\.cdon\.shipping_time\.max: must be"),
    ("cdon", {"on_removed": "archive"}, r"channels\.cdon\.on_removed: one of 'delete', 'pause'"),
    ("cdon", {"api_url": "http://merchants-api.cdon.com/api"},
     r"channels\.cdon\.api_url: must be https"),
    ("cdon", {"categories": {"eleven": "1124"}}, r"channels\.cdon\.categories"),
])
def test_bad_marketplace_settings_name_the_key(tmp_path, name, table, message):
    with pytest.raises(ConfigError, match=message):
        marketplace(tmp_path, name, **table)


def test_a_disabled_marketplace_is_not_checked_against_the_shop(tmp_path):
    shop = {"country": "DE", "currency": "EUR", "base_url": "https://shop.example"}
    cfg = load_config(env={}, use_file=False, overrides={"data_dir": str(tmp_path),
                                                         "shop": shop})
    assert not cfg.channels["cdon"].enabled
    with pytest.raises(ConfigError, match=r"shop\.country: cdon sells in SE, DK, FI or NO"):
        load_config(env={}, use_file=False, overrides={
            "data_dir": str(tmp_path), "shop": shop,
            "channels": {"cdon": {"enabled": True, "default_category": "1"}}})


def test_loopback_api_urls_may_be_plain_http(tmp_path):
    cfg = marketplace(tmp_path, api_url="http://127.0.0.1:8123/api")
    assert cfg.channels["cdon"].api_url == "http://127.0.0.1:8123/api"


def test_the_issues_example_file_loads(tmp_path):
    path = tmp_path / "vendre-feeds.toml"
    path.write_text('''
[shop]
base_url = "https://shop.example"

[channels.cdon]
enabled = true
api_url = "https://merchants-api.cdon.com/api"
default_category = "1124"
categories = { 11 = "1124", 12 = "2211" }
shipping_time = { min = 1, max = 3 }
push = false
on_removed = "delete"

[[channels.cdon.markets]]
market = "NO"
language = "nb"
currency = "NOK"
rate = 0.98
rounding = 1
tax_classes = { 2 = 25, 3 = 15 }

[channels.cdon.markets.shipping_time]   # the starter file's form of a market's own table
min = 3
max = 7
''', encoding="utf-8")
    settings = load_config(path, env={}).channels["cdon"]
    assert settings.categories == {11: "1124", 12: "2211"}
    norway = settings.targets[1]
    assert (norway.market, norway.shipping_time.min, norway.shipping_time.max) == ("NO", 3, 7)
    assert norway.tax_classes == {2: 25, 3: 15} and str(norway.rate) == "0.98"
