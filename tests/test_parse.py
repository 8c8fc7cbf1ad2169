"""Deriving the catalogue model from Vendre JSON: real fixture data and edge cases."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import ean

from feeds.core.ids import IdField, feed_id
from feeds.core.model import Availability, Money
from feeds.core.pricing import Pricing
from feeds.core.validation import Severity
from feeds.vendre.parse import (
    DeriveContext,
    gtin_check_digit_ok,
    parse_category,
    parse_order,
    parse_product,
    to_datetime,
)
from tests.conftest import NOW

TAX = {2: Decimal(25), 3: Decimal(6), 4: Decimal(12), 5: Decimal(0)}


def ctx(**kw):
    base = dict(base_url="https://shop.se", language="sv", id_field=IdField.ID,
                pricing=Pricing(home_currency="SEK", tax_classes=TAX), now=NOW)
    base.update(kw)
    return DeriveContext(**base)


def product(**fields):
    raw = {"id": 1, "article_number": "A-1", "status": True, "show": True, "price": 100,
           "tax_class_id": 2, "quantity": 3, "name": {"sv": "Namn", "en": "Name"},
           "description": {"sv": "<p>Text</p>"}, "seo_link": {"sv": "kat/namn/", "en": "en/cat/"},
           "images": [], "parent": 0, "is_parent": False, "child_product_ids": [],
           "ean1": "", "manufacturer_model": "", "manufacturer_name": None}
    raw.update(fields)
    return raw


# ----------------------------------------------------------------- real data


def test_every_real_product_derives(real_products):
    for raw in real_products:
        p = parse_product(raw, ctx())
        assert p.feed_id == str(raw["id"])
        assert p.price is not None and p.price.currency == "SEK"
        assert p.title and "<" not in p.description
        assert p.link.startswith("https://shop.se/")


def test_real_prices_become_whole_kronor_with_vat(real_products):
    """Vendre prices are ex VAT; x 1.25 (class 2) or 1.06 (class 3) gives whole kronor."""
    for raw in real_products:
        p = parse_product(raw, ctx())
        assert p.price.amount == p.price.amount.to_integral_value(), (raw["id"], p.price)


def test_real_product_10160(real_products):
    raw = next(r for r in real_products if r["id"] == 10160)
    p = parse_product(raw, ctx())
    assert p.price == Money(Decimal("549.00"), "SEK")          # 439.2 x 1.25
    assert p.availability is Availability.IN_STOCK
    # sv description is an empty placeholder; the en short description is used
    assert p.description.startswith("A Lord of the Rings-inspired dice set")
    assert p.mpn == "UD39" and p.gtin is None
    assert p.category_path[0] == "Rollspel & Tärningar"
    assert p.images[0] == "https://dragonslair.se/image/16612/Fluorite-3.jpg"
    assert len(p.images) == 4


def test_real_hidden_products_are_not_sellable(real_products):
    hidden = [r for r in real_products if not r["show"]]
    assert hidden, "the fixture has hidden products"
    for raw in hidden:
        assert not parse_product(raw, ctx()).sellable


def test_real_eans_are_checked(real_products):
    for raw in real_products:
        p = parse_product(raw, ctx())
        if raw["ean1"]:
            assert p.gtin == raw["ean1"] or any(v.field == "gtin" for v in p.violations)


# ----------------------------------------------------------------- edge cases


def test_gross_price_rounds_half_up():
    assert parse_product(product(price=0.996), ctx()).price.amount == Decimal("1.25")  # 1.245
    assert parse_product(product(price="499.0566"), ctx()).price.amount == Decimal("623.82")


def test_unknown_tax_class_is_a_violation_not_a_crash():
    p = parse_product(product(tax_class_id=9), ctx())
    assert p.price is None
    assert [(v.severity, v.rule) for v in p.violations] == [(Severity.ERROR,
                                                             "tax_class_unknown")]


@pytest.mark.parametrize(("fields", "expected"), [
    ({"quantity": 2}, Availability.IN_STOCK),
    ({"quantity": 0}, Availability.OUT_OF_STOCK),
    ({"quantity": 0, "date_available": int((NOW + timedelta(days=9)).timestamp())},
     Availability.PREORDER),
    ({"quantity": 0, "date_available": int((NOW - timedelta(days=9)).timestamp())},
     Availability.OUT_OF_STOCK),
    ({"quantity": 0, "stock_allow_checkout": True}, Availability.BACKORDER),
    ({"quantity": 0, "stock_allow_checkout": None}, Availability.OUT_OF_STOCK),
])
def test_availability(fields, expected):
    p = parse_product(product(**fields), ctx())
    assert p.availability is expected
    # Google requires a date for both (answer/6324470): a backorder gets one too.
    assert (p.availability_date is not None) == (expected in (Availability.PREORDER,
                                                              Availability.BACKORDER))


def test_special_price_active_and_expired():
    ok = parse_product(product(price=80, price_special=60), ctx())
    assert ok.sale_price == Money(Decimal("75.00"), "SEK")
    window = {"from": int((NOW - timedelta(days=1)).timestamp()),
              "to": int((NOW + timedelta(days=1)).timestamp())}
    ranged = parse_product(product(price=80, price_special=60, price_special_date_range=window),
                           ctx())
    assert ranged.sale_price is not None and ranged.sale_end > NOW
    expired = {"from": "2020-01-01", "to": "2020-02-01"}
    assert parse_product(product(price=80, price_special=60,
                                 price_special_date_range=expired), ctx()).sale_price is None
    odd = parse_product(product(price=80, price_special=60, price_special_date_range=42), ctx())
    assert odd.sale_price is None and odd.violations[0].rule == "sale_range_unreadable"
    assert parse_product(product(price=80, price_special=90), ctx()).sale_price is None


@pytest.mark.parametrize(("ean", "gtin"), [
    ("4006381333931", "4006381333931"),   # EAN-13
    ("036000291452", "036000291452"),     # UPC-A
    ("96385074", "96385074"),             # EAN-8
    ("4006381333932", None),              # bad check digit
    ("12345", None),
    ("", None),
])
def test_gtin(ean, gtin):
    p = parse_product(product(ean1=ean), ctx())
    assert p.gtin == gtin
    assert any(v.rule == "gtin_invalid" for v in p.violations) == bool(ean and not gtin)


def test_language_fallback_and_link():
    p = parse_product(product(name={"sv": "", "nb": "Norsk"}), ctx())
    assert p.title == "Norsk"
    en = parse_product(product(), ctx(language="en"))
    assert en.title == "Name" and en.link == "https://shop.se/en/cat/"


def test_variant_child_borrows_from_parent_and_groups():
    parent = product(id=10, article_number="P-10", is_parent=True, child_product_ids=[11],
                     name={"sv": "T-shirt"}, manufacturer_name="Acme",
                     images=[{"url": {"full": "https://img/p.jpg"}}])
    child = product(id=11, article_number="P-10-M", parent=10, name={"sv": "T-shirt - M"},
                    description={"sv": ""})
    p = parse_product(child, ctx(), parent)
    assert p.group_id == "10" and p.sellable
    assert p.brand == "Acme" and p.images == ("https://img/p.jpg",)
    assert p.variant_label == "M"
    assert p.raw_variant["parent"] == 10
    by_article = parse_product(child, ctx(id_field=IdField.ARTICLE_NUMBER), parent)
    assert (by_article.feed_id, by_article.group_id) == ("P-10-M", "P-10")
    assert not parse_product(parent, ctx()).sellable


def test_feed_id_policy():
    assert feed_id({"id": 5, "article_number": "X"}, IdField.ID) == "5"
    assert feed_id({"id": 5, "article_number": " X "}, IdField.ARTICLE_NUMBER) == "X"
    p = parse_product(product(article_number=""), ctx(id_field=IdField.ARTICLE_NUMBER))
    assert any(v.rule == "id_missing" and v.severity is Severity.ERROR for v in p.violations)


def test_conversion_to_another_currency():
    pricing = Pricing(home_currency="SEK", tax_classes=TAX, currency="NOK",
                      rate=Decimal("0.98"), quantum=Decimal(1))
    p = parse_product(product(price=439.2), ctx(pricing=pricing))
    assert p.price == Money(Decimal("538.00"), "NOK")   # 549 x 0.98 = 538.02 -> 538


def test_unreadable_dates_never_crash():
    assert to_datetime(1_700_000_000_000) is None          # milliseconds: year 55840
    assert to_datetime("not a date") is None
    p = parse_product(product(quantity=0, date_available=1_700_000_000_000), ctx())
    assert p.availability is Availability.OUT_OF_STOCK


def test_an_id_xml_cannot_carry_is_an_error():
    p = parse_product(product(article_number="A\x01B"), ctx(id_field=IdField.ARTICLE_NUMBER))
    assert [v.rule for v in p.violations] == ["id_unusable"]


def test_categories_and_zero_dates():
    cat = parse_category({"id": 3, "parent_id": False, "name": {"sv": "A &amp; B"},
                          "google_product_category": 1239, "date_added": -62169988332})
    assert cat.parent_id is None and cat.names["sv"] == "A & B"
    assert to_datetime(-62169988332) is None


def test_orders_with_aliases():
    order = parse_order({"orders_id": 77, "date_purchased": "2026-11-01 10:00:00",
                         "order_products": [{"id": 5, "final_price": "10.5", "qty": 2}],
                         "totals": [{"class": "ot_total", "value": "26.25"}]})
    assert order.id == "77" and order.date.year == 2026
    assert order.lines[0].product_id == 5 and order.lines[0].quantity == 2
    assert order.lines[0].unit_price_net == Decimal("10.5")
    assert order.total == Decimal("26.25")
    assert parse_order({"note": "no id"}) is None


def test_order_number_status_and_customer():
    """The purchase fields (issue 18), from the aliases vendre-api.md §9-10 lists."""
    raw = {"id": 9, "order_number": " 5006 ", "status": "3", "status_name": "Levererad",
           "customer": {"id": 4711, "email": " Kund@Example.com ", "phone_mobile": "070-123 45 67",
                        "name_first": "Åsa", "name_last": "Öberg"},
           "billing_address": {"city": "Malmö", "postcode": "211 20", "country_code": "se",
                               "email_address": "other@example.com"}}
    order = parse_order(raw)
    assert (order.id, order.number, order.status_id, order.status_name) == \
        ("9", "5006", 3, "Levererad")
    c = order.customer
    assert (c.id, c.email, c.phone, c.first_name, c.last_name) == \
        ("4711", "Kund@Example.com", "070-123 45 67", "Åsa", "Öberg")
    assert (c.city, c.postcode, c.country) == ("Malmö", "211 20", "SE")
    assert "Kund" not in repr(order) and "Kund" not in repr(c)
    # A configured field wins; without one `number` and then `id` are read.
    assert parse_order(raw, "id").number == "9"
    assert parse_order({"id": 9, "number": "A-9"}).number == "A-9"
    assert parse_order({"orders_id": 77}).number == "77"


def test_order_legacy_columns():
    order = parse_order({"orders_id": 77, "orders_status": 2, "orders_status_name": "Behandlas",
                         "customers_email_address": "a@b.se", "customers_name": "Anna Maria Berg",
                         "customers_telephone": "+46 70 1234567", "customers_country": "Sverige"})
    assert (order.status_id, order.status_name) == (2, "Behandlas")
    c = order.customer
    assert (c.email, c.first_name, c.last_name, c.phone) == \
        ("a@b.se", "Anna Maria", "Berg", "+46 70 1234567")
    assert c.country == ""  # a country name is not guessed into a code
    # A status that is a word is the name; one that is an object is ignored.
    assert parse_order({"id": 1, "status": "Skickad"}).status_name == "Skickad"
    assert parse_order({"id": 1, "status": {"x": 1}}).status_id is None


def test_a_targets_tax_table_replaces_the_shops(tmp_path):
    from feeds.config import Target
    from feeds.pipeline.plan import derive_context
    from tests.conftest import make_config

    cfg = make_config(tmp_path)
    norway = Target(file="google-no", country="NO", language="nb", currency="NOK",
                    rate=Decimal("0.98"), rounding=Decimal(1),
                    tax_classes={2: Decimal(25), 3: Decimal(0)})
    ctx_no = derive_context(cfg, norway, {}, NOW)
    assert parse_product(product(tax_class_id=3, price=100), ctx_no).price == \
        Money(Decimal("98.00"), "NOK")                     # 100 x 1.00 x 0.98
    unknown = parse_product(product(tax_class_id=4), ctx_no)
    assert unknown.price is None and unknown.violations[0].rule == "tax_class_unknown"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789", min_size=2, max_size=14))
def test_our_gtin_check_digit_is_gs1s(code):
    """Our check-digit arithmetic (summed as bytes, for speed) against python-stdnum's."""
    assert gtin_check_digit_ok(code) == (ean.calc_check_digit(code[:-1]) == code[-1])


