"""CDON's and Fyndiq's settings: the channel table, its markets and delivery times.

A marketplace combines markets into one payload: the shop's own market
(`[shop] country`) plus `[[channels.<name>.markets]]`, each a `Market` target derived
with its own language, currency, rate and VAT table (marketplaces.md 1.2, 2.2).
Checked when the channel is enabled, naming the key. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, cast

from feeds.core.pricing import Rounding
from feeds.core.settings import PushedSettings, Required, Target, internal, setting
from feeds.errors import ConfigError

__all__ = ["CURRENCIES", "LANGUAGE_TAGS", "LanguageFallback", "Market", "MarketShippingTime",
           "MerchantSettings", "OnRemoved", "ShippingTime", "shipping"]

CURRENCIES = {"SE": "SEK", "DK": "DKK", "FI": "EUR", "NO": "NOK"}
LANGUAGE_TAGS = {"sv": "sv-SE", "nb": "nb-NO", "no": "nb-NO", "da": "da-DK", "fi": "fi-FI",
                 "en": "en-US"}


class OnRemoved(StrEnum):
    """What happens on the marketplace to an article no longer for sale in Vendre."""

    DELETE = "delete"
    PAUSE = "pause"


class LanguageFallback(StrEnum):
    """A market whose language has no text of its own (empty, or the same as the shop
    language's text): the article is not offered there, or the shop's text is sent."""

    OMIT = "omit"
    HOME = "home"


@dataclass(frozen=True)
class ShippingTime:
    """[channels.<name>.shipping_time]: working days to delivery in the shop's market."""

    min: int = setting(1, "Fewest working days to delivery", min=1, max=9)
    max: int = setting(3, "Most working days to delivery", min=1, max=9)


@dataclass(frozen=True)
class MarketShippingTime:
    """A market's own delivery time; empty values take the channel's."""

    min: int | None = setting(None, "Fewest working days to delivery (empty: the channel's)",
                              min=1, max=9)
    max: int | None = setting(None, "Most working days to delivery (empty: the channel's)",
                              min=1, max=9)


@dataclass(frozen=True)
class Market(Target):
    """[[channels.<name>.markets]]: one more market, derived like a target.

    Its name (`file`, the key of its derivation) and country follow from `market`;
    an empty currency is the market's own.
    """

    file: str = internal("")
    country: str = internal("")
    language: str = setting("", "Language of titles and descriptions: sv, nb, da, fi or en "
                                "(Fyndiq: sv or en) (default: [shop] language)")
    currency: str = setting("", "SEK (SE), DKK (DK), EUR (FI) or NOK (NO) "
                                "(default: the market's)")
    rounding_mode: Rounding = internal(Rounding.HALF_UP)
    market: str = setting("", "SE, DK, FI or NO")
    shipping_time: MarketShippingTime = setting(MarketShippingTime(),
                                                "Working days to delivery in this market")

    def __post_init__(self) -> None:
        code = self.market.strip().upper()
        object.__setattr__(self, "market", code)
        if not self.file:
            object.__setattr__(self, "file", code.lower() or "market")
        if not self.country:
            object.__setattr__(self, "country", code)
        if not self.currency and code in CURRENCIES:
            object.__setattr__(self, "currency", CURRENCIES[code])


@dataclass(frozen=True)
class MerchantSettings(PushedSettings):
    """[channels.cdon] / [channels.fyndiq]: a Merchant API marketplace."""

    api_url: str = setting("", "The Merchant API's base URL")
    default_category: str = setting("", "Marketplace category id for products with no "
                                        "mapping", example="1124")
    categories: dict[int, str] = setting(
        {}, "Vendre category id -> marketplace category id; a product takes its own or its "
            "nearest mapped ancestor's, else default_category")
    shipping_time: ShippingTime = setting(ShippingTime(), "Working days to delivery")
    on_removed: OnRemoved = setting(
        OnRemoved.DELETE, 'What happens to an article no longer for sale in Vendre (hidden, '
                          'inactive, deleted): "delete" or "pause"')
    markets: tuple[Market, ...] = setting(
        (), "More markets besides the shop's own, one [[channels.<name>.markets]] each")
    language_fallback: LanguageFallback = setting(
        LanguageFallback.OMIT, 'A market whose language has no title or description of its '
                               'own (empty, or the same as the shop language\'s): "omit" (not '
                               'offered there) or "home" (the shop\'s text is sent there); a '
                               'warning per article either way')

    target_tables: ClassVar[str] = "markets"
    required: ClassVar[tuple[Required, ...]] = (
        Required(("default_category", "categories"),
                 "the marketplace refuses an article without a category: set its category id "
                 "for products with no mapping (and map Vendre categories in categories)"),)
    #: Vendre language -> the marketplace's language tag, for titles and descriptions.
    languages: ClassVar[Mapping[str, str]] = LANGUAGE_TAGS

    def with_home(self, home: Target) -> MerchantSettings:
        """The shop's own market first, then the configured ones (checked when enabled)."""
        own = Market(file=home.file, country=home.country, language=home.language,
                     currency=home.currency, rate=home.rate, market=home.country)
        settings = dataclasses.replace(self, targets=(own, *self.markets))
        if settings.enabled:
            settings._check_markets()
        return settings

    def _check_markets(self) -> None:
        where, seen = f"channels.{self.name}", set()
        for index, market in enumerate(cast(Sequence[Market], self.targets)):
            key = f"{where}.markets[{index - 1}]" if index else "shop"
            code = market.market
            if code not in CURRENCIES:
                field_ = "market" if index else "country"
                raise ConfigError(f"{key}.{field_}: {self.name} sells in SE, DK, FI or NO, "
                                  f"got {code!r}")
            if code in seen:
                raise ConfigError(f"{key}.market: {code} is listed twice (the shop's own "
                                  "market, [shop] country, is always included)")
            seen.add(code)
            if market.currency != CURRENCIES[code]:
                raise ConfigError(f"{key}.currency: {code} takes {CURRENCIES[code]}, "
                                  f"got {market.currency!r}")
            if market.language not in self.languages:
                raise ConfigError(f"{key}.language: {self.name} takes titles in "
                                  f"{', '.join(sorted(set(self.languages)))}, "
                                  f"got {market.language!r}")
            low, high = shipping(self, market)
            if low > high:
                raise ConfigError(f"{key if index else where}.shipping_time: min {low} is "
                                  f"more than max {high}")


def shipping(settings: MerchantSettings, market: Market) -> tuple[int, int]:
    """(min, max) working days in `market`: its own, else the channel's."""
    own = market.shipping_time
    return (own.min if own.min is not None else settings.shipping_time.min,
            own.max if own.max is not None else settings.shipping_time.max)
