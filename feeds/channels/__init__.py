"""Channels: each module here defines one `CHANNEL` and is found by its name.

A channel is content described as data plus one mapping function: its spec
link, the rules its items must pass (with severities), its length limits,
`to_item(derived, ctx)` (the item's already formatted values), its output
format (`feeds.core.outputs`), its delivery when it is pushed to an API, and
its settings class. Adding a channel means adding a module (and a template
for an RSS format); nothing else changes. `register()` adds one from elsewhere
(a test, a plugin). Channel modules do no I/O.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, cached_property
from typing import Any

from feeds.core.model import Category, Derived, Money
from feeds.core.outputs import Format, Push
from feeds.core.settings import ChannelSettings, FeedSettings
from feeds.core.text import truncate
from feeds.core.validation import Rule, max_length, one_of
from feeds.errors import NotFound

__all__ = [
    "Channel",
    "ItemContext",
    "all_channels",
    "get_channel",
    "is_discoverable",
    "iso_datetime",
    "money",
    "one_of",
    "register",
    "unregister",
    "weight",
]


@dataclass(frozen=True)
class ItemContext:
    """What a mapping needs besides the product: the channel's settings, the brand
    fallback, bestseller labels, the category tree and the build's clock."""

    settings: ChannelSettings = field(default_factory=FeedSettings)
    default_brand: str = ""
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    categories: Mapping[int, Category] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Channel:
    """One channel, described as data.

    :param one_file_per_target: True for a feed (one file per target, `to_item`
        reads `derived.primary`); False for a marketplace (one file for all its
        targets, `to_item` combines them).
    :param paste_into: where a shop owner pastes a pulled feed's URL (the platform's
        own menu path); '' for a payload that is pushed, never fetched.
    """

    code: str
    title: str
    spec_url: str
    to_item: Callable[[Derived, ItemContext], dict[str, Any]]
    rules: tuple[Rule, ...]
    limits: Mapping[str, int]
    format: Format
    settings: type[ChannelSettings] = FeedSettings
    delivery: Push | None = None
    one_file_per_target: bool = True
    paste_into: str = ""
    # Limited fields cut at a word boundary with an ellipsis; every other limited field
    # (a brand, an identifier) is cut plain, since an ellipsis would change its value.
    prose: frozenset[str] = frozenset({"title", "description"})
    # False for a kind that only names a platform (`mirakl`): it exists in the config
    # only where a table instantiates it (`kind = "mirakl"`), never on its own.
    default_instance: bool = True
    # A step over the published items in file order, after the rules (a new one per
    # build): what depends on which other items were published (Fyndiq's main article).
    in_file_order: Callable[[], Callable[[dict[str, Any]], None]] | None = None

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Rules hold lambdas, which do not pickle: a channel crosses to a child process as
        # its code, and the child finds the same channel in its own registry.
        return get_channel, (self.code,)

    @property
    def all_rules(self) -> tuple[Rule, ...]:
        """The channel's rules plus a length warning for every limited field."""
        return self.rules + tuple(max_length(f, n) for f, n in self.limits.items())

    def finish(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item as written: keys starting with `_` (for rules only) removed and the
        limited fields cut to their limits (after the rules saw the full text)."""
        keys = tuple(item)
        private = _PRIVATE.get(keys)
        for key in private if private is not None else _private_keys(keys):
            del item[key]
        for name, limit, prose in self._limited:
            value = item.get(name)
            if isinstance(value, str) and len(value) > limit:
                item[name] = truncate(value, limit) if prose else value[:limit].rstrip()
        return item

    @cached_property
    def _limited(self) -> tuple[tuple[str, int, bool], ...]:
        """(field, limit, cut as prose) of every limited field, for `finish`."""
        return tuple((name, limit, name in self.prose) for name, limit in self.limits.items())


# A channel's items share a handful of key layouts: which of their keys are for rules
# only is worked out once per layout, not per item (a few percent of a build).
_PRIVATE: dict[tuple[str, ...], tuple[str, ...]] = {}


def _private_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The keys of `keys` that start with `_`, in order."""
    found = _PRIVATE.get(keys)
    if found is None:
        if len(_PRIVATE) >= 1024:  # items of ever-changing layouts: stay small
            _PRIVATE.clear()
        found = _PRIVATE[keys] = tuple(k for k in keys if k.startswith("_"))
    return found


def iso_datetime(moment: datetime) -> str:
    """ISO 8601 with minutes and a numeric zone, as Google's date attributes want it."""
    return moment.strftime("%Y-%m-%dT%H:%M%z")


def money(value: Money | None) -> str:
    return value.format() if value else ""


def weight(kg: Decimal | None) -> str:
    return f"{kg.normalize():f} kg" if kg else ""


# ---------------------------------------------------------------- the registry

_REGISTERED: dict[str, Channel] = {}


@cache
def _discovered() -> dict[str, Channel]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        channel = getattr(module, "CHANNEL", None)
        if isinstance(channel, Channel):
            found[channel.code] = channel
    return found


def _registry() -> dict[str, Channel]:
    return dict(sorted({**_discovered(), **_REGISTERED}.items()))


def register(channel: Channel) -> Channel:
    """Add (or replace) a channel kind from outside this package; returns it."""
    _REGISTERED[channel.code] = channel
    return channel


def unregister(code: str) -> None:
    """Forget a channel added by `register` (tests clean up with this)."""
    _REGISTERED.pop(code, None)


def is_discoverable(channel: Channel) -> bool:
    """Whether a fresh interpreter finds this very channel by its code (a channel added
    with `register` exists only in the process that added it)."""
    return _discovered().get(channel.code) is channel


def all_channels() -> list[Channel]:
    """Every channel kind, by code."""
    return list(_registry().values())


def get_channel(code: str) -> Channel:
    registry = _registry()
    try:
        return registry[code]
    except KeyError:
        raise NotFound(f"unknown channel {code!r} (known: {', '.join(registry)})") from None
