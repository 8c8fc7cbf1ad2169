"""Settings: documented defaults -> the TOML file -> environment variables -> one `Config`.

Every setting is a field of one of the section dataclasses below, with its
default and a one-line doc in the field's metadata. That single registry
produces the commented starter file (`vendre-feeds init`), the environment
variable names and the README table, so a setting cannot be added without
being documented.

File lookup: `--config PATH`, else `$VENDRE_FEEDS_CONFIG`, else
`./vendre-feeds.toml`. Environment variables override the file: every scalar
setting has `VENDRE_FEEDS_<SECTION>_<KEY>` (e.g. `VENDRE_FEEDS_SHOP_BASE_URL`),
and a few have the short names the README lists (`VENDRE_API_URL`,
`VENDRE_FEEDS_DATA_DIR`, `VENDRE_FEEDS_ACCESS_KEY`).

The Vendre API key is *not* a setting: it is read from the environment variable
named by `[vendre] api_key_env` (default `VENDRE_API_KEY`) only when a sync
needs it, and never stored in `Config`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from feeds.core.ids import IdField
from feeds.core.pricing import Rounding
from feeds.errors import ConfigError

__all__ = [
    "BestsellerSettings",
    "BuildSettings",
    "ChannelSettings",
    "Config",
    "IdField",
    "Rounding",
    "ScheduleSettings",
    "ServerSettings",
    "ShopSettings",
    "Target",
    "TrackingSettings",
    "VendreSettings",
    "api_key_from_env",
    "config_path",
    "load_config",
    "settings_table",
    "starter_toml",
]

DEFAULT_CONFIG_FILE = "vendre-feeds.toml"
ENV_PREFIX = "VENDRE_FEEDS_"


def _s(default: Any, doc: str, *, env: str | None = None, example: str | None = None) -> Any:
    """A documented setting: `doc` goes into the starter file and the README."""
    meta = {"doc": doc, "env": env, "example": example}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class VendreSettings:
    """[vendre]: how the shop's /API/1 is read."""

    api_url: str = _s("", "Base URL of the shop's admin API, e.g. https://shop.se/API/1",
                      env="VENDRE_API_URL", example="https://shop.se/API/1")
    api_key_env: str = _s("VENDRE_API_KEY",
                          "Name of the environment variable holding the API key "
                          "(the key itself is never read from this file)")
    page_size: int = _s(250, "Items asked for per page (the shop may answer with fewer)")
    concurrency: int = _s(4, "Pages fetched at once after the first")
    timeout_s: float = _s(30.0, "Seconds before one request times out")
    retries: int = _s(5, "Retries of one request after a timeout, connection error, 429 or 5xx")
    orders: bool = _s(True, "Read orders too (for bestseller labels); a failure is a warning")
    orders_days: int = _s(60, "Keep the orders of this many past days, judged by order date")


@dataclass(frozen=True)
class ShopSettings:
    """[shop]: facts about the shop that every feed and event uses."""

    name: str = _s("", "Shop name, used as the feeds' channel title")
    base_url: str = _s("", "Storefront URL; product links are base_url + seo_link[language]",
                       example="https://shop.se")
    language: str = _s("sv", "Language of titles, descriptions and links (falls back to any "
                             "non-empty language)")
    currency: str = _s("SEK", "ISO 4217 currency of the prices in Vendre")
    country: str = _s("SE", "ISO 3166-1 country the shop sells to")
    tax_classes: dict[int, Decimal] = _s(
        {2: Decimal(25), 3: Decimal(6), 4: Decimal(12), 5: Decimal(0)},
        "Vendre tax_class_id -> VAT percent (check these against your shop's admin)")
    id_field: IdField = _s(IdField.ID, 'The one product id of every feed and event: "id" '
                                       '(Vendre\'s product id) or "article_number"')
    default_brand: str = _s("", "Brand for products without a manufacturer (empty = none)")


