"""Parsing is total (issue 9, "A build never dies on one product").

`parse_product`, `parse_category` and `parse_order` take any JSON value in any
field and return a result, with a violation where a product's field was
unusable; they never raise. Property-based: products are generated from the
real fixture's shape (and from a hand-written product of the same shape, so the
properties run where ../shared is absent), one field at a time replaced by
arbitrary JSON.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feeds.channels import weight
from feeds.core.ids import IdField
from feeds.core.model import Category, Customer, Order, Product
from feeds.core.pricing import Pricing
from feeds.core.text import strip_xml_illegal
from feeds.core.validation import Severity, Violation, has_error
from feeds.vendre import parse as parse_module
from feeds.vendre.parse import (
    DeriveContext,
    not_sellable_because,
    order_key,
    parse_category,
    parse_order,
    parse_product,
    to_datetime,
)
from tests.conftest import NOW

TAX = {2: Decimal(25), 3: Decimal(6)}

# No example database: the suite writes nothing into the working tree.
FUZZ = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
# Per field (68 of them), fewer examples each: the suite stays fast.
FUZZ_EACH = settings(FUZZ, max_examples=10)


def ctx(**kw: Any) -> DeriveContext:
    base: dict[str, Any] = dict(base_url="https://shop.se", language="sv", id_field=IdField.ID,
                                pricing=Pricing(home_currency="SEK", tax_classes=TAX), now=NOW)
    base.update(kw)
    return DeriveContext(**base)


# ---------------------------------------------------------------- the shape

# A product with the real fixture's 68 keys (../shared/fixtures/vendre-sample-products.json),
# written by hand so that the properties run without ../shared.
HANDMADE: dict[str, Any] = {
    "id": 20001, "ordered": 3, "article_number": "A-9001",
    "associated_products": [{"id": 5291, "model": "A-1028", "priority": "0", "type": 0}],
    "attributes": [], "category_ids": [990],
    "category_paths": ["Rollspel & Tärningar|Tillbehör och tärningar|Tärningar i set"],
    "child_product_ids": [], "collection": None, "commodity_code": "", "country_of_origin": "",
    "customer_groups": [{"id": 1, "status": True, "price": None},
                        {"id": 0, "status": True, "price": None}],
    "date_added": 1777993984, "date_available": None, "date_modified": 1779091300,
    "delivery_time": "",
    "description": {"sv": "<p>Sju tärningar&nbsp;i <strong>bärnsten</strong>.</p>\r\n<p>\u00a0</p>",
                    "en": "<p>Seven amber dice.</p>"},
    "description_short": {"sv": "", "en": "<p>Amber dice.</p>"},
    "ean1": "4006381333931", "external_id": "165265",
    "extra": {"1": {"sv": "0", "en": "0"}, "3": {"sv": "2026-05-05", "en": "2026-05-05"}},
    "featured": False,
    "images": [{"id": 16612, "path": "/products/f/Fluorite-3.jpg",
                "url": {"full": "https://shop.se/image/16612/Fluorite-3.jpg",
                        "thumbnail": "https://shop.se/thumb/16612/480x480/Fluorite-3.jpg"},
                "description": "", "sort_order": 0},
               {"id": 16615, "path": "/products/b/BlackHexBoxNew3_2048x.jpeg",
                "url": {"full": "https://shop.se/image/16615/BlackHexBoxNew3_2048x.jpeg",
                        "thumbnail": "https://shop.se/thumb/16615/480x480/BlackHex.jpeg"},
                "description": "", "sort_order": 0}],
    "inactivate_stock_under_zero": None, "is_parent": False, "lead_time": None,
    "lowest_number": 0, "manufacturer_id": 12, "manufacturer_model": "UD39",
    "manufacturer_name": "Dice & Co", "meta_description": {"sv": "Tärningar", "en": "Dice"},
    "meta_keywords": {"sv": "", "en": ""}, "meta_title": {"sv": "Tärningar", "en": "Dice"},
    "name": {"sv": "Tärningsset Bärnsten", "en": "Dice Set Amber"}, "new_until": "2025-03-30",
    "note": "", "package_size": None, "parent": 0, "price": 439.2, "price_in": 160,
    "price_rek": None, "price_special": None, "price_special_date_range": None,
    "purchase_limits": {"customer_groups": {}, "customer_types": {}, "price_lists": {}},
    "quantity": 1, "quantity_update": 1, "reorder_stock": None, "replacement_product": "",
    "search_engine_text": {"sv": "", "en": ""},
    "seo_link": {"sv": "rollspel/tarningar/tarningsset-barnsten/",
                 "en": "en/rpgs/dice/dice-set-amber/"},
    "shipping_class": 8, "show": True, "sort_order": 100000,
    "specifications": {"value": [], "text": [{"id": 1603, "value": {"sv": "411567", "en": ""},
                                              "short_value": {"sv": "", "en": ""}}]},
    "status": True, "stock_allow_checkout": None, "stock_allow_watch": None, "stock_place": "",
    "suppliers": [{"id": 4, "model": "", "price": "160.0000", "currencies_id": 3}],
    "tag_ids": [423], "tax_class_id": 2, "type": "st", "url": {"sv": "", "en": ""},
    "variant_products": {}, "variants": {},
    "warehouses": [{"external_id": "svea", "quantity": 1, "location": None}],
    "weight": 1.5,
    "actions": {"product_url": "https://shop.se/API/1/products/20001",
                "product_save_url": "https://shop.se/API/1/products/20001",
                "product_delete_url": "https://shop.se/API/1/products/20001"},
}
FIELDS = sorted(HANDMADE)
VARIANT_FIELDS = ("parent", "is_parent", "child_product_ids", "variants", "variant_products")

# ---------------------------------------------------------------- arbitrary JSON

ODD_TEXTS = [
    "", " ", "\u00a0", "0", "-1", "1e999999999999999999", "1E-999999999999999999", "NaN",
    "Infinity", "160,0000", "²²²²²²²²²²²²²", "٣٤٥٦٧٨٩٠١٢٣٤٥", "１２３４５６７８", "\x00\x0b\x1a",
    "\ud800", "a\udfffb", "\ufffe\uffff", "\u202eevil", "e\u0301" * 40, "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🐉",
    "x" * 100_000, "<p>" * 3000, "9" * 5000, "&#0;&#xD800;&amp;&lt;b&gt;", "]]><!--", "A|B||C",
    "<p> </p>\r\n<p>\u00a0</p>", "9999-12-31T23:59:59-14:00", "0001-01-01", "0000-00-00",
    "2026-13-45", "1787868000", "1787868000000", "2026-01-01/2026-02-01", "https://x/ y,z.webp",
    "/relative path/ä.jpg", "javascript:alert(1)",
]
ODD_NUMBERS = [0, -1, 1, 2, 2**63, -(2**63) - 1, 2**64, 10**30, 10**300, 1e308, -1e308,
               5e-324, 1e-300, 0.1, -0.0, 1.5, 499.0566, 1787868000, -62169988332,
               math.inf, -math.inf, math.nan]
# Keys that make nested objects reach the code that reads them (languages, images, ranges).
KEYS = ["sv", "en", "nb", "", "url", "full", "path", "from", "to", "start", "end", "id",
        "class", "value", "name", "quantity", "price", "products", "product_id", "model"]


def json_values(*, big_ints: bool = True, surrogates: bool = True) -> st.SearchStrategy[Any]:
    """Any JSON value: none, booleans, numbers, strings, lists and objects, nested."""
    texts = ODD_TEXTS if surrogates else [t for t in ODD_TEXTS if t == strip_xml_illegal(t)
                                          or "\ud800" not in t and "\udfff" not in t]
    numbers = ODD_NUMBERS if big_ints else [n for n in ODD_NUMBERS
                                            if not isinstance(n, int) or -(2**63) <= n < 2**63]
    scalars = st.one_of(
        st.none(), st.booleans(),
        st.integers() if big_ints else st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False), st.text(), st.sampled_from(texts),
        st.sampled_from(numbers))
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4),
        max_leaves=12)


ANY_JSON = json_values()


def with_field(product: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(product)
    changed[key] = value
    return changed


# ---------------------------------------------------------------- what must hold


def assert_total(raw: Any, product: Any, parent: Any = None) -> None:
    """A Product whose values the feeds can write, with only Violation objects; and the
    build's shortcut for products not for sale (`not_sellable_because`) agrees with it."""
    assert isinstance(product, Product)
    early = not_sellable_because(raw, parent)
    if early:
        assert not product.sellable and product.not_sellable_because == early
    elif isinstance(raw, dict):
        assert product.sellable, product.not_sellable_because
    if isinstance(raw, dict) and type(raw.get("id")) is int:
        assert product.vendre_id == raw["id"]
    assert all(isinstance(v, Violation) and isinstance(v.severity, Severity) and v.rule
               and isinstance(v.message, str) and len(v.message) < 400
               for v in product.violations)
    # The outer guard is a last resort: the type checks must have handled every input.
    assert not [v for v in product.violations if v.rule == "parse_failed"], product.violations
    # (`article_number` is kept as Vendre sends it: a feed id only when [shop] id_field
    # names it, and then checked as one.)
    texts = [product.title, product.description, product.link, product.brand, product.mpn,
             product.group_id or "", product.gtin or "", *product.images,
             *product.category_path, product.variant_label]
    if not has_error(product.violations):
        texts.append(product.feed_id)
    for text in texts:
        assert isinstance(text, str) and strip_xml_illegal(text) == text, text
    assert all(isinstance(v, str) for v in product.seo_paths.values())
    assert all(type(i) is int for i in product.category_ids)
    assert isinstance(product.quantity, int) and product.quantity >= 0
    for money in (product.price, product.sale_price, product.net_price):
        if money is not None:
            money.format()                      # quantizes to cents: must not fail
    assert len(weight(product.weight_kg)) < 60
    for moment in (product.availability_date, product.sale_start, product.sale_end):
        if moment is not None:
            moment.astimezone(UTC)


