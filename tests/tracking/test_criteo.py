"""Criteo OneTag: loader (consent-gated) and page events."""

from __future__ import annotations

import hashlib

import pytest
from jinja2 import Environment

from tests.tracking import support as s
from tracking.render import render_event, render_snippet
from tracking.services import get_service

CRITEO = get_service("criteo")


def _batch(env: Environment, name: str, **changes) -> list:
    html = render_event(env, CRITEO, s.events()[name], s.options(**changes))
    return s.js_values(s.parse(html).bodies[0])


@pytest.mark.parametrize("name", sorted(CRITEO.events))
def test_event_golden(env: Environment, golden, name: str) -> None:
    html = render_event(env, CRITEO, s.events()[name], s.options(), nonce=s.NONCE)
    golden(f"criteo_{name}.html", html)


def test_snippet_golden(env: Environment, golden) -> None:
    golden("criteo_snippet.html", s.page(env, CRITEO, s.options(), s.NONCE, with_events=False))


def test_snippet_golden_without_consent_mode(env: Environment, golden) -> None:
    golden("criteo_snippet_no_consent.html",
           render_snippet(env, CRITEO, "head", s.options(consent_mode=False)))


@pytest.mark.parametrize("bad", ["abc", "12345678901", "-1", "1.5", "١٢"])
def test_rejects_malformed_id(bad: str) -> None:
    s.check_malformed_id(CRITEO, bad, f"tracking.criteo_account: {bad!r} is not a Criteo "
                                      "account id (1 to 10 digits)")


def test_missing_id_is_off(env: Environment) -> None:
    s.check_missing_id_is_off(env, CRITEO)


@pytest.mark.parametrize("consent_mode", [True, False])
def test_nonce_on_every_script(env: Environment, consent_mode: bool) -> None:
    s.check_nonce(env, CRITEO, consent_mode)


def test_consent_mode_defers_the_loader(env: Environment) -> None:
    head = render_snippet(env, CRITEO, "head", s.options())
    assert [t.get("src") for t in s.script_tags(head)] == [None]
    assert "window.vendreFeedsWhenGranted(function ()" in head
    assert s.js_values(s.parse(head).bodies[0]) == \
        ["https://dynamic.criteo.com/js/ld/ld.js?a=58213"]


def test_without_consent_mode_the_loader_is_a_tag(env: Environment) -> None:
    head = render_snippet(env, CRITEO, "head", s.options(consent_mode=False))
    assert [t.get("src") for t in s.script_tags(head)] == \
        ["https://dynamic.criteo.com/js/ld/ld.js?a=58213"]


def test_every_push_sets_account_and_site_type(env: Environment) -> None:
    for name in CRITEO.events:
        batch = _batch(env, name, criteo_site_type="m")
        assert batch[0] == {"event": "setAccount", "account": 58213}
        assert {"event": "setSiteType", "type": "m"} in batch


def test_view_list_sends_the_first_three_ids(env: Environment) -> None:
    assert _batch(env, "view_item_list")[-1] == {"event": "viewList",
                                                 "item": ["1001", "2002", "3003"]}


def test_transaction_with_unit_prices_and_hashed_email(env: Environment) -> None:
    batch = _batch(env, "purchase")
    digest = hashlib.sha256(b"kund@example.se").hexdigest()
    assert {"event": "setEmail", "email": digest, "hash_method": "sha256"} in batch
    assert batch[-1] == {"event": "trackTransaction", "id": "50012",
                         "item": [{"id": "1001", "price": 549.0, "quantity": 2},
                                  {"id": "2002", "price": 199.0, "quantity": 1}]}
    net = _batch(env, "purchase", prices_include_vat=False)[-1]
    assert [i["price"] for i in net["item"]] == [439.2, 159.2]


def test_no_set_email_without_an_email(env: Environment) -> None:
    events = [e for name in ("view_item", "view_cart") for e in _batch(env, name)]
    assert all(e["event"] != "setEmail" for e in events)
    assert "Kund" not in render_event(env, CRITEO, s.events()["purchase"], s.options())