@dataclass(frozen=True)
class BuildSettings:
    """[build]: publishing rules shared by every channel."""

    max_drop_percent: int = _s(30, "Refuse to publish a feed whose item count fell by more "
                                   "than this percentage (override with --force)")
    history_versions: int = _s(50, "Published versions kept per feed under history/")
    history_max_mb: int = _s(2000, "At most this many MB of history per feed")
    templates_dir: str = _s("", "Folder whose templates override the built-in ones "
                                "(same relative names, e.g. feeds/google.xml)")


@dataclass(frozen=True)
class BestsellerSettings:
    """[bestsellers]: label the products that sell, from the orders in the store."""

    window_days: int = _s(30, "Rank products by units sold over this many days")
    top_percent: int = _s(10, "Label the top this-many percent of the products that sold")
    label: str = _s("custom_label_0", "Which custom label carries the mark (custom_label_0..4)")
    value: str = _s("bestseller", "The label's value (empty disables bestseller labels)")


@dataclass(frozen=True)
class ServerSettings:
    """[server]: the feed server (`vendre-feeds serve`)."""

    host: str = _s("127.0.0.1", "Interface to listen on")
    port: int = _s(8000, "Port to listen on")
    access_key: str = _s("", "Secret path segment of every feed URL and the status page "
                             "(`init` generates one)", env="VENDRE_FEEDS_ACCESS_KEY")
    public_url: str = _s("", "Where shoppers' browsers and feed fetchers reach this server, "
                             "e.g. https://feeds.shop.se", example="https://feeds.shop.se")
    max_feed_age_minutes: int = _s(180, "/health answers 503 when a feed is older than this")
    threads: int = _s(8, "Worker threads of the WSGI server")
    connection_limit: int = _s(1000, "Open connections the server accepts at once (1-100000); "
                                     "further clients wait in the listen queue")
    channel_timeout_s: int = _s(30, "Seconds a connection may pass without a byte received or "
                                    "sent before it is closed (1-3600)")


@dataclass(frozen=True)
class ScheduleSettings:
    """[schedule]: background sync + build."""

    every_minutes: int = _s(60, "Run sync and build this often in `serve`/`worker` (0 = never)")


@dataclass(frozen=True)
class TrackingSettings:
    """[tracking]: the snippets and the one-tag loader."""

    gtm_id: str = _s("", "Google Tag Manager container id (GTM-XXXX); empty = off")
    ga4_id: str = _s("", "GA4 measurement id (G-XXXX); empty = off")
    meta_pixel_id: str = _s("", "Meta Pixel id (digits); empty = off")
    criteo_account: str = _s("", "Criteo OneTag account id (digits); empty = off")
    site_key: str = _s("", "Public key in the loader's URL (not a secret; `init` generates one)")
    consent_mode: bool = _s(True, "Send Google Consent Mode v2 defaults (denied) before any tag, "
                                  "and make Meta and Criteo wait for consent")
    prices_include_vat: bool = _s(True, "Event prices with VAT, like the feeds")
    meta_group_ids: bool = _s(False, "Meta events name the variant group (product_group) "
                                     "instead of the variant")
    criteo_site_type: str = _s("d", 'Criteo setSiteType: "d" desktop, "m" mobile, "t" tablet')
    cart_path: str = _s("/(varukorg|kassa|cart|checkout)", "Regular expression for the cart "
                                                           "page's URL path")
    confirmation_path: str = _s("/(tack|thank|confirmation|checkout_success)",
                                "Regular expression for the order confirmation URL path")
    buy_button_selector: str = _s("[data-buy], .buy-button, button[name=buy]",
                                  "CSS selector of the buy button on product pages")
    allowed_origins: list[str] = _s([], "Origins allowed to fetch the product index (CORS); "
                                        "empty = the shop's base_url")
    index_shards: int = _s(64, "Number of product index shards a page chooses from")


@dataclass(frozen=True)
class Target:
    """One feed file of a channel: a country, language and currency."""

    file: str
    country: str
    language: str
    currency: str
    rate: Decimal = Decimal(1)
    rounding_quantum: Decimal = Decimal("0.01")
    rounding: Rounding = Rounding.HALF_UP
    tax_classes: Mapping[int, Decimal] | None = None


