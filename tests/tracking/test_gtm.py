"""GTM: container snippet, noscript iframe, GA4-schema dataLayer pushes."""

from __future__ import annotations

import pytest
from jinja2 import Environment

from tests.tracking import support as s
from tracking.render import render_all, render_event, render_snippet
from tracking.services import get_service

GTM = get_service("gtm")


@pytest.mark.parametrize("name", sorted(GTM.events))
def test_event_golden(env: Environment, golden, name: str) -> None:
    golden(f"gtm_{name}.html", render_event(env, GTM, s.events()[name], s.options(), nonce=s.NONCE))


def test_snippet_golden(env: Environment, golden) -> None:
    golden("gtm_snippet.html", s.page(env, GTM, s.options(), s.NONCE, with_events=False))


def test_snippet_golden_without_consent_mode(env: Environment, golden) -> None:
    opts = s.options(consent_mode=False)
    golden("gtm_snippet_no_consent.html", render_snippet(env, GTM, "head", opts)
           + render_snippet(env, GTM, "body", opts))


@pytest.mark.parametrize("bad", ["GTM-abcd", "GTM-AB", "G-ABCDEF", "GTM-ABCD\n", " GTM-ABCD"])
def test_rejects_malformed_id(bad: str) -> None:
    s.check_malformed_id(GTM, bad, f"tracking.gtm_id: {bad!r} is not a GTM container id "
                                   "(GTM-XXXX)")


def test_missing_id_is_off(env: Environment) -> None:
    s.check_missing_id_is_off(env, GTM)


@pytest.mark.parametrize("consent_mode", [True, False])
def test_nonce_on_every_script(env: Environment, consent_mode: bool) -> None:
    s.check_nonce(env, GTM, consent_mode)


def test_consent_defaults_come_first_with_consent_mode(env: Environment) -> None:
    head = render_all(env, [GTM], s.options(), "head")
    assert head.index("gtag('consent', 'default'") < head.index("googletagmanager.com/gtm.js")
    assert "consent" not in render_all(env, [GTM], s.options(consent_mode=False), "head")


def test_every_push_clears_ecommerce_first(env: Environment) -> None:
    for name in GTM.events:
        body = s.parse(render_event(env, GTM, s.events()[name], s.options())).bodies[0]
        assert body.index("push({ecommerce: null})") < body.index('push({"event"')
        (push,) = s.js_values(body)
        assert push["event"] == name and "items" in push["ecommerce"]


def test_page_view_and_home_are_gtms_own(env: Environment) -> None:
    assert {"page_view", "view_home"}.isdisjoint(GTM.events)
    assert render_event(env, GTM, s.events()["page_view"], s.options()) == ""
