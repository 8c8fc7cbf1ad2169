"""Feed channels: each module here defines one `CHANNEL` and is found by its name.

A channel is data plus one mapping function: its template, namespaces, the
rules its items must pass (with severities), its length limits and
`to_item(product, ctx)`, which returns the item's already formatted strings.
Adding a channel means adding a module and a template; nothing else changes.
Channel modules do no I/O.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from feeds.core.model import Money, Product
from feeds.core.text import truncate
from feeds.core.validation import Rule, Severity, max_length
from feeds.errors import NotFound

__all__ = [
    "Channel",
    "ItemContext",
    "all_channels",
    "apply_extra",
    "get_channel",
    "iso_datetime",
    "money",
    "one_of",
    "weight",
]


@dataclass(frozen=True)
class ItemContext:
    """What a mapping needs besides the product: the brand fallback and custom labels."""

    default_brand: str = ""
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Channel:
    """One feed channel, described as data."""

    code: str
    title: str
    spec_url: str
    template: str
    to_item: Callable[[Product, ItemContext], dict[str, Any]]
    rules: tuple[Rule, ...]
    limits: Mapping[str, int]
    namespaces: Mapping[str, str]
    item_tag: str = "item"
    id_tag: str = "{http://base.google.com/ns/1.0}id"
    extension: str = "xml"
    content_type: str = "application/xml; charset=utf-8"

    @property
    def all_rules(self) -> tuple[Rule, ...]:
        """The channel's rules plus a length warning for every limited field."""
        return self.rules + tuple(max_length(f, n) for f, n in self.limits.items())

    def finish(self, item: dict[str, Any]) -> dict[str, Any]:
        """Cut the limited fields to their limits (after the rules saw the full text)."""
        item.pop("description_is_title", None)
        item.pop("title_trimmed", None)
        for name, limit in self.limits.items():
            value = item.get(name)
            if isinstance(value, str) and len(value) > limit:
                item[name] = truncate(value, limit)
        return item


_LISTS = {"extra", "custom_labels", "additional_image_links"}


def apply_extra(item: dict[str, Any], extra: Mapping[str, str]) -> dict[str, Any]:
    """The channel's fixed values from the config: replace a field the item has
    (e.g. `condition`), set a custom label, or add a new element."""
    for name, value in extra.items():
        if name in item and name not in _LISTS:
            item[name] = value
        elif name.startswith("custom_label_"):
            item["custom_labels"][name] = value
        else:
            item["extra"][name] = value
    return item


def iso_datetime(moment: datetime) -> str:
    """ISO 8601 with minutes and a numeric zone, as Google's date attributes want it."""
    return moment.strftime("%Y-%m-%dT%H:%M%z")


def money(value: Money | None) -> str:
    return value.format() if value else ""


def weight(kg: Decimal | None) -> str:
    return f"{kg.normalize():f} kg" if kg else ""


def one_of(field_: str, allowed: set[str], severity: Severity = Severity.ERROR) -> Rule:
    """The field must be one of `allowed` (catches a template or mapping mistake)."""
    return Rule(f"{field_}_value", field_, severity,
                lambda v, _: None if v in allowed else f"{v!r} is not one of {sorted(allowed)}")


@cache
def _registry() -> dict[str, Channel]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        channel = getattr(module, "CHANNEL", None)
        if isinstance(channel, Channel):
            found[channel.code] = channel
    return dict(sorted(found.items()))


def all_channels() -> list[Channel]:
    """Every channel, by code."""
    return list(_registry().values())


def get_channel(code: str) -> Channel:
    try:
        return _registry()[code]
    except KeyError:
        known = ", ".join(_registry())
        raise NotFound(f"unknown channel {code!r} (known: {known})") from None