# ---------------------------------------------------------------- every field in turn


@pytest.mark.parametrize("key", FIELDS)
@FUZZ_EACH
@given(value=ANY_JSON)
def test_any_value_in_any_field_of_the_handmade_product(key, value):
    raw = with_field(HANDMADE, key, value)
    assert_total(raw, parse_product(raw, ctx()))
    # Out of stock and on sale, so that date_available and the sale range are read too.
    other = {"quantity": 0, "price_special": 300}
    raw = with_field(HANDMADE | other, key, value)
    assert_total(raw, parse_product(raw, ctx(id_field=IdField.ARTICLE_NUMBER, language="en")))


@FUZZ
@given(data=st.data())
def test_any_value_in_any_field_of_the_real_products(real_products, data):
    base = data.draw(st.sampled_from(real_products))
    for key in FIELDS:
        raw = with_field(base, key, data.draw(ANY_JSON, label=key))
        assert_total(raw, parse_product(raw, ctx(base_url="https://dragonslair.se")))


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(FIELDS), ANY_JSON, min_size=2, max_size=8))
def test_several_fields_at_once(changes):
    raw = {**copy.deepcopy(HANDMADE), **changes}
    assert_total(raw, parse_product(raw, ctx()))


@FUZZ
@given(raw=ANY_JSON)
def test_a_product_that_is_not_an_object(raw):
    product = parse_product(raw, ctx())
    assert_total(raw, product)
    if not isinstance(raw, dict):
        assert not product.sellable and has_error(product.violations)


