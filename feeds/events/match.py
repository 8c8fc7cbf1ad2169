"""The match rate: how many of the shop's sellable products each service's catalogue holds.

Every sellable product gets events in every enabled service, but an ad platform
can match an event to a catalogue item only when its catalogue holds the id. The
index build counts, in the same pass (`feeds.events.index`), how many sellable
products each home feed holds, and writes `<data_dir>/tracking/match.json`:

    {"built_at": iso time, "products": sellable products, "feeds": {stem: held, ...}}

Without a loader (no `[tracking] site_key`) there is no index to build, and
`count_match` makes the same count on its own.

`service_matches` turns it into one row per enabled tracking service for the status
page: GA4 and GTM are matched against the google home feed, the Meta Pixel against
meta, Criteo OneTag against criteo (`SERVICE_CHANNELS`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feeds.config import Config
from feeds.events.catalog import EventCatalog
from feeds.pipeline.plan import home_feeds, home_stems
from feeds.storage.feed_ids import FeedIds
from feeds.storage.layout import Layout, write_json_atomic
from feeds.storage.store import Store
from tracking.options import TrackingOptions
from tracking.services import enabled_services

__all__ = ["SERVICE_CHANNELS", "Match", "MatchCounter", "ServiceMatch", "count_match",
           "read_match", "service_matches", "write_match"]

#: Tracking service code -> the feed channel whose catalogue its events are matched against.
SERVICE_CHANNELS = {"gtm": "google", "ga4": "google", "meta_pixel": "meta", "criteo": "criteo"}


@dataclass(frozen=True)
class Match:
    """Sellable products (those that get events) and how many of them each home feed holds."""

    built_at: str
    products: int
    feeds: Mapping[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"built_at": self.built_at, "products": self.products,
                "feeds": dict(sorted(self.feeds.items()))}


class MatchCounter:
    """Counts, product by product, which of `stems` hold each sellable product."""

    def __init__(self, stems: Sequence[str], now: datetime) -> None:
        self._stems, self._now = tuple(stems), now
        self._products = 0
        self._held: Counter[str] = Counter()

    def add(self, holders: Iterable[str]) -> None:
        """One sellable product, held by `holders`."""
        self._products += 1
        self._held.update(holders)

    def result(self) -> Match:
        return Match(self._now.isoformat(), self._products,
                     {stem: self._held[stem] for stem in self._stems})


def count_match(cfg: Config, store: Store, now: datetime) -> Match:
    """Count the match of every home feed in one pass over the store (what the index
    build counts on its way)."""
    stems = home_stems(cfg)
    counter = MatchCounter(stems, now)
    holders = FeedIds(Layout(cfg.data_dir)).holders(stems)
    try:
        for seen in EventCatalog(cfg, store, now).walk():
            if seen.tracked:
                counter.add(holders(seen.product.feed_id))
    finally:
        holders.close()
    return counter.result()


def _path(layout: Layout) -> Any:
    return layout.tracking / "match.json"


def write_match(layout: Layout, match: Match | None) -> None:
    if match is not None:
        layout.tracking.mkdir(parents=True, exist_ok=True)
        write_json_atomic(_path(layout), match.as_json())


def read_match(layout: Layout) -> Match | None:
    """The last counted match, or None when none was counted or the file is unreadable."""
    try:
        data = json.loads(_path(layout).read_text("utf-8"))
        return Match(str(data["built_at"]), int(data["products"]),
                     {str(k): int(v) for k, v in dict(data.get("feeds") or {}).items()})
    except (OSError, ValueError, TypeError, KeyError):
        return None


@dataclass(frozen=True)
class ServiceMatch:
    """One tracking service's match, as the status page shows it."""

    service: str          # the service's title, e.g. "GA4"
    channel: str          # the channel whose catalogue it is matched against
    stem: str             # that channel's home feed ('' when the channel is off)
    held: int | None      # sellable products the feed holds (None: not known)
    products: int | None  # sellable products, all of which get events
    note: str             # why there is no number, or ''

    @property
    def percent(self) -> int | None:
        """The match rate in whole percent, rounded down (100 only when all match)."""
        if self.held is None or not self.products:
            return None
        return self.held * 100 // self.products


def service_matches(cfg: Config, layout: Layout) -> list[ServiceMatch]:
    """One row per enabled tracking service; [] when none is enabled."""
    services = enabled_services(TrackingOptions.from_settings(cfg.tracking))
    if not services:
        return []
    homes = home_feeds(cfg)
    match = read_match(layout)
    published = {f.stem for f in layout.published()}
    rows = []
    for service in services:
        channel = SERVICE_CHANNELS.get(service.code, "")
        stem = homes.get(channel, "")
        held, products, note = None, match.products if match else None, ""
        if not stem:
            note = (f"the {channel} channel is disabled: no catalogue to match"
                    if channel else "no catalogue to match")
        elif match is None:
            note = "not counted yet (counted at every build)"
        elif stem not in published:
            note = f"{stem} has not been published yet"
        elif stem not in match.feeds:
            note = f"{stem} not counted yet (counted at every build)"
        else:
            held = match.feeds[stem]
        rows.append(ServiceMatch(service.title, channel, stem, held, products, note))
    return rows
