"""Meta Pixel: base code, noscript image, standard events."""

from __future__ import annotations

import pytest
from jinja2 import Environment

from tests.tracking import support as s
from tracking.render import render_event, render_snippet
from tracking.services import get_service

META = get_service("meta_pixel")


def _args(env: Environment, name: str, **changes) -> list:
    html = render_event(env, META, s.events()[name], s.options(**changes))
    return s.js_values(s.parse(html).bodies[0])


@pytest.mark.parametrize("name", sorted(META.events))
def test_event_golden(env: Environment, golden, name: str) -> None:
    html = render_event(env, META, s.events()[name], s.options(), nonce=s.NONCE)
    golden(f"meta_pixel_{name}.html", html)


def test_purchase_golden_with_group_ids(env: Environment, golden) -> None:
    opts = s.options(meta_group_ids=True)
    golden("meta_pixel_purchase_groups.html", render_event(env, META, s.events()["purchase"], opts))


def test_snippet_golden(env: Environment, golden) -> None:
    golden("meta_pixel_snippet.html", s.page(env, META, s.options(), s.NONCE, with_events=False))


def test_snippet_golden_without_consent_mode(env: Environment, golden) -> None:
    opts = s.options(consent_mode=False)
    golden("meta_pixel_snippet_no_consent.html", render_snippet(env, META, "head", opts)
           + render_snippet(env, META, "body", opts))


@pytest.mark.parametrize("bad", ["12345", "12345678901234567890123", "pixel123456", "١٢٣٤٥٦٧"])
def test_rejects_malformed_id(bad: str) -> None:
    s.check_malformed_id(META, bad, f"tracking.meta_pixel_id: {bad!r} is not a Meta Pixel id "
                                    "(6 to 20 digits)")


def test_missing_id_is_off(env: Environment) -> None:
    s.check_missing_id_is_off(env, META)


@pytest.mark.parametrize("consent_mode", [True, False])
def test_nonce_on_every_script(env: Environment, consent_mode: bool) -> None:
    s.check_nonce(env, META, consent_mode)


def test_consent_mode_revokes_before_init_and_drops_the_image(env: Environment) -> None:
    head = render_snippet(env, META, "head", s.options())
    assert head.index("fbq('consent', 'revoke')") < head.index("fbq('init'")
    assert "vendreFeedsWhenGranted(function () { fbq('consent', 'grant'); })" in head
    assert render_snippet(env, META, "body", s.options()) == ""


def test_without_consent_mode_no_revoke_and_the_image(env: Environment) -> None:
    opts = s.options(consent_mode=False)
    assert "consent" not in render_snippet(env, META, "head", opts)
    (img,) = [a for t, a in s.parse(render_snippet(env, META, "body", opts)).tags if t == "img"]
    assert img["src"] == "https://www.facebook.com/tr?id=918273645546372&ev=PageView&noscript=1"


def test_purchase_has_the_order_number_as_event_id(env: Environment) -> None:
    name, params, event_options = _args(env, "purchase")
    assert (name, event_options) == ("Purchase", {"eventID": "50012"})
    assert params["content_ids"] == ["1001", "2002"] and params["content_type"] == "product"
    assert params["contents"] == [{"id": "1001", "quantity": 2}, {"id": "2002", "quantity": 1}]
    assert (params["value"], params["currency"]) == (1297.0, "SEK")


def test_group_ids_fall_back_to_the_item_id(env: Environment) -> None:
    _, params, _ = _args(env, "purchase", meta_group_ids=True)
    assert params["content_ids"] == ["1000", "2002"]
    assert params["content_type"] == "product_group"


def test_other_events_have_no_event_options(env: Environment) -> None:
    assert [v[0] for v in (_args(env, n) for n in ("view_item", "add_to_cart",
                                                    "begin_checkout"))] == \
        ["ViewContent", "AddToCart", "InitiateCheckout"]
    assert all(len(_args(env, n)) == 2 for n in ("view_item", "add_to_cart", "begin_checkout"))
    assert _args(env, "begin_checkout")[1]["num_items"] == 3
