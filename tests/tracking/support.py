"""Test data and checks shared by the tracking tests: a demo-like product and order,
one event of every kind, and helpers that read rendered scripts back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from jinja2 import Environment

from tracking.errors import TrackingConfigError
from tracking.events import (
    AddToCart,
    BeginCheckout,
    Event,
    EventItem,
    PageView,
    Purchase,
    ViewCart,
    ViewHome,
    ViewItem,
    ViewItemList,
)
from tracking.options import TrackingOptions
from tracking.render import render_all
from tracking.serialize import js_dumps
from tracking.services import Service, enabled_services

NONCE = "dGVzdC1ub25jZQ=="
IDS = {"gtm_id": "GTM-K3X9Q2W", "ga4_id": "G-7HQ2LX4BZT", "meta_pixel_id": "918273645546372",
       "criteo_account": "58213"}


def options(**changes: Any) -> TrackingOptions:
    """Every service on, consent mode on (the default), with `changes`."""
    return TrackingOptions(**{**IDS, **changes})


def item(**changes: Any) -> EventItem:
    """The demo product: a variant with brand, a 3-level category path and a group."""
    fields: dict[str, Any] = {
        "id": "1001", "name": 'Tärning "Deluxe" <20 mm> & co', "price": Decimal("549.00"),
        "net_price": Decimal("439.20"), "currency": "SEK", "brand": "Spelhuset",
        "categories": ("Spel", "Sällskapsspel", "Tärningar"), "variant": "Röd",
        "group_id": "1000",
    }
    return EventItem(**{**fields, **changes})


def mat(**changes: Any) -> EventItem:
    """A second product without variant, group or brand."""
    fields: dict[str, Any] = {"id": "2002", "name": "Spelmatta", "price": Decimal("199.00"),
                              "net_price": Decimal("159.20"), "currency": "SEK",
                              "categories": ("Spel", "Tillbehör")}
    return EventItem(**{**fields, **changes})


def events(text: str | None = None) -> dict[str, Event]:
    """One event of each kind; with `text`, every string the shop supplies is `text`."""
    def t(value: str) -> str:
        return value if text is None else text

    def it(factory: Any, **kw: Any) -> EventItem:
        if text is None:
            return factory(**kw)
        hostile = {"id": text, "name": text, "brand": text, "categories": (text, text),
                   "variant": text, "group_id": text}
        return factory(**{**hostile, **kw})

    lines = (it(item, quantity=2), it(mat, index=1))
    listing = (it(item), it(mat, index=1), it(mat, id=t("3003"), index=2),
               it(mat, id=t("4004"), index=3))
    return {
        "view_item": ViewItem(it(item)),
        "view_item_list": ViewItemList(listing, list_id=t("cat-12"), list_name=t("Tärningar")),
        "add_to_cart": AddToCart((it(item, quantity=2),)),
        "view_cart": ViewCart(lines),
        "begin_checkout": BeginCheckout(lines),
        # A suffix keeps whitespace-only text (U+2028) from being an empty order number.
        "purchase": Purchase("50012" if text is None else f"{text}-50012", lines, "SEK",
                             Decimal("1297.00"), Decimal("269.20"), Decimal("49.00"),
                             email=t("  Kund@Example.SE ")),
        "page_view": PageView(),
        "view_home": ViewHome(),
    }


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.bodies.append("")
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.bodies[-1] += data


def parse(html: str) -> _Scripts:
    """The start tags (name, attributes) and script bodies an HTML parser sees."""
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    return parser


def script_tags(html: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in parse(html).tags if tag == "script"]


_ARG = re.compile(r"[(,]\s*(?=[\"\[{])")


def js_values(script: str) -> list[Any]:
    """Every JSON value written as a call argument in `script`, parsed back, in order.
    Template constants are single-quoted JS, so only `|js` output starts with ", [ or {"."""
    decoder = json.JSONDecoder()
    found, pos = [], 0
    while match := _ARG.search(script, pos):
        try:
            value, pos = decoder.raw_decode(script, match.end())
        except json.JSONDecodeError:
            pos = match.end() + 1
            continue
        found.append(value)
    return found


def as_json(value: Any) -> Any:
    """`value` as JavaScript will see it (Decimals become numbers)."""
    return json.loads(js_dumps(value))


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)
    else:
        yield value


# ---------------------------------------------------------------- the per-service checklist


def page(env: Environment, service: Service, opts: TrackingOptions, nonce: str = "",
         *, with_events: bool = True) -> str:
    """Head and body of a page with `service` only, and (`with_events`) every event."""
    shown = events().values() if with_events else ()
    head = render_all(env, [service], opts, "head", shown, nonce=nonce)
    return head + render_all(env, [service], opts, "body", nonce=nonce)


def check_malformed_id(service: Service, bad: str, message: str) -> None:
    """A set but malformed id fails when the services are loaded, naming the setting."""
    with pytest.raises(TrackingConfigError) as exc:
        enabled_services(options(**{service.id_setting: bad}))
    assert str(exc.value) == message


def check_missing_id_is_off(env: Environment, service: Service) -> None:
    opts = options(**{service.id_setting: ""})
    assert service not in enabled_services(opts)
    assert page(env, service, opts, NONCE) == ""


def check_nonce(env: Environment, service: Service, consent_mode: bool) -> None:
    """Every script has the nonce when one is given, and no nonce attribute otherwise."""
    opts = options(consent_mode=consent_mode)
    with_nonce = script_tags(page(env, service, opts, NONCE))
    assert with_nonce and all(tag.get("nonce") == NONCE for tag in with_nonce)
    without = page(env, service, opts)
    assert script_tags(without) and 'nonce="' not in without
    assert all("nonce" not in tag for tag in script_tags(without))