@dataclass(frozen=True)
class ChannelSettings:
    """[channels.<code>]: whether a channel is built, its filters and targets."""

    code: str
    enabled: bool = True
    extra: Mapping[str, str] = field(default_factory=dict)
    exclude_categories: tuple[int, ...] = ()
    exclude_out_of_stock: bool = False
    min_price: Decimal | None = None
    max_drop_percent: int | None = None
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True)
class Config:
    """The whole configuration, immutable once loaded."""

    data_dir: Path
    vendre: VendreSettings
    shop: ShopSettings
    build: BuildSettings
    bestsellers: BestsellerSettings
    server: ServerSettings
    schedule: ScheduleSettings
    tracking: TrackingSettings
    channels: Mapping[str, ChannelSettings]
    source: Path | None = None

    def channel(self, code: str) -> ChannelSettings:
        """The settings of channel `code`, defaults when the file has none."""
        return self.channels.get(code) or _default_channel(self, code)

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line (masked by `feeds.log`)."""
        return tuple(s for s in (self.server.access_key,) if s)


SECTIONS: dict[str, type] = {
    "vendre": VendreSettings,
    "shop": ShopSettings,
    "build": BuildSettings,
    "bestsellers": BestsellerSettings,
    "server": ServerSettings,
    "schedule": ScheduleSettings,
    "tracking": TrackingSettings,
}
DATA_DIR_DOC = "Holds catalog.sqlite3, feeds/, reports/ and history/"
DATA_DIR_DEFAULT = "./vendre-feeds-data"
DATA_DIR_ENV = "VENDRE_FEEDS_DATA_DIR"

_POSITIVE = {"page_size", "concurrency", "timeout_s", "orders_days", "window_days",
             "history_versions", "history_max_mb", "port", "threads", "index_shards",
             "max_feed_age_minutes"}
_PERCENT = {"max_drop_percent", "top_percent"}
_LABELS = {f"custom_label_{i}" for i in range(5)}


# ---------------------------------------------------------------- loading


def config_path(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    """The file to read: `--config`, else `$VENDRE_FEEDS_CONFIG`, else ./vendre-feeds.toml."""
    return Path(explicit or env.get("VENDRE_FEEDS_CONFIG") or DEFAULT_CONFIG_FILE)


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    required: bool = False,
    overrides: Mapping[str, Any] | None = None,
    use_file: bool = True,
) -> Config:
    """Read the TOML file (if any), apply environment overrides, validate.

    :param path: the file from `--config`; None means the usual lookup.
    :param env: the environment (defaults to `os.environ`).
    :param required: raise when the file does not exist (an explicit --config always is).
    :param overrides: a dict in the file's shape, applied over the file (tests, demo).
    :param use_file: False reads no file at all (the demo is self-contained).
    :raises ConfigError: naming the key that is missing or malformed.
    """
    env = os.environ if env is None else env
    file = config_path(path, env)
    raw: dict[str, Any] = {}
    if not use_file:
        pass
    elif file.is_file():
        raw = _read_toml(file)
    elif required or path is not None or env.get("VENDRE_FEEDS_CONFIG"):
        raise ConfigError(f"config file {file} not found (run `vendre-feeds init` to write one)")
    if overrides:
        raw = _merge(raw, overrides)
    return _build_config(raw, env, file.resolve() if use_file and file.is_file() else None)


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot be read: {exc.strerror}") from None


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build_config(raw: dict[str, Any], env: Mapping[str, str], source: Path | None) -> Config:
    known = {"data_dir", "channels", *SECTIONS}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{key}: unknown setting or section")
    data_dir = env.get(DATA_DIR_ENV) or raw.get("data_dir", DATA_DIR_DEFAULT)
    if not isinstance(data_dir, str) or not data_dir:
        raise ConfigError("data_dir: must be a non-empty path")
    sections = {name: _section(name, cls, raw.get(name, {}), env) for name, cls in SECTIONS.items()}
    # Paths in the file are relative to the file, so that cron, `serve` and a shell in
    # another directory all use the same data (paths from the environment: to the cwd).
    if source is not None and not env.get(DATA_DIR_ENV):
        data_dir = str(source.parent / data_dir)
    sections["build"] = _templates_dir(sections["build"], source)
    cfg = Config(data_dir=Path(data_dir), channels={}, source=source, **sections)
    channels = _channels(raw.get("channels", {}), cfg)
    cfg = dataclasses.replace(cfg, channels=channels)
    _check_cross(cfg)
    return cfg


def _templates_dir(build: BuildSettings, source: Path | None) -> BuildSettings:
    """`[build] templates_dir`, resolved against the config file, and checked to exist."""
    if not build.templates_dir:
        return build
    folder = Path(build.templates_dir).expanduser()
    if source is not None and not folder.is_absolute():
        folder = source.parent / folder
    if not folder.is_dir():
        raise ConfigError(f"build.templates_dir: {folder} is not a folder")
    return dataclasses.replace(build, templates_dir=str(folder))


def _section(name: str, cls: type, table: Any, env: Mapping[str, str]) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}]: must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            raise ConfigError(f"{name}.{key}: unknown setting")
    hints = typing.get_type_hints(cls)
    values = {}
    for fname, f in fields.items():
        dotted = f"{name}.{fname}"
        value = table.get(fname, _MISSING)
        env_value = _env_value(name, fname, f, env)
        if env_value is not None:
            value = env_value
        if value is _MISSING:
            continue
        values[fname] = _convert(dotted, hints[fname], value)
        _check_range(dotted, fname, values[fname])
    return cls(**values)


_MISSING = object()


def env_names(section: str, f: dataclasses.Field[Any]) -> list[str]:
    """The environment variables that override one setting, short name first."""
    names = [f"{ENV_PREFIX}{section.upper()}_{f.name.upper()}"]
    if f.metadata.get("env"):
        names.insert(0, f.metadata["env"])
    return names


def _env_value(section: str, fname: str, f: dataclasses.Field[Any],
               env: Mapping[str, str]) -> str | None:
    for name in env_names(section, f):
        if name in env:
            return env[name]
    return None


def _convert(dotted: str, hint: Any, value: Any) -> Any:
    """Turn a TOML (or environment string) value into the field's type."""
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            return _to_bool(value)
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ValueError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise ValueError
            return value.strip()
        if isinstance(hint, type) and issubclass(hint, StrEnum):
            return hint(value)
        if origin is dict:
            if isinstance(value, str):
                value = tomllib.loads(f"v = {value}")["v"]
            return {int(k): _decimal(v) for k, v in value.items()}
        if origin is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError
            return list(value)
    except (ValueError, TypeError, AttributeError, InvalidOperation, tomllib.TOMLDecodeError):
        pass
    raise ConfigError(f"{dotted}: {_describe(hint)} expected, got {value!r}")


