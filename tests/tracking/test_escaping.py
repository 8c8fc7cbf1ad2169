"""Hostile shop text through every service and event: it stays inside its JSON string.

Product names, category names and order data are untrusted. Each rendered event
must be exactly one script element closed by its real closing tag, add no `<`,
`>`, `'` or `&` to the markup, contain no `<!--` or raw U+2028/U+2029, and parse
back (json.loads) to the very values the service decided.
"""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import Environment

from tests.tracking import support as s
from tracking.errors import TrackingConfigError
from tracking.events import Event
from tracking.options import TrackingOptions
from tracking.render import render_all, render_event
from tracking.services import EVENT_NAMES, Service, all_services, enabled_services

HOSTILE = [
    "</script><script>alert(1)</script>",
    "<!--",
    "<!--<script>",
    "'",
    "\u2028",
    "\u2029",
    "</SCRIPT >",
    "a'b\"c\\d&e<f>g\u2028h\u2029i</script>",
]
CASES = [(svc, name) for svc in all_services() for name in EVENT_NAMES if name in svc.events]


def _expected(service: Service, event: Event, opts: TrackingOptions) -> list[Any]:
    """The call arguments each service's event template writes, as JSON values."""
    ctx = service.context(event, opts)
    args = {
        "gtm": lambda: [ctx["push"]],
        "ga4": lambda: [ctx["name"], ctx["params"]],
        "meta_pixel": lambda: [ctx["name"], ctx["params"]] + [ctx["event_options"]] * bool(
            ctx["event_options"]),
        "criteo": lambda: ctx["batch"],
    }[service.code]()
    return s.as_json(args)


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
@pytest.mark.parametrize(("service", "name"), CASES, ids=lambda v: getattr(v, "code", v))
def test_hostile_text_stays_in_its_string(env: Environment, service: Service, name: str,
                                          text: str) -> None:
    opts = s.options()
    event = s.events(text)[name]
    html = render_event(env, service, event, opts, nonce=s.NONCE)
    benign = render_event(env, service, s.events("plain")[name], opts, nonce=s.NONCE)
    parsed = s.parse(html)
    assert [tag for tag, _ in parsed.tags] == ["script"]
    assert html.lower().count("</script") == 1 and html.endswith("</script>\n")
    assert "<!--" not in html and "\u2028" not in html and "\u2029" not in html
    assert all(html.count(ch) == benign.count(ch) for ch in "<>'&")
    values = s.js_values(parsed.bodies[0])
    assert values == _expected(service, event, opts)
    if name != "view_home":
        assert text in s.leaves(values)


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
def test_whole_page_keeps_its_scripts(env: Environment, text: str) -> None:
    opts = s.options()
    services = enabled_services(opts)
    shown = list(s.events(text).values())
    html = "".join(render_all(env, services, opts, p, shown, nonce=s.NONCE)
                   for p in ("head", "body"))
    plain = "".join(render_all(env, services, opts, p, list(s.events("plain").values()),
                               nonce=s.NONCE) for p in ("head", "body"))
    assert [t for t, _ in s.parse(html).tags] == [t for t, _ in s.parse(plain).tags]
    assert html.lower().count("</script") == plain.lower().count("</script")
    assert "<!--" not in html


@pytest.mark.parametrize("service", all_services(), ids=lambda v: v.code)
@pytest.mark.parametrize("bad", ['"</script><script>alert(1)</script>', "G-X'", "1'; alert(1)"])
def test_ids_never_carry_markup(service: Service, bad: str) -> None:
    # Ids are placed only after matching their pattern; markup never matches.
    with pytest.raises(TrackingConfigError, match=f"tracking.{service.id_setting}: "):
        enabled_services(s.options(**{service.id_setting: bad}))
