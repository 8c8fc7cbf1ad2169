"""render_snippet / render_event / render_all: nonces, placements, order."""

from __future__ import annotations

import pytest
from jinja2 import Environment
from markupsafe import Markup

from tests.tracking import support as s
from tracking.errors import InvalidNonce, TrackingConfigError
from tracking.render import check_nonce, render_all, render_event, render_snippet
from tracking.services import all_services, enabled_services, get_service


@pytest.mark.parametrize("nonce", ["", "abc", "dGVzdC1ub25jZQ==", "a-b_c+d/e="])
def test_base64_nonces_pass(nonce: str) -> None:
    assert check_nonce(nonce) == nonce


@pytest.mark.parametrize("nonce", ['a"b', "a b", "<x>", "a'b", "a&b", "x" * 257, "å"])
def test_other_nonces_are_refused(env: Environment, nonce: str) -> None:
    with pytest.raises(InvalidNonce, match="CSP nonce: base64 or base64url"):
        check_nonce(nonce)
    with pytest.raises(InvalidNonce):
        render_snippet(env, get_service("ga4"), "head", s.options(), nonce=nonce)


def test_unknown_placement(env: Environment) -> None:
    with pytest.raises(ValueError, match="placement: one of head, body expected"):
        render_snippet(env, get_service("gtm"), "footer", s.options())
    with pytest.raises(ValueError, match="placement"):
        render_all(env, [], s.options(), "footer")


def test_head_order_consent_then_services_then_events(env: Environment) -> None:
    services = list(reversed(all_services()))  # render_all restores placement order
    head = render_all(env, services, s.options(), "head", [s.events()["view_item"]])
    marks = ["gtag('consent', 'default'", "googletagmanager.com/gtm.js", "gtag/js?id=",
             "fbq('init'", "ld.js?a=", '"event":"view_item"', "gtag('event'",
             "fbq('track', \"ViewContent\"", '"event":"viewItem"']
    positions = [head.index(m) for m in marks]
    assert positions == sorted(positions)
    assert head.count("gtag('consent', 'default'") == 1


def test_body_has_no_consent_and_no_events_unless_asked(env: Environment) -> None:
    body = render_all(env, all_services(), s.options(consent_mode=False), "body")
    assert [t for t, _ in s.parse(body).tags] == ["noscript", "iframe", "noscript", "img"]


def test_nothing_when_no_service_is_on(env: Environment) -> None:
    opts = s.options(gtm_id="", ga4_id="", meta_pixel_id="", criteo_account="")
    assert render_all(env, all_services(), opts, "head", s.events().values()) == ""


def test_a_malformed_id_fails_rendering_too(env: Environment) -> None:
    with pytest.raises(TrackingConfigError):
        render_all(env, all_services(), s.options(ga4_id="G-x"), "head")


def test_unsupported_events_render_nothing(env: Environment) -> None:
    opts = s.options()
    page_view = s.events()["page_view"]
    assert all(render_event(env, svc, page_view, opts) == "" for svc in all_services())
    assert render_event(env, get_service("meta_pixel"), s.events()["view_cart"], opts) == ""


def test_output_is_markup(env: Environment) -> None:
    opts = s.options()
    assert isinstance(render_all(env, enabled_services(opts), opts, "head"), Markup)
    assert isinstance(render_event(env, get_service("ga4"), s.events()["view_item"], opts),
                      Markup)