def _describe(hint: Any) -> str:
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) is dict:
        return "a table of tax class id = VAT percent"
    return "a list of strings"


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, float):
        value = repr(value)
    result = Decimal(str(value).strip())
    if not result.is_finite():
        raise ValueError(value)
    return result


def _check_range(dotted: str, fname: str, value: Any) -> None:
    if fname in _POSITIVE and value <= 0:
        raise ConfigError(f"{dotted}: must be greater than 0, got {value!r}")
    if fname in _PERCENT and not 0 <= value <= 100:
        raise ConfigError(f"{dotted}: must be a percentage from 0 to 100, got {value!r}")
    if fname in {"retries", "every_minutes"} and value < 0:
        raise ConfigError(f"{dotted}: must not be negative, got {value!r}")
    if fname == "connection_limit" and not 1 <= value <= 100_000:
        raise ConfigError(f"{dotted}: must be from 1 to 100000, got {value!r}")
    if fname == "channel_timeout_s" and not 1 <= value <= 3600:
        raise ConfigError(f"{dotted}: must be from 1 to 3600 seconds, got {value!r}")
    if fname == "tax_classes" and any(not 0 <= v < 100 for v in value.values()):
        raise ConfigError(f"{dotted}: VAT percentages must be from 0 to 100")


# ---------------------------------------------------------------- channels

