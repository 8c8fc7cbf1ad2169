"""What a build makes: the feed files (channel x target), and the inputs they share.

`feed_specs` turns the config into the list of files to build; `derive_context`
says how products are derived for one target; `shared_inputs` reads what every
feed of a build needs once (categories, bestseller labels, duplicate ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from feeds.channels import Channel, all_channels, get_channel
from feeds.config import ChannelSettings, Config, IdField, Target
from feeds.core.bestsellers import bestseller_labels
from feeds.core.model import Category, OrderLine
from feeds.core.pricing import Pricing
from feeds.errors import ConfigError
from feeds.storage.store import Store
from feeds.vendre.parse import DeriveContext, parse_category, parse_order

__all__ = ["FeedSpec", "SharedInputs", "derive_context", "feed_specs", "home_stems",
           "shared_inputs"]


@dataclass(frozen=True)
class FeedSpec:
    """One feed file to build: a channel, its settings and one target."""

    channel: Channel
    settings: ChannelSettings
    target: Target

    @property
    def stem(self) -> str:
        return self.target.file

    @property
    def file(self) -> str:
        return f"{self.target.file}.{self.channel.extension}"


@dataclass(frozen=True)
class SharedInputs:
    """What every feed of one build reads once: categories, labels, duplicate ids."""

    categories: Mapping[int, Category]
    labels: Mapping[str, Mapping[str, str]]
    duplicate_ids: frozenset[str]
    now: datetime


def feed_specs(cfg: Config, codes: Sequence[str] = ()) -> list[FeedSpec]:
    """The feeds of the named channels, or of every enabled channel."""
    known = {c.code for c in all_channels()}
    for code in cfg.channels:
        if code not in known:
            raise ConfigError(f"channels.{code}: unknown channel "
                              f"(known: {', '.join(sorted(known))})")
    chosen = [get_channel(code) for code in codes] if codes else all_channels()
    specs = []
    for channel in chosen:
        settings = cfg.channel(channel.code)
        if not settings.enabled:
            if codes:
                raise ConfigError(f"channels.{channel.code}.enabled: the channel is disabled")
            continue
        specs += [FeedSpec(channel, settings, t) for t in settings.targets]
    return specs


def shared_inputs(cfg: Config, store: Store, now: datetime) -> SharedInputs:
    """Read the once-per-build inputs from the store."""
    categories = {c.id: c for c in map(parse_category, store.raw_categories())}
    orders = [o for o in map(parse_order, store.raw_orders()) if o is not None]
    b = cfg.bestsellers
    labels = bestseller_labels(orders, now=now, window_days=b.window_days,
                               top_percent=b.top_percent, label=b.label, value=b.value,
                               feed_id_of=_order_line_ids(cfg, store, orders))
    duplicates = store.duplicate_article_numbers() \
        if cfg.shop.id_field is IdField.ARTICLE_NUMBER else set()
    return SharedInputs(categories, labels, frozenset(duplicates), now)


def _order_line_ids(cfg: Config, store: Store, orders: list) -> Any:
    """A function giving an order line's feed id under the shop's id policy."""
    if cfg.shop.id_field is IdField.ID:
        return lambda line: str(line.product_id) if line.product_id else None
    ids = [line.product_id for o in orders for line in o.lines if line.product_id]
    articles = store.article_numbers(ids)

    def by_article(line: OrderLine) -> str | None:
        return articles.get(line.product_id or -1) or line.article_number or None

    return by_article


def derive_context(cfg: Config, target: Target, categories: Mapping[int, Category],
                   now: datetime) -> DeriveContext:
    """How products are derived for one feed target (language, pricing, id policy).

    A target with its own `tax_classes` charges that country's VAT: its table replaces
    the shop's (a class it does not list is an unknown tax class, not the shop's rate).
    """
    tax = dict(target.tax_classes if target.tax_classes is not None else cfg.shop.tax_classes)
    pricing = Pricing(home_currency=cfg.shop.currency, tax_classes=tax,
                      currency=target.currency, rate=target.rate,
                      quantum=target.rounding_quantum, rounding=target.rounding.value)
    return DeriveContext(base_url=cfg.shop.base_url, language=target.language,
                         id_field=cfg.shop.id_field, pricing=pricing, now=now,
                         default_brand=cfg.shop.default_brand, categories=categories)


def home_stems(cfg: Config) -> list[str]:
    """The feed of each enabled channel made for the shop's own country, language and
    currency (else its first target): the feeds the shop's own pages' events must match."""
    shop = (cfg.shop.country, cfg.shop.language, cfg.shop.currency)
    stems = []
    for _code, group in groupby(feed_specs(cfg), key=lambda spec: spec.channel.code):
        specs = list(group)
        home = [s for s in specs
                if (s.target.country, s.target.language, s.target.currency) == shop]
        stems.append((home or specs)[0].stem)
    return sorted(stems)