# ---------------------------------------------------------------- variants and parents


@FUZZ
@given(variants=st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), ANY_JSON,
                                max_size=5),
       variant_products=st.dictionaries(st.text(max_size=6), ANY_JSON, max_size=5),
       children=ANY_JSON)
def test_nested_objects_in_the_variant_fields(variants, variant_products, children):
    for fields in ({"parent": 20000}, {"is_parent": True, "child_product_ids": children}):
        raw = {**copy.deepcopy(HANDMADE), "variants": variants,
               "variant_products": variant_products, **fields}
        parent = copy.deepcopy(HANDMADE) | {"id": 20000}
        product = parse_product(raw, ctx(), parent)
        assert_total(raw, product, parent)
        assert product.raw_variant.get("variants") == variants


@FUZZ
@given(key=st.sampled_from(FIELDS), value=ANY_JSON,
       id_field=st.sampled_from(list(IdField)))
def test_a_hostile_parent(key, value, id_field):
    parent = with_field(HANDMADE | {"id": 20000, "is_parent": True}, key, value)
    child = {**copy.deepcopy(HANDMADE), "parent": 20000, "name": {"sv": ""},
             "description": {}, "manufacturer_name": None, "category_ids": [],
             "category_paths": [], "images": []}
    product = parse_product(child, ctx(id_field=id_field), parent)
    assert_total(child, product, parent)
    assert product.parent_id == 20000 and product.group_id