_CHANNEL_KEYS = {"enabled", "extra", "exclude_categories", "exclude_out_of_stock",
                 "min_price", "max_drop_percent", "targets", "home"}
_TARGET_KEYS = {"file", "country", "language", "currency", "rate", "rounding",
                "rounding_mode", "tax_classes"}
_FILE_STEM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_XML_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _channels(table: Any, cfg: Config) -> dict[str, ChannelSettings]:
    if not isinstance(table, dict):
        raise ConfigError("[channels]: must be a table of channel tables")
    return {code: _channel(code, value, cfg) for code, value in table.items()}


def _default_channel(cfg: Config, code: str) -> ChannelSettings:
    return ChannelSettings(code=code, targets=(_home_target(cfg, code),))


def _home_target(cfg: Config, code: str) -> Target:
    return Target(file=code, country=cfg.shop.country, language=cfg.shop.language,
                  currency=cfg.shop.currency)


def _channel(code: str, table: Any, cfg: Config) -> ChannelSettings:
    where = f"channels.{code}"
    if not _FILE_STEM.match(code):
        raise ConfigError(f"{where}: channel names are lower-case letters, digits, - and _")
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}]: must be a table")
    for key in table:
        if key not in _CHANNEL_KEYS:
            raise ConfigError(f"{where}.{key}: unknown setting")
    home = _convert(f"{where}.home", bool, table.get("home", True))
    targets = [_home_target(cfg, code)] if home else []
    raw_targets = table.get("targets", [])
    if not isinstance(raw_targets, list):
        raise ConfigError(f"{where}.targets: must be an array of tables ([[{where}.targets]])")
    targets += [_target(f"{where}.targets[{i}]", t, cfg) for i, t in enumerate(raw_targets)]
    _check_unique_files(where, targets)
    return ChannelSettings(
        code=code,
        enabled=_convert(f"{where}.enabled", bool, table.get("enabled", True)),
        extra=_extra(f"{where}.extra", table.get("extra", {})),
        exclude_categories=_int_list(f"{where}.exclude_categories",
                                     table.get("exclude_categories", [])),
        exclude_out_of_stock=_convert(f"{where}.exclude_out_of_stock", bool,
                                      table.get("exclude_out_of_stock", False)),
        min_price=_opt_decimal(f"{where}.min_price", table.get("min_price")),
        max_drop_percent=_opt_percent(f"{where}.max_drop_percent", table.get("max_drop_percent")),
        targets=tuple(targets),
    )


def _target(where: str, table: Any, cfg: Config) -> Target:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    for key in table:
        if key not in _TARGET_KEYS:
            raise ConfigError(f"{where}.{key}: unknown setting")
    if "file" not in table:
        raise ConfigError(f"{where}.file: missing (the feed file's name without .xml)")
    file = _convert(f"{where}.file", str, table["file"])
    if not _FILE_STEM.match(file):
        raise ConfigError(f"{where}.file: lower-case letters, digits, - and _ only, got {file!r}")
    currency = _convert(f"{where}.currency", str, table.get("currency", cfg.shop.currency))
    country = _convert(f"{where}.country", str, table.get("country", cfg.shop.country))
    _match(f"{where}.currency", _CURRENCY, currency, "a 3-letter ISO 4217 code")
    _match(f"{where}.country", _COUNTRY, country, "a 2-letter ISO 3166 code")
    rate = _opt_decimal(f"{where}.rate", table.get("rate"))
    if currency != cfg.shop.currency and rate is None:
        raise ConfigError(f"{where}.rate: missing; needed to convert {cfg.shop.currency} "
                          f"to {currency}")
    if rate is not None and rate <= 0:
        raise ConfigError(f"{where}.rate: must be greater than 0")
    quantum = _opt_decimal(f"{where}.rounding", table.get("rounding")) or Decimal("0.01")
    if quantum <= 0:
        raise ConfigError(f"{where}.rounding: must be a positive step such as 0.01 or 1")
    tax = table.get("tax_classes")
    return Target(
        file=file, country=country, currency=currency,
        language=_convert(f"{where}.language", str, table.get("language", cfg.shop.language)),
        rate=rate if rate is not None else Decimal(1),
        rounding_quantum=quantum,
        rounding=_convert(f"{where}.rounding_mode", Rounding,
                          table.get("rounding_mode", Rounding.HALF_UP)),
        tax_classes=None if tax is None else _convert(f"{where}.tax_classes",
                                                      dict[int, Decimal], tax),
    )


