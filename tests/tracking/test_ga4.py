"""GA4 through gtag.js: loader, config, ecommerce events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from jinja2 import Environment

from tests.tracking import support as s
from tracking.events import Purchase
from tracking.render import render_all, render_event, render_snippet
from tracking.services import get_service

GA4 = get_service("ga4")


def _params(env: Environment, name: str, **changes) -> dict:
    html = render_event(env, GA4, s.events()[name], s.options(**changes))
    event_name, params = s.js_values(s.parse(html).bodies[0])
    assert event_name == name
    return params


@pytest.mark.parametrize("name", sorted(GA4.events))
def test_event_golden(env: Environment, golden, name: str) -> None:
    golden(f"ga4_{name}.html", render_event(env, GA4, s.events()[name], s.options(), nonce=s.NONCE))


def test_purchase_golden_without_vat(env: Environment, golden) -> None:
    opts = s.options(prices_include_vat=False)
    golden("ga4_purchase_net.html", render_event(env, GA4, s.events()["purchase"], opts))


def test_snippet_golden(env: Environment, golden) -> None:
    golden("ga4_snippet.html", s.page(env, GA4, s.options(), s.NONCE, with_events=False))


def test_snippet_golden_without_consent_mode(env: Environment, golden) -> None:
    golden("ga4_snippet_no_consent.html",
           render_snippet(env, GA4, "head", s.options(consent_mode=False)))


@pytest.mark.parametrize("bad", ["UA-123", "G-abc1", "G-AB", "GTM-ABCDEF", "G-ABCD\n"])
def test_rejects_malformed_id(bad: str) -> None:
    s.check_malformed_id(GA4, bad, f"tracking.ga4_id: {bad!r} is not a GA4 measurement id "
                                   "(G-XXXX)")


def test_message_of_the_issue() -> None:
    s.check_malformed_id(GA4, "UA-123",
                         "tracking.ga4_id: 'UA-123' is not a GA4 measurement id (G-XXXX)")


def test_missing_id_is_off(env: Environment) -> None:
    s.check_missing_id_is_off(env, GA4)


@pytest.mark.parametrize("consent_mode", [True, False])
def test_nonce_on_every_script(env: Environment, consent_mode: bool) -> None:
    s.check_nonce(env, GA4, consent_mode)


def test_consent_defaults_come_first_with_consent_mode(env: Environment) -> None:
    head = render_all(env, [GA4], s.options(), "head")
    assert head.index("gtag('consent', 'default'") < head.index("gtag/js?id=G-7HQ2LX4BZT")
    assert "consent" not in render_all(env, [GA4], s.options(consent_mode=False), "head")


@pytest.mark.parametrize("name", sorted(GA4.events - {"view_item_list"}))
def test_value_and_currency_come_together(env: Environment, name: str) -> None:
    params = _params(env, name)
    assert params["currency"] == "SEK" and isinstance(params["value"], float)


def test_item_list_has_neither_value_nor_currency(env: Environment) -> None:
    params = _params(env, "view_item_list")
    assert "value" not in params and "currency" not in params
    assert [i["index"] for i in params["items"]] == [0, 1, 2, 3]


def test_item_carries_the_category_path_and_leaves_out_empty_fields(env: Environment) -> None:
    first, second = _params(env, "purchase")["items"]
    assert (first["item_category"], first["item_category2"], first["item_category3"]) == \
        ("Spel", "Sällskapsspel", "Tärningar")
    assert "item_category4" not in first
    assert "item_brand" not in second and "item_variant" not in second


def test_purchase_value_excludes_shipping_and_net_prices_switch(env: Environment) -> None:
    gross = _params(env, "purchase")
    assert (gross["transaction_id"], gross["value"], gross["tax"], gross["shipping"]) == \
        ("50012", 1297.0, 269.2, 49.0)
    net = _params(env, "purchase", prices_include_vat=False)
    assert net["value"] == 1037.6 and [i["price"] for i in net["items"]] == [439.2, 159.2]


def test_empty_transaction_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="transaction_id"):
        Purchase(" ", (s.item(),), "SEK", Decimal("549.00"), Decimal(0), Decimal(0))