@FUZZ
@given(parent=ANY_JSON)
def test_a_parent_that_is_not_a_product_object(parent):
    child = {**copy.deepcopy(HANDMADE), "parent": 20000}
    assert_total(child, parse_product(child, ctx(), parent), parent)


# ---------------------------------------------------------------- unusable fields are named


@pytest.mark.parametrize(("key", "value", "rule"), [
    ("category_paths", {"0": "A|B"}, "field_unusable"),   # was KeyError: 0, the whole build
    ("category_paths", [5, "A|B"], "field_unusable"),
    ("category_ids", {"a": 990}, "field_unusable"),
    ("category_ids", ["990", 990, True], "field_unusable"),
    ("name", ["Tärningar"], "field_unusable"),
    ("description", 5, "field_unusable"),
    ("description_short", True, "field_unusable"),
    ("manufacturer_name", {"sv": "Acme"}, "field_unusable"),
    ("manufacturer_model", ["UD39"], "field_unusable"),
    ("ean1", {"ean": "4006381333931"}, "field_unusable"),
    ("ean1", "²²²²²²²²²²²²²", "gtin_invalid"),
    ("images", 5, "field_unusable"),
    ("seo_link", "rollspel/", "field_unusable"),
    ("seo_link", {"sv": 5}, "field_unusable"),
    ("quantity", [1], "field_unusable"),
    ("weight", "heavy", "field_unusable"),
    ("weight", "1E-999999999999999999", "field_unusable"),
    ("status", "yes", "field_unusable"),
    ("show", 1, "field_unusable"),
    ("is_parent", "no", "field_unusable"),
    ("stock_allow_checkout", "x", "field_unusable"),
    ("parent", [1], "field_unusable"),
    ("child_product_ids", "1,2", "field_unusable"),
    ("article_number", {"a": 1}, "field_unusable"),
    ("price", {"amount": 10}, "price_unreadable"),
    ("price", 1e30, "price_unreadable"),               # was decimal.InvalidOperation
    ("price", "1e999999999999999999", "price_unreadable"),
    ("tax_class_id", True, "tax_class_unknown"),
    ("id", [1], "id_unusable"),
    ("id", True, "id_unusable"),
])
def test_an_unusable_field_is_a_named_violation(key, value, rule):
    raw = with_field(HANDMADE, key, value)
    product = parse_product(raw, ctx())
    assert_total(raw, product)
    found = [v for v in product.violations if v.rule == rule]
    assert found, product.violations
    expected = Severity.WARNING if rule in ("field_unusable", "gtin_invalid") else Severity.ERROR
    assert all(v.severity is expected for v in found)
    if rule == "field_unusable":
        assert any(v.field == key for v in found)
        assert not has_error(product.violations) or key in ("status", "show")
        assert product.title == "Tärningsset Bärnsten" or key == "name"


def test_date_available_unreadable_is_named():
    raw = with_field(HANDMADE | {"quantity": 0}, "date_available", {"at": 1})
    assert [v.field for v in parse_product(raw, ctx()).violations] == ["date_available"]


def test_the_article_number_as_id_when_unusable_is_an_error():
    raw = with_field(HANDMADE, "article_number", ["A-1"])
    product = parse_product(raw, ctx(id_field=IdField.ARTICLE_NUMBER))
    assert product.feed_id == ""
    assert [(v.rule, v.severity) for v in product.violations] == [("id_unusable",
                                                                    Severity.ERROR)]


def test_well_formed_handmade_product_has_no_violations():
    product = parse_product(copy.deepcopy(HANDMADE), ctx())
    assert product.violations == () and product.sellable
    assert product.category_path == ("Rollspel & Tärningar", "Tillbehör och tärningar",
                                     "Tärningar i set")
    assert product.gtin == "4006381333931" and product.weight_kg == Decimal("1.5")


def test_the_handmade_product_has_the_real_shape(real_products):
    assert {frozenset(p) for p in real_products} == {frozenset(HANDMADE)}
    for key in FIELDS:
        seen = {type(p[key]) for p in real_products}
        assert type(HANDMADE[key]) in seen or HANDMADE[key] is None, key