def _check_unique_files(where: str, targets: list[Target]) -> None:
    seen: set[str] = set()
    for t in targets:
        if t.file in seen:
            raise ConfigError(f"{where}.targets: the file name {t.file!r} is used twice")
        seen.add(t.file)


def _extra(where: str, table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table of attribute = value")
    out = {}
    for key, value in table.items():
        if not _XML_NAME.match(key):
            raise ConfigError(f"{where}.{key}: attribute names are lower-case letters, digits, _")
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: a string expected, got {value!r}")
        out[key] = str(value)
    return out


def _int_list(where: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              for v in value):
        raise ConfigError(f"{where}: a list of category ids expected, got {value!r}")
    return tuple(value)


def _opt_decimal(where: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return _decimal(value)
    except (ValueError, InvalidOperation):
        raise ConfigError(f"{where}: a number expected, got {value!r}") from None


def _opt_percent(where: str, value: Any) -> int | None:
    if value is None:
        return None
    number = _convert(where, int, value)
    _check_range(where, "max_drop_percent", number)
    return number


def _match(where: str, pattern: re.Pattern[str], value: str, what: str) -> None:
    if not pattern.match(value):
        raise ConfigError(f"{where}: {what} expected, got {value!r}")


def _check_cross(cfg: Config) -> None:
    _match("shop.currency", _CURRENCY, cfg.shop.currency, "a 3-letter ISO 4217 code")
    _match("shop.country", _COUNTRY, cfg.shop.country, "a 2-letter ISO 3166 code")
    for name, url in (("vendre.api_url", cfg.vendre.api_url), ("shop.base_url", cfg.shop.base_url),
                      ("server.public_url", cfg.server.public_url)):
        if url and not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"{name}: an http(s) URL expected, got {url!r}")
    api = cfg.vendre.api_url
    if api.startswith("http://") and not re.match(r"^http://(127\.0\.0\.1|localhost)[:/]", api):
        # The key travels in a header: over plain http anyone on the way could read it.
        raise ConfigError(f"vendre.api_url: must be https (the API key is sent with every "
                          f"request), got {api!r}")
    if cfg.bestsellers.label not in _LABELS:
        raise ConfigError(f"bestsellers.label: one of custom_label_0..4 expected, "
                          f"got {cfg.bestsellers.label!r}")
    key = cfg.server.access_key
    if key and not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", key):
        raise ConfigError("server.access_key: at least 16 letters, digits, - or _ expected "
                          "(it is the only secret in every feed URL; `init` makes one)")
    _check_tracking_ids(cfg)
    if cfg.tracking.site_key and not re.fullmatch(r"[A-Za-z0-9_-]{3,64}", cfg.tracking.site_key):
        raise ConfigError("tracking.site_key: 3-64 letters, digits, - or _ expected")
    for name in ("cart_path", "confirmation_path"):
        try:
            re.compile(getattr(cfg.tracking, name))
        except re.error as exc:
            raise ConfigError(f"tracking.{name}: not a valid regular expression: {exc}") from None


def _check_tracking_ids(cfg: Config) -> None:
    """A set but malformed tracking id fails at start-up, naming the setting."""
    from tracking.errors import TrackingConfigError
    from tracking.options import TrackingOptions
    from tracking.services import enabled_services

    try:
        enabled_services(TrackingOptions.from_settings(cfg.tracking))
    except TrackingConfigError as exc:
        raise ConfigError(str(exc)) from None


def require(value: str, dotted: str, why: str) -> str:
    """`value`, or a ConfigError naming `dotted` when it is empty."""
    if not value:
        raise ConfigError(f"{dotted}: missing; {why}")
    return value


def api_key_from_env(cfg: Config, env: Mapping[str, str] | None = None) -> str:
    """The Vendre API key from the environment; never from the file, never logged."""
    env = os.environ if env is None else env
    name = cfg.vendre.api_key_env
    key = env.get(name, "").strip()
    if not key:
        raise ConfigError(f"vendre.api_key_env: the environment variable {name} is not set "
                          "(export the key Vendre support issued)")
    return key


# ---------------------------------------------------------------- documentation


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, StrEnum):
        return f'"{value.value}"'
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def settings_table() -> list[tuple[str, str, str, str]]:
    """(dotted key, default, environment variables, doc) for every scalar setting."""
    rows = [("data_dir", DATA_DIR_DEFAULT, DATA_DIR_ENV, DATA_DIR_DOC)]
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            rows.append((f"{name}.{f.name}", _toml_value(_default_of(f)),
                         ", ".join(env_names(name, f)), f.metadata["doc"]))
    return rows


