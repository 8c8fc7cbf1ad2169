"""The match rate: how many of the shop's sellable products each service's catalogue holds.

Every sellable product gets events in every enabled service, but an ad platform
can match an event to a catalogue item only when its catalogue holds the id. The
index build counts, in the same pass (`feeds.events.index`), how many sellable
products each home feed holds, and writes `<data_dir>/tracking/match.json`:

    {"built_at": iso time, "products": sellable products, "feeds": {stem: held, ...},
     "missing": {stem: [{"id", "title", "reason"}, ...], ...}}

`missing` names the first `MISSING_SHOWN` sellable products each feed lacks, with
the reason: the error its report gives for the item (it was dropped), else the
channel filter that skipped it, else that the published file predates it.

Without a loader (no `[tracking] site_key`) there is no index to build, and
`count_match` makes the same count on its own.

`service_matches` turns it into one row per enabled tracking service for the status
page: GA4 and GTM are matched against the google home feed, the Meta Pixel against
meta, Criteo OneTag against criteo (`SERVICE_CHANNELS`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feeds.config import Config
from feeds.core.model import Category, Product
from feeds.events.catalog import EventCatalog
from feeds.pipeline.items import skip_reason
from feeds.pipeline.plan import home_feeds, home_stems
from feeds.storage.feed_ids import FeedIds
from feeds.storage.layout import Layout, write_json_atomic
from feeds.storage.report import dropped_items
from feeds.storage.store import Store
from feeds.vendre.parse import with_descendants
from tracking.options import TrackingOptions
from tracking.services import enabled_services

__all__ = ["MISSING_SHOWN", "SERVICE_CHANNELS", "Match", "MatchCounter", "Missing",
           "ServiceMatch", "count_match", "missing_reasons", "read_match", "service_matches",
           "write_match"]

#: Tracking service code -> the feed channel whose catalogue its events are matched against.
SERVICE_CHANNELS = {"gtm": "google", "ga4": "google", "meta_pixel": "meta", "criteo": "criteo"}
MISSING_SHOWN = 20  # missing products named per feed (the count says how many there are)

#: (feed stem, the products it lacks) -> feed id -> why it lacks each.
Explain = Callable[[str, Sequence[Product]], Mapping[str, str]]


@dataclass(frozen=True)
class Missing:
    """A sellable product a feed does not hold, and why."""

    id: str
    title: str
    reason: str


@dataclass(frozen=True)
class Match:
    """Sellable products (those that get events), how many of them each home feed holds,
    and the first ones each lacks."""

    built_at: str
    products: int
    feeds: Mapping[str, int] = field(default_factory=dict)
    missing: Mapping[str, tuple[Missing, ...]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"built_at": self.built_at, "products": self.products,
                "feeds": dict(sorted(self.feeds.items())),
                "missing": {stem: [{"id": m.id, "title": m.title, "reason": m.reason}
                                   for m in found]
                            for stem, found in sorted(self.missing.items())}}


class MatchCounter:
    """Counts, product by product, which of `stems` hold each sellable product, and keeps
    the first `MISSING_SHOWN` each lacks (`explain` says why, once the pass is over)."""

    def __init__(self, stems: Sequence[str], now: datetime,
                 explain: Explain | None = None) -> None:
        self._stems, self._now, self._explain = tuple(stems), now, explain
        self._products = 0
        self._held: Counter[str] = Counter()
        self._missing: dict[str, list[Product]] = {stem: [] for stem in self._stems}

    def add(self, holders: Iterable[str], product: Product | None = None) -> None:
        """One sellable product, held by `holders`."""
        self._products += 1
        held = set(holders)
        self._held.update(held)
        if product is None:
            return
        for stem in self._stems:
            lacking = self._missing[stem]
            if stem not in held and len(lacking) < MISSING_SHOWN:
                lacking.append(product)

    def result(self) -> Match:
        missing = {}
        for stem, products in self._missing.items():
            if products:
                why = self._explain(stem, products) if self._explain else {}
                missing[stem] = tuple(Missing(p.feed_id, p.title, why.get(p.feed_id, ""))
                                      for p in products)
        return Match(self._now.isoformat(), self._products,
                     {stem: self._held[stem] for stem in self._stems}, missing)


def missing_reasons(cfg: Config, categories: Mapping[int, Category]) -> Explain:
    """Why a home feed lacks sellable products: the error its last report gives for the
    item, else the channel's own filter that skipped it, else that the published file is
    older than the product."""
    layout = Layout(cfg.data_dir)
    channels = {stem: name for name, stem in home_feeds(cfg).items()}

    def explain(stem: str, products: Sequence[Product]) -> dict[str, str]:
        found = dropped_items(layout.report(stem), {p.feed_id for p in products})
        settings = cfg.channel(channels[stem]) if stem in channels else None
        excluded = with_descendants(settings.exclude_categories, categories) \
            if settings else frozenset()
        for p in products:
            if p.feed_id in found:
                found[p.feed_id] = f"dropped: {found[p.feed_id]}"
                continue
            skipped = skip_reason(p, settings, excluded) if settings else ""
            found[p.feed_id] = f"skipped: {skipped}" if skipped else \
                "not in the published file (built before this product was synced?)"
        return found

    return explain


def count_match(cfg: Config, store: Store, now: datetime) -> Match:
    """Count the match of every home feed in one pass over the store (what the index
    build counts on its way)."""
    stems = home_stems(cfg)
    catalog = EventCatalog(cfg, store, now)
    counter = MatchCounter(stems, now, missing_reasons(cfg, catalog.categories))
    holders = FeedIds(Layout(cfg.data_dir)).holders(stems)
    try:
        for seen in catalog.walk():
            if seen.tracked:
                counter.add(holders(seen.product.feed_id), seen.product)
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
        missing = {str(stem): tuple(Missing(str(m["id"]), str(m.get("title", "")),
                                            str(m.get("reason", ""))) for m in found)
                   for stem, found in dict(data.get("missing") or {}).items()}
        return Match(str(data["built_at"]), int(data["products"]),
                     {str(k): int(v) for k, v in dict(data.get("feeds") or {}).items()},
                     missing)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
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
    missing: tuple[Missing, ...] = ()  # the first products the feed lacks, with why

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
        lacking = match.missing.get(stem, ()) if held is not None and match else ()
        rows.append(ServiceMatch(service.title, channel, stem, held, products, note, lacking))
    return rows
