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

from feeds.channels import Channel, get_channel
from feeds.config import ChannelSettings, Config, IdField, Target
from feeds.core.bestsellers import bestseller_labels
from feeds.core.model import Category, OrderLine
from feeds.core.pricing import Pricing
from feeds.errors import ConfigError, NotFound
from feeds.storage.store import Store
from feeds.vendre.parse import DeriveContext, parse_category, parse_order

__all__ = ["FeedSpec", "SharedInputs", "derive_context", "derive_contexts", "feed_specs",
           "home_feeds", "home_stems", "shared_inputs"]


@dataclass(frozen=True)
class FeedSpec:
    """One file to build: a channel, its settings (under the channel's name) and the
    targets it reads: one for a feed file, every market for a marketplace payload."""

    channel: Channel
    settings: ChannelSettings
    targets: tuple[Target, ...]

    @property
    def name(self) -> str:
        """The channel's name in the config (its kind's code unless `kind` is set)."""
        return self.settings.name or self.channel.code

    @property
    def target(self) -> Target:
        """The primary target: the file's country, language and currency."""
        return self.targets[0]

    @property
    def stem(self) -> str:
        return self.target.file if self.channel.one_file_per_target else self.name

    @property
    def file(self) -> str:
        return f"{self.stem}.{self.channel.format.extension}"


@dataclass(frozen=True)
class SharedInputs:
    """What every feed of one build reads once: categories, labels, duplicate ids."""

    categories: Mapping[int, Category]
    labels: Mapping[str, Mapping[str, str]]
    duplicate_ids: frozenset[str]
    now: datetime


def feed_specs(cfg: Config, names: Sequence[str] = ()) -> list[FeedSpec]:
    """The files of the named channels, or of every enabled channel, by channel name.

    :raises NotFound: a name that is no channel.
    :raises ConfigError: a named channel is disabled.
    """
    for name in names:
        if name not in cfg.channels:
            raise NotFound(f"unknown channel {name!r} (channels: {', '.join(cfg.channels)})")
    specs = []
    for name, settings in cfg.channels.items():
        if names and name not in names:
            continue
        if not settings.enabled:
            if names:
                raise ConfigError(f"channels.{name}.enabled: the channel is disabled")
            continue
        channel = get_channel(settings.kind or name)
        if channel.one_file_per_target:
            specs += [FeedSpec(channel, settings, (t,)) for t in settings.targets]
        else:
            specs.append(FeedSpec(channel, settings, settings.targets))
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
                      quantum=target.rounding, rounding=target.rounding_mode.value)
    return DeriveContext(base_url=cfg.shop.base_url, language=target.language,
                         id_field=cfg.shop.id_field, pricing=pricing, now=now,
                         default_brand=cfg.shop.default_brand, categories=categories,
                         variant_axes=cfg.shop.variant_axes,
                         backorder_days=cfg.shop.backorder_days)


def derive_contexts(cfg: Config, specs: Sequence[FeedSpec], categories: Mapping[int, Category],
                    now: datetime) -> dict[tuple[Any, ...], DeriveContext]:
    """One derivation per distinct target of `specs` (`Target.derivation`), in the
    order the files first read them."""
    found: dict[tuple[Any, ...], DeriveContext] = {}
    for spec in specs:
        for target in spec.targets:
            if target.derivation not in found:
                found[target.derivation] = derive_context(cfg, target, categories, now)
    return found


def home_feeds(cfg: Config) -> dict[str, str]:
    """Channel name -> the stem of its feed made for the shop's own country, language and
    currency (else its first target), for every enabled feed channel: the catalogues
    that events on the shop's own pages are matched against."""
    shop = (cfg.shop.country, cfg.shop.language, cfg.shop.currency)
    found = {}
    feeds = [s for s in feed_specs(cfg) if s.channel.one_file_per_target]
    for name, group in groupby(feeds, key=lambda spec: spec.name):
        specs = list(group)
        home = [s for s in specs
                if (s.target.country, s.target.language, s.target.currency) == shop]
        found[name] = (home or specs)[0].stem
    return found


def home_stems(cfg: Config) -> list[str]:
    """The stems of `home_feeds`, sorted."""
    return sorted(home_feeds(cfg).values())