# ----------------------------------------------------------------- prices, remembered


def test_remembered_prices_keep_each_raw_form_apart():
    """Prices are computed once per (price, tax class) in a derivation context: 100,
    100.0 and "100.00" are equal numbers but different Decimals, and a tax class that
    differs gives its own gross price."""
    c = ctx()
    found = [parse_product(product(price=price, tax_class_id=tax), c)
             for price, tax in ((100, 2), (100.0, 2), ("100.00", 2), (100, 3), (100, 2))]
    assert [str(p.net_price.amount) for p in found] == ["100", "100.0", "100.00", "100", "100"]
    assert [str(p.price.amount) for p in found] == ["125.00"] * 3 + ["106.00", "125.00"]
    fresh = [parse_product(product(price=p, tax_class_id=t), ctx())
             for p, t in ((100, 2), (100.0, 2), ("100.00", 2), (100, 3), (100, 2))]
    assert found == fresh


def test_remembered_prices_are_bounded_and_stay_right():
    """Past the pairs it remembers, a context still prices every product right and
    remembers no more (memory stays flat over a catalogue of distinct prices)."""
    from feeds.vendre.parse import _PRICES_KEPT

    c = ctx()
    for n in range(_PRICES_KEPT + 50):
        p = parse_product(product(price=n + 1, tax_class_id=2), c)
        assert p.price == Money(Decimal(n + 1) * Decimal("1.25"), "SEK")
    assert len(c.memo["prices"]) == _PRICES_KEPT
    long_text = "9" * 10_000  # unusable (10**12 or more) and not kept as a key either
    assert parse_product(product(price=long_text), ctx()).price is None
    fresh = ctx()
    parse_product(product(price=long_text), fresh)
    assert "prices" not in fresh.memo


def test_a_negative_zero_price_is_not_confused_with_zero():
    c = ctx()
    assert str(parse_product(product(price=0.0), c).net_price.amount) == "0.0"
    assert str(parse_product(product(price=-0.0), c).net_price.amount) == "-0.0"