def test_the_outer_guard_returns_a_product_with_an_error(monkeypatch):
    def broken(*_args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(parse_module, "_seo_paths", broken)
    product = parse_product(copy.deepcopy(HANDMADE), ctx())
    assert isinstance(product, Product) and product.vendre_id == 20001
    assert not product.sellable
    assert [(v.rule, v.severity) for v in product.violations] == [("parse_failed",
                                                                    Severity.ERROR)]
    assert "RuntimeError: a bug" in product.violations[0].message


# ---------------------------------------------------------------- dates, categories, orders


@FUZZ
@given(value=ANY_JSON)
@example("²²²²")                                  # isdigit(), but int() refuses it
@example("9" * 5000)                              # more digits than int() reads
@example("9999-12-31T23:59:59-14:00")             # past datetime.max in UTC
@example(math.inf)
def test_to_datetime_is_total(value):
    moment = to_datetime(value)
    assert moment is None or (isinstance(moment, datetime) and moment.tzinfo is not None)
    if moment is not None:
        moment.astimezone(UTC)


CATEGORY_KEYS = ["id", "parent_id", "parent_external_id", "external_id", "name", "seo_link",
                 "status", "google_product_category", "date_added"]


@FUZZ
@given(raw=ANY_JSON | st.dictionaries(st.sampled_from(CATEGORY_KEYS), ANY_JSON))
def test_parse_category_is_total(raw):
    category = parse_category(raw)
    assert isinstance(category, Category) and type(category.id) is int
    assert category.parent_id is None or type(category.parent_id) is int
    assert all(isinstance(v, str) for v in category.names.values())
    assert all(isinstance(v, str) for v in category.seo_links.values())


ORDER_KEYS = ["id", "orders_id", "order_id", "number", "order_number", "date", "date_purchased",
              "currency", "products", "order_products", "lines", "totals", "total", "tax",
              "shipping", "status_id", "status", "orders_status", "status_name",
              "orders_status_name", "customers_email_address", "email", "customers_telephone",
              "customers_name", "customers_city", "customers_postcode", "customers_country",
              "customer", "billing_address"]
CUSTOMER_KEYS = ["id", "email", "email_address", "phone", "phone_mobile", "name_first",
                 "first_name", "name_last", "city", "address_city", "postcode",
                 "address_postcode", "country", "country_code", "address_country_code_alpha2"]
LINE_KEYS = ["product_id", "id", "model", "article_number", "name", "quantity", "qty",
             "price_each", "final_price", "price", "tax", "tax_rate"]


def _orders() -> st.SearchStrategy[Any]:
    line = st.dictionaries(st.sampled_from(LINE_KEYS), ANY_JSON)
    total = st.fixed_dictionaries({"class": st.sampled_from(["ot_total", "ot_tax", "total"])
                                   | ANY_JSON, "value": ANY_JSON})
    person = st.dictionaries(st.sampled_from(CUSTOMER_KEYS), ANY_JSON)
    return st.dictionaries(st.sampled_from(ORDER_KEYS), ANY_JSON | person
                           | st.lists(line, max_size=3) | st.lists(total, max_size=3))


@FUZZ
@given(raw=ANY_JSON | _orders(), field=st.sampled_from(["", "number", "id", "orders_id"]))
def test_parse_order_is_total(raw, field):
    key = order_key(raw)
    order = parse_order(raw, field)
    assert key is None or isinstance(key, str)
    assert order is None or isinstance(order, Order)
    if order is not None:
        assert order.id == key
        for amount in (order.total, order.tax, order.shipping,
                       *(x.unit_price_net for x in order.lines)):
            assert amount is None or (isinstance(amount, Decimal) and amount.is_finite())
        assert all(type(x.quantity) is int and x.quantity >= 0 for x in order.lines)
        assert all(isinstance(x.article_number, str) for x in order.lines)
        # The purchase fields: a non-empty one-line number, a status id that fits an int,
        # customer texts of sane length and a 2-letter country or none.
        assert isinstance(order.number, str) and order.number
        assert order.number == key or (order.number.strip() == order.number
                                       and order.number.isprintable()
                                       and len(order.number) <= 64)
        assert order.status_id is None or (type(order.status_id) is int
                                           and 0 <= order.status_id < 2 ** 31)
        assert isinstance(order.status_name, str)
        for name in ("id", "email", "phone", "first_name", "last_name", "city", "postcode"):
            value = getattr(order.customer, name)
            assert isinstance(value, str) and len(value) <= 200
        assert order.customer.country == "" or (len(order.customer.country) == 2
                                                and order.customer.country.isupper())
        # personal data never in a repr: the customer changes nothing of it (a fuzzed
        # order id or number may hold an "@" of its own)
        assert repr(order) == repr(dataclasses.replace(order, customer=Customer()))