_CHANNELS_DOC = """\
# ---------------------------------------------------------------------------
# [channels.<name>]: one table per feed channel (google, meta, criteo).
# A channel without a table is built with the defaults shown here.
#
# [channels.google]
# enabled = true                 # false = never built or served
# exclude_categories = [12, 34]  # Vendre category ids whose products are left out
# exclude_out_of_stock = false   # leave out items that are out of stock
# min_price = 0                  # leave out items cheaper than this (gross, feed currency)
# max_drop_percent = 30          # override [build] max_drop_percent for this channel
# home = true                    # build <name>.xml for the shop's own country/language/currency
# extra = { condition = "new", custom_label_4 = "summer" }   # fixed values on every item
#
# Extra feed files for other countries; each becomes <file>.xml:
# [[channels.google.targets]]
# file = "google-no"             # -> feeds/google-no.xml, reports/google-no.json
# country = "NO"
# language = "nb"                # titles, descriptions and links from this language
# currency = "NOK"
# rate = 0.98                    # NOK per 1 SEK of the shop's gross price
# rounding = 1                   # round converted prices to whole NOK (0.01 = cents)
# rounding_mode = "half_up"      # half_up, up or down
# tax_classes = { 2 = 25, 3 = 0 }  # this country's VAT per Vendre tax class; replaces
#                                  # [shop] tax_classes for this file (list every class)
"""


def starter_toml(*, access_key: str | None = None, site_key: str | None = None) -> str:
    """The commented starter file `vendre-feeds init` writes (fresh random keys)."""
    access_key = access_key or secrets.token_urlsafe(24)
    site_key = site_key or secrets.token_hex(8)
    fresh = {("server", "access_key"): access_key, ("tracking", "site_key"): site_key}
    lines = [
        "# vendre-feeds configuration. Every setting is shown with its default.",
        "# Environment variables override this file (see README, 'Configuration').",
        "# The Vendre API key is never written here: export VENDRE_API_KEY=... instead.",
        "",
        f"# {DATA_DIR_DOC} (env {DATA_DIR_ENV})",
        f'data_dir = "{DATA_DIR_DEFAULT}"',
    ]
    for name, cls in SECTIONS.items():
        lines += ["", f"[{name}]"]
        for f in dataclasses.fields(cls):
            env = ", ".join(env_names(name, f))
            lines.append(f"# {f.metadata['doc']} (env {env})")
            value = fresh.get((name, f.name))
            if value is not None:
                lines.append(f"{f.name} = {_toml_value(value)}")
            elif f.metadata.get("example"):
                # Left empty on purpose: a placeholder URL would send the API key (or
                # shoppers) to somebody else's host until the user edits it.
                lines.append(f'{f.name} = ""   # fill in, e.g. "{f.metadata["example"]}"')
            else:
                lines.append(f"{f.name} = {_toml_value(_default_of(f))}")
    lines += ["", _CHANNELS_DOC]
    return "\n".join(lines)

