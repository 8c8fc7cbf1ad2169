"""Render tracking snippets and events as HTML, through a Jinja Environment the caller owns.

The caller passes the environment (e.g. `feeds.formats.templates.make_env()`: autoescape
on for .html, StrictUndefined, the `js` filter); tracking does no I/O of its own.
Every `<script>` written here carries `nonce="..."` when a nonce is given and no
nonce attribute otherwise. A service whose id is empty renders nothing, an
event a service does not support renders nothing, and a set but malformed id
raises `TrackingConfigError`.

Order in `<head>` (`render_all`): the Consent Mode defaults first (when
`consent_mode`), then each service's base code (GTM first), then the events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from tracking.errors import InvalidNonce
from tracking.events import Event
from tracking.options import TrackingOptions
from tracking.services import Service

__all__ = [
    "CONSENT_SIGNALS",
    "PLACEMENTS",
    "TrackingOptions",
    "check_nonce",
    "render_all",
    "render_consent",
    "render_event",
    "render_snippet",
]

PLACEMENTS = ("head", "body")
CONSENT_TEMPLATE = "tracking/consent.html"
CONSENT_SIGNALS = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
WAIT_FOR_UPDATE_MS = 500  # how long Google tags wait for the banner's `update` call
_NONCE = re.compile(r"[A-Za-z0-9+/_=-]{1,256}", re.ASCII)


def check_nonce(nonce: str) -> str:
    """`nonce` unchanged if it is empty or base64/base64url text.

    :raises InvalidNonce: any other character, e.g. a quote that would end the attribute.
    """
    if nonce and not (isinstance(nonce, str) and _NONCE.fullmatch(nonce)):
        raise InvalidNonce(f"CSP nonce: base64 or base64url characters expected, got {nonce!r}")
    return nonce


def render_consent(env: Environment, *, nonce: str = "") -> Markup:
    """Consent Mode v2 defaults (all denied) and `window.vendreFeedsConsent(granted)`,
    the one call the shop's cookie banner makes. Must come before every tag."""
    defaults: dict[str, Any] = dict.fromkeys(CONSENT_SIGNALS, "denied")
    defaults["wait_for_update"] = WAIT_FOR_UPDATE_MS
    return _render(env, CONSENT_TEMPLATE, nonce, defaults=defaults,
                   signals=list(CONSENT_SIGNALS))


def render_snippet(env: Environment, service: Service, placement: str,
                   options: TrackingOptions, *, nonce: str = "") -> Markup:
    """The base code `service` puts in `placement` ("head" or "body"); empty when the
    service is off or has nothing for that placement."""
    _check_placement(placement)
    service_id = service.configured_id(options)
    template = service.templates.get(placement)
    if not service_id or template is None:
        return Markup("")
    return _render(env, template, nonce, id=service_id, consent_mode=options.consent_mode)


def render_event(env: Environment, service: Service, event: Event, options: TrackingOptions,
                 *, nonce: str = "") -> Markup:
    """`event` as one inline `<script>` for `service`; empty when the service is off
    or does not support the event. Expects the service's base code on the page."""
    if event.name not in service.events or not service.configured_id(options):
        return Markup("")
    return _render(env, service.event_template, nonce, **service.context(event, options))


def render_all(env: Environment, services: Iterable[Service], options: TrackingOptions,
               placement: str, events: Iterable[Event] = (), nonce: str = "") -> Markup:
    """Everything for one placement: the consent defaults (head, consent mode, some
    service on), each service's base code, then each service's events, services in
    placement order."""
    _check_placement(placement)
    # A service without an id is off: it neither renders nor calls for the consent defaults.
    ordered = sorted((s for s in services if s.configured_id(options)), key=lambda s: s.position)
    events = tuple(events)
    parts: list[Markup] = []
    if placement == "head" and options.consent_mode and ordered:
        parts.append(render_consent(env, nonce=nonce))
    parts += [render_snippet(env, s, placement, options, nonce=nonce) for s in ordered]
    parts += [render_event(env, s, e, options, nonce=nonce) for s in ordered for e in events]
    return Markup("").join(parts)


def _check_placement(placement: str) -> None:
    if placement not in PLACEMENTS:
        raise ValueError(f"placement: one of {', '.join(PLACEMENTS)} expected, got {placement!r}")


def _render(env: Environment, template: str, nonce: str, **context: Any) -> Markup:
    # The template autoescapes HTML and sends every JS value through `|js`, so its
    # output is markup as is.
    return Markup(env.get_template(template).render(nonce=check_nonce(nonce), **context))
