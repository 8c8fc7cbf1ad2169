"""Google Tag Manager: the container snippet, its `<noscript>` iframe, and dataLayer
ecommerce pushes in GA4's schema.

Spec: https://developers.google.com/tag-platform/tag-manager/web (install),
https://developers.google.com/tag-platform/tag-manager/web/csp (the nonce-aware
snippet used here) and https://developers.google.com/analytics/devguides/collection/ga4/ecommerce?client_type=gtm
(pushes). Each push is preceded by `{ecommerce: null}` so that an earlier
ecommerce object does not leak into the next event. Page views are GTM's own.
"""

from __future__ import annotations

import re
from typing import Any

from tracking.events import Event
from tracking.options import TrackingOptions
from tracking.services import Service, ga4

__all__ = ["ID_PATTERN", "SERVICE", "context"]

ID_PATTERN = re.compile(r"^GTM-[A-Z0-9]{4,}$", re.ASCII)


def context(event: Event, options: TrackingOptions) -> dict[str, Any]:
    """`dataLayer.push(push)`, with GA4's parameters as `ecommerce`."""
    return {"push": {"event": event.name, "ecommerce": ga4.event_params(event, options)}}


SERVICE = Service(
    code="gtm",
    title="Google Tag Manager",
    spec_url="https://developers.google.com/tag-platform/tag-manager/web",
    description="container snippet in <head>, <noscript> iframe at the start of <body>; "
                "GA4 ecommerce dataLayer pushes",
    id_setting="gtm_id",
    id_pattern=ID_PATTERN,
    id_hint="a GTM container id (GTM-XXXX)",
    templates={"head": "tracking/gtm_head.html", "body": "tracking/gtm_body.html"},
    event_template="tracking/gtm_event.html",
    events=ga4.EVENTS,
    context=context,
    position=10,
)
