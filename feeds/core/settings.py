"""Settings as data: one dataclass field per setting, with its default, doc and range.

`setting(...)` makes such a field. The config package (`feeds.config`) reads a
TOML file and the environment and converts each value by its field's type; it
also writes the starter file, the environment names and the README table from
the same fields, so a setting cannot exist undocumented. The channel modules
declare their own settings classes with the same helper (a subclass of
`ChannelSettings`), so adding a channel never touches the config package.

Types the config package converts: bool, int, float, str, Decimal, StrEnum,
`X | None`, `dict[int, Decimal]`, `dict[int, str]`, `dict[str, str]`,
`list[str]`, `tuple[int, ...]`, a nested settings dataclass (a TOML table), and
`tuple[<dataclass>, ...]` (an array of tables; not settable from the environment).

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from feeds.core.pricing import Rounding

__all__ = [
    "ChannelSettings",
    "FeedSettings",
    "PushedSettings",
    "Required",
    "Target",
    "documented",
    "internal",
    "setting",
]


def setting(default: Any, doc: str, *, env: str | None = None, example: str | None = None,
            min: float | None = None, max: float | None = None,  # noqa: A002
            secret_env: bool = False) -> Any:
    """A documented setting: `doc` goes into the starter file and the README.

    :param env: a short environment name besides `VENDRE_FEEDS_<SECTION>_<KEY>`.
    :param example: shown instead of the default in the starter file (left empty there).
    :param min: the smallest value allowed (numbers; for collections, each element).
    :param max: the largest value allowed.
    :param secret_env: the value names an environment variable holding a secret.
    """
    meta = {"doc": doc, "env": env, "example": example, "min": min, "max": max,
            "secret_env": secret_env}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def internal(default: Any = None) -> Any:
    """A field the loader fills in (never read from the file or the environment)."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default),
                     metadata={"internal": True})
    return field(default=default, metadata={"internal": True})


def documented(cls: type) -> list[dataclasses.Field[Any]]:
    """The settings fields of a settings class, in declaration order."""
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


@dataclass(frozen=True)
class Required:
    """What an enabled channel cannot build without: one of `keys` set (not empty).

    The loader checks it and names `keys[0]` in the error (exit 2), with `why`.
    """

    keys: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Target:
    """One way of deriving the catalogue: a country, language, currency and VAT table.

    A feed channel writes one file per target (`file` is its name); a marketplace
    combines several targets (its markets) into one payload. Empty values mean the
    shop's own (`[shop]`); the loader fills them in.
    """

    file: str = setting("", "The feed file's name without extension, e.g. google-no")
    country: str = setting("", "ISO 3166-1 country (default: [shop] country)")
    language: str = setting("", "Language of titles, descriptions and links "
                                "(default: [shop] language)")
    currency: str = setting("", "ISO 4217 currency (default: [shop] currency)")
    rate: Decimal | None = setting(None, "Units of this currency per 1 of the shop's "
                                         "currency (needed when the currency differs)", min=0)
    rounding: Decimal = setting(Decimal("0.01"), "Round converted prices to a multiple of "
                                                 "this (0.01 = cents, 1 = whole units)", min=0)
    rounding_mode: Rounding = setting(Rounding.HALF_UP, "half_up, up or down")
    tax_classes: Mapping[int, Decimal] | None = setting(
        None, "This country's VAT per Vendre tax class; replaces [shop] tax_classes "
              "for this target (list every class)", min=0, max=99)

    @property
    def derivation(self) -> tuple[Any, ...]:
        """What decides how a product is derived: targets equal here share one parse."""
        tax = tuple(sorted(self.tax_classes.items())) if self.tax_classes is not None else None
        return (self.language, self.currency, self.rate, self.rounding, self.rounding_mode,
                tax)


@dataclass(frozen=True)
class ChannelSettings:
    """[channels.<name>]: what every channel has, feed or marketplace.

    `name` is the table's name (the channel's files are named after it) and `kind`
    the registered channel it instantiates (default: the same name), so a second
    marketplace of one kind needs no code. `targets` is filled in by the loader.
    """

    enabled: bool = setting(True, "false = never built, served or pushed")
    kind: str = setting("", "Which channel this table instantiates (default: its name), "
                            'e.g. kind = "mirakl" for another Mirakl marketplace')
    exclude_categories: tuple[int, ...] = setting(
        (), "Vendre category ids whose products (and subcategories') are skipped", min=0)
    exclude_out_of_stock: bool = setting(False, "Skip items that are out of stock")
    min_price: Decimal | None = setting(None, "Skip items cheaper than this (gross, in "
                                              "the shop's currency); empty = no limit", min=0)
    max_drop_percent: int | None = setting(
        None, "Override [build] max_drop_percent for this channel", min=0, max=100)
    name: str = internal("")
    targets: tuple[Target, ...] = internal(())

    #: Settings this channel cannot build without, checked when it is enabled.
    required: ClassVar[tuple[Required, ...]] = ()
    #: The setting holding this channel's own target tables (an array of tables of a
    #: `Target` class), which the loader completes with the shop's values; "" = none.
    target_tables: ClassVar[str] = ""

    def with_home(self, home: Target) -> ChannelSettings:
        """These settings with `targets` complete, given the shop's own target."""
        return dataclasses.replace(self, targets=(home, *self.targets))


@dataclass(frozen=True)
class FeedSettings(ChannelSettings):
    """A pulled feed: one file per target, fixed extra values on every item."""

    home: bool = setting(True, "Build <name>.<ext> for the shop's own country, language "
                               "and currency")
    extra: dict[str, str] = setting(
        {}, 'Fixed values on every item, e.g. { condition = "new", custom_label_4 = '
            '"summer" }: replace a field, set a custom label or add an element')
    targets: tuple[Target, ...] = setting(
        (), "Extra feed files for other countries, one [[channels.<name>.targets]] each")

    target_tables: ClassVar[str] = "targets"

    def with_home(self, home: Target) -> FeedSettings:
        return dataclasses.replace(self, targets=((home,) if self.home else ()) + self.targets)


@dataclass(frozen=True)
class PushedSettings(ChannelSettings):
    """A channel whose file is pushed to an API: off until configured (it needs
    credentials), and pushed by `refresh` and the schedule only when `push` says so."""

    enabled: bool = setting(False, "false = never built, served or pushed (a pushed channel "
                                   "needs credentials, so it starts disabled)")
    push: bool = setting(False, "true: `refresh` and the schedule push after a good build")
    timeout_s: float = setting(60.0, "Seconds one request to the marketplace may take, connect "
                                     "to last byte; a later answer is a failed, retried request",
                               min=0.1, max=3600)
    push_deadline_minutes: float = setting(60.0, "Minutes one whole push may take; then it "
                                                 "stops (what was accepted stays recorded)",
                                           min=0.01, max=10_080)
    max_response_mb: int = setting(16, "Largest answer read from the marketplace, in MB (a "
                                       "processing report once unpacked too); a larger one "
                                       "fails the push", min=1, max=4096)
    max_removal_percent: int = setting(
        20, "Refuse a push that would delete, pause or zero more than this share of the "
            "articles for sale (and more than 10); `push --force` sends it", min=0, max=100)
    report_timeout_hours: float = setting(
        24.0, "Hours a feed, import or batch may stay in processing; then its articles are "
              "unconfirmed and the next push sends them again", min=0.001, max=720)
