"""Tracking services: each module here defines one `SERVICE` and is found by its name.

A service is data plus one mapping function: the setting that holds its id and
the id's pattern, a template per placement (`head`, `body`), one event
template, the events it supports and `context(event, options)`, which returns
the plain, already decided values the event template places (each through the
`js` filter). Adding a service means adding a module and its templates; nothing
else changes. Service modules do no I/O.

Configuring an id is what switches a service on: `enabled_services` leaves out
services whose id is empty and raises `TrackingConfigError` for one that is set
but malformed.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from tracking.errors import TrackingConfigError, UnknownService
from tracking.events import EVENT_TYPES, Event
from tracking.options import TrackingOptions

__all__ = ["EVENT_NAMES", "Service", "all_services", "enabled_services", "get_service"]

EVENT_NAMES: tuple[str, ...] = tuple(EVENT_TYPES)


@dataclass(frozen=True)
class Service:
    """One tracking service, described as data."""

    code: str
    title: str
    spec_url: str
    description: str
    id_setting: str  # the TrackingOptions attribute (and `[tracking]` key) holding the id
    id_pattern: re.Pattern[str]
    id_hint: str  # completes "tracking.<id_setting>: '<value>' is not ..."
    templates: Mapping[str, str]  # placement -> template name
    event_template: str
    events: frozenset[str]
    context: Callable[[Event, TrackingOptions], dict[str, Any]]
    position: int  # order within a placement; lower first (GTM wants to be high in <head>)

    def configured_id(self, options: TrackingOptions) -> str:
        """The service's id from `options`; "" when unset, which means the service is off.

        :raises TrackingConfigError: the id is set but does not match `id_pattern`.
        """
        value = getattr(options, self.id_setting)
        if value and not self.id_pattern.fullmatch(value):
            raise TrackingConfigError(f"tracking.{self.id_setting}: {value!r} is not "
                                      f"{self.id_hint}")
        return value


@cache
def _registry() -> dict[str, Service]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        service = getattr(module, "SERVICE", None)
        if isinstance(service, Service):
            found[service.code] = service
    return dict(sorted(found.items(), key=lambda kv: (kv[1].position, kv[0])))


def all_services() -> list[Service]:
    """Every service, in placement order."""
    return list(_registry().values())


def get_service(code: str) -> Service:
    """:raises UnknownService: no service has `code`."""
    try:
        return _registry()[code]
    except KeyError:
        known = ", ".join(_registry())
        raise UnknownService(f"unknown tracking service {code!r} (known: {known})") from None


def enabled_services(options: TrackingOptions) -> list[Service]:
    """The services whose id is set, in placement order, every set id checked.

    :raises TrackingConfigError: a set id is malformed (checked for all services
        before any is returned, so a typo fails at startup, not on some page).
    """
    return [s for s in all_services() if s.configured_id(options)]
