"""Loading: documented defaults -> the TOML file -> environment variables -> one `Config`.

File lookup: `--config PATH`, else `$VENDRE_FEEDS_CONFIG`, else
`./vendre-feeds.toml`. Environment variables override the file: every setting
that is not an array of tables has `VENDRE_FEEDS_<SECTION>_<KEY>` (e.g.
`VENDRE_FEEDS_SHOP_BASE_URL`; a channel's are `VENDRE_FEEDS_CHANNELS_<NAME>_<KEY>`,
a nested table's keys are joined with `_`), and a few have the short names the
README lists (`VENDRE_API_URL`, `VENDRE_FEEDS_DATA_DIR`, `VENDRE_FEEDS_ACCESS_KEY`).

Every value is converted by its field's type and checked against its range;
a bad one is a `ConfigError` that names the key (dotted) in one line. The file's
values must have their type already (`enabled = "false"` is an error, never read
as true); only environment variables, which are always text, are read from text.
An unknown key names the known one it most resembles. What a build cannot do
without (`[shop] base_url`, an enabled channel's `required` settings) is an
error at load time, not an empty feed later.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import stat
import tomllib
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from feeds.channels import all_channels, get_channel
from feeds.config.sections import SECTIONS, BuildSettings, Config, ShopSettings
from feeds.core.settings import ChannelSettings, Target, documented
from feeds.errors import ConfigError, NotFound

__all__ = ["DATA_DIR_DEFAULT", "DATA_DIR_DOC", "DATA_DIR_ENV", "DEFAULT_CONFIG_FILE",
           "ENV_PREFIX", "channel_defaults", "config_path", "env_names", "load_config",
           "read_toml", "section_env_prefix"]

DEFAULT_CONFIG_FILE = "vendre-feeds.toml"
ENV_PREFIX = "VENDRE_FEEDS_"
DATA_DIR_DOC = "Holds catalog.sqlite3, feeds/, reports/, history/ and state/"
DATA_DIR_DEFAULT = "./vendre-feeds-data"
DATA_DIR_ENV = "VENDRE_FEEDS_DATA_DIR"
_MAX_CONFIG_BYTES = 1024 * 1024

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # channel names and feed file names
_XML_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LABELS = {f"custom_label_{i}" for i in range(5)}
#: Settings that were renamed: old dotted key -> new name (an error says which).
RENAMED = {"server.max_feed_age_minutes": "stale_after_minutes"}


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
    check_data_dir: bool = True,
) -> Config:
    """Read the TOML file (if any), apply environment overrides, validate.

    :param path: the file from `--config`; None means the usual lookup.
    :param env: the environment (defaults to `os.environ`).
    :param required: raise when the file does not exist (an explicit --config always is).
    :param overrides: a dict in the file's shape, applied over the file (tests, demo).
    :param use_file: False reads no file at all (the demo is self-contained).
    :param check_data_dir: False for a reader that never writes there (a fleet's web
        tier, which may not even have the folder).
    :raises ConfigError: naming the key that is missing or malformed.
    """
    env = os.environ if env is None else env
    file = config_path(path, env)
    raw: dict[str, Any] = {}
    source = None
    if use_file:
        explicit = required or path is not None or bool(env.get("VENDRE_FEEDS_CONFIG"))
        found = read_toml(file, explicit)
        if found is not None:
            raw, source = found, file.resolve()
    if overrides:
        raw = _merge(raw, overrides)
    return _build_config(raw, env, source, no_file=use_file and source is None,
                         check_data_dir=check_data_dir)


def read_toml(file: Path, explicit: bool = True, *, kind: str = "config file",
              missing: str = " (run `vendre-feeds init` to write one)"
              ) -> dict[str, Any] | None:
    """The file's tables; None when it does not exist and was not asked for by name.
    Errors name the file as `kind` ("fleet file"), and a missing one adds `missing`."""
    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{kind} {file} not found{missing}") from None
        return None
    except OSError as exc:
        raise ConfigError(f"{kind} {file} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        # A directory, a FIFO or a device (/dev/zero) would hang or never end.
        raise ConfigError(f"{kind} {file} is not a regular file")
    try:
        with file.open("rb") as fh:
            data = fh.read(_MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{kind} {file} cannot be read: {exc.strerror}") from None
    if len(data) > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{kind} {file} is larger than 1 MB; is it the right file?")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{kind} {file} is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build_config(raw: dict[str, Any], env: Mapping[str, str], source: Path | None, *,
                  no_file: bool = False, check_data_dir: bool = True) -> Config:
    known = {"data_dir", "channels", *SECTIONS}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{key}: unknown setting or section{did_you_mean(key, known)}")
    data_dir = env.get(DATA_DIR_ENV) or raw.get("data_dir", DATA_DIR_DEFAULT)
    if not isinstance(data_dir, str) or not data_dir.strip():
        raise ConfigError("data_dir: must be a non-empty path")
    sections = {name: convert_table(name, cls, raw.get(name, {}), env,
                                    env_prefix=section_env_prefix(name, cls))
                for name, cls in SECTIONS.items()}
    # Paths in the file are relative to the file, so that cron, `serve` and a shell in
    # another directory all use the same data (paths from the environment: to the cwd).
    if source is not None and not env.get(DATA_DIR_ENV):
        data_dir = str(source.parent / data_dir)
    sections["build"] = _templates_dir(sections["build"], source)
    if check_data_dir:
        _check_data_dir(Path(data_dir))
    cfg = Config(data_dir=Path(data_dir), channels={}, source=source, **sections)
    _check_shop(cfg.shop, no_file=no_file and not raw)
    cfg = dataclasses.replace(cfg, channels=_channels(raw.get("channels", {}), cfg, env))
    _check_cross(cfg)
    return dataclasses.replace(cfg, warnings=tuple(_warnings(cfg)))


def section_env_prefix(name: str, cls: type) -> str | None:
    """The environment names' prefix of a top-level section; None when the section is not
    read from the environment (`from_env = False`)."""
    return f"{ENV_PREFIX}{name.upper()}_" if getattr(cls, "from_env", True) else None


def _warnings(cfg: Config) -> Iterator[str]:
    """What is allowed but probably wrong: printed by build, validate and serve, and shown
    on the status page."""
    if cfg.publish.target and not cfg.publish.public_url:
        yield ("publish.target is set but publish.public_url is not: `urls`, the status "
               "page and the loader tag name this server, not the CDN")
    for name, settings in cfg.channels.items():
        if not settings.enabled:
            continue
        for target in settings.targets:
            if target.country != cfg.shop.country and target.tax_classes is None:
                yield (f"channels.{name}: {target.file} sells to {target.country} but has no "
                       f"tax_classes of its own, so its prices carry {cfg.shop.country} VAT "
                       "([shop] tax_classes)")


def _check_data_dir(path: Path) -> None:
    """The data dir must be a folder, or one this process can create."""
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"data_dir: {path} is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"data_dir: {path} cannot be written")
        return
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"data_dir: {path} cannot be created ({parent} is not a "
                          "writable folder)")


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


# ---------------------------------------------------------------- one table


def convert_table(where: str, cls: type, table: Any, env: Mapping[str, str], *,
                  env_prefix: str | None) -> Any:
    """An instance of the settings class `cls` from a TOML table and the environment.

    :param env_prefix: the environment names' prefix for this table (None: the table
        cannot be set from the environment, e.g. inside an array of tables).
    """
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}]: must be a table")
    fields = {f.name: f for f in documented(cls)}
    for key in table:
        if key not in fields:
            _unknown(f"{where}.{key}", key, fields)
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        dotted = f"{where}.{name}"
        hint = hints[name]
        if _is_table(hint):
            nested = env_prefix and f"{env_prefix}{_env_key(name)}_"
            sub = table.get(name, {})
            values[name] = convert_table(dotted, hint, sub, env, env_prefix=nested)
            continue
        value, from_file = table.get(name, _MISSING), True
        if env_prefix is not None and not _is_table_array(hint):
            from_env = next((env[n] for n in env_names_for(env_prefix, f) if n in env), None)
            if from_env is not None:
                value, from_file = from_env, False
        if value is _MISSING:
            continue
        values[name] = convert(dotted, hint, value, strict=from_file)
        _check_range(dotted, f, values[name])
    return cls(**values)


def _unknown(dotted: str, key: str, known: Iterable[str]) -> None:
    """The error for a key no settings class declares: renamed, or a likely typo."""
    if dotted in RENAMED:
        raise ConfigError(f"{dotted}: renamed; write {RENAMED[dotted]} instead")
    raise ConfigError(f"{dotted}: unknown setting{did_you_mean(key, known)}")


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """' (did you mean base_url?)' for the known name closest to `word`, else ''."""
    close = difflib.get_close_matches(word.lower(), sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


_MISSING = object()


def env_names_for(prefix: str, f: dataclasses.Field[Any]) -> list[str]:
    """The environment variables that override one setting, short name first."""
    names = [f"{prefix}{_env_key(f.name)}"]
    if f.metadata.get("env"):
        names.insert(0, f.metadata["env"])
    return names


def env_names(section: str, f: dataclasses.Field[Any]) -> list[str]:
    """The environment names of a top-level section's setting."""
    return env_names_for(f"{ENV_PREFIX}{_env_key(section)}_", f)


def _env_key(name: str) -> str:
    return name.upper().replace("-", "_")


def _is_table(hint: Any) -> bool:
    return dataclasses.is_dataclass(hint)


def _is_table_array(hint: Any) -> bool:
    args = typing.get_args(hint)
    return typing.get_origin(hint) is tuple and bool(args) and dataclasses.is_dataclass(args[0])


def convert(dotted: str, hint: Any, value: Any, *, strict: bool = False) -> Any:
    """Turn a TOML value (`strict`: it must have the field's type; a number or a boolean
    in quotes is an error) or an environment string into the field's type."""
    try:
        return _convert(dotted, hint, value, strict)
    except ConfigError:
        raise
    except (ValueError, TypeError, AttributeError, InvalidOperation, tomllib.TOMLDecodeError):
        message = f"{dotted}: {_describe(hint)} expected, got {_shown(value)}"
        if strict and _readable_as_text(dotted, hint, value):
            message += " in quotes; write it without the quotes"
        raise ConfigError(message) from None


def _readable_as_text(dotted: str, hint: Any, value: Any) -> bool:
    """Whether `value` is text that an environment variable could give (quotes in TOML)."""
    try:
        _convert(dotted, hint, value, False)
    except (ConfigError, ValueError, TypeError, AttributeError, InvalidOperation,
            tomllib.TOMLDecodeError):
        return False
    return True


def _convert(dotted: str, hint: Any, value: Any, strict: bool = False) -> Any:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        return _convert(dotted, next(a for a in args if a is not type(None)), value, strict)
    if strict and isinstance(value, str) and hint in (bool, int, float, Decimal):
        raise ValueError(value)  # "false" in a file is text, never false
    if hint is bool:
        return _to_bool(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(value)
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(value)
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(value)
        return number
    if hint is Decimal:
        return _decimal(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(value)
        return value.strip()
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return hint(value)
    if origin in (dict, Mapping, typing.Mapping) or hint is Mapping:
        return _convert_map(dotted, args, value, strict)
    if origin is list or (origin is tuple and args and args[-1] is Ellipsis):
        return _convert_list(dotted, hint, args[0], value, strict)
    raise TypeError(hint)


def _convert_map(dotted: str, args: tuple[Any, ...], value: Any,
                 strict: bool = False) -> dict[Any, Any]:
    if isinstance(value, str) and not strict:
        value = tomllib.loads(f"v = {value}")["v"]
    if not isinstance(value, dict):
        raise ValueError(value)
    key_type, value_type = args
    out = {}
    free_keys = dotted.endswith("variant_axes")  # axis names as the shop spells them
    for key, item in value.items():
        key_value = int(key) if key_type is int else str(key)
        if free_keys:
            key_value = key_value.strip().lower()
        elif key_type is str and not _XML_NAME.match(key_value) and value_type is str:
            raise ConfigError(f"{dotted}.{key}: names are lower-case letters, digits and _")
        if value_type is str and isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        out[key_value] = _convert(f"{dotted}.{key}", value_type, item, strict)
    return out


def _convert_list(dotted: str, hint: Any, item_type: Any, value: Any,
                  strict: bool = False) -> Any:
    if dataclasses.is_dataclass(item_type):
        if not isinstance(value, list):
            raise ConfigError(f"{dotted}: must be an array of tables ([[{dotted}]])")
        return tuple(convert_table(f"{dotted}[{i}]", item_type, t, {}, env_prefix=None)
                     for i, t in enumerate(value))
    if isinstance(value, str) and not strict:
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise ValueError(value)
    if item_type is int:
        allowed = int if strict else (int, str)
        if not all(isinstance(v, allowed) and not isinstance(v, bool) for v in value):
            raise ValueError(value)
        items = [int(v) for v in value]
    elif item_type is str:
        if not all(isinstance(v, str) for v in value):
            raise ValueError(value)
        items = [v.strip() for v in value]
    else:
        items = [_convert(dotted, item_type, v, strict) for v in value]
    return tuple(items) if typing.get_origin(hint) is tuple else items


def _describe(hint: Any) -> str:
    args = typing.get_args(hint)
    if type(None) in args:
        return _describe(next(a for a in args if a is not type(None))) + " (or empty)"
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    names = {bool: "true or false", int: "a whole number", float: "a number",
             Decimal: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if origin in (dict, Mapping):
        return f"a table of {_describe(args[0])} = {_describe(args[1])}"
    if args and args[0] is int:
        return "a list of whole numbers"
    return "a list of strings"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(value)
    if isinstance(value, float):
        value = repr(value)
    result = Decimal(str(value).strip())
    if not result.is_finite():
        raise ValueError(value)
    return result


def _check_range(dotted: str, f: dataclasses.Field[Any], value: Any) -> None:
    """The field's `min`/`max`, for a number or for each number a collection holds."""
    low, high = f.metadata.get("min"), f.metadata.get("max")
    if value is None or (low is None and high is None):
        return
    numbers = list(value.values()) if isinstance(value, Mapping) else \
        list(value) if isinstance(value, (list, tuple)) else [value]
    for number in numbers:
        if not isinstance(number, (int, float, Decimal)) or isinstance(number, bool):
            continue
        if (low is not None and number < low) or (high is not None and number > high):
            raise ConfigError(f"{dotted}: must be from {_num(low)} to {_num(high)}, "
                              f"got {_shown(number)}")


def _num(value: float | None) -> str:
    if value is None:
        return "any"
    return f"{value:,.0f}".replace(",", "") if float(value).is_integer() else str(value)


# ---------------------------------------------------------------- channels


def _channels(table: Any, cfg: Config, env: Mapping[str, str]) -> dict[str, ChannelSettings]:
    """Every channel by name: the file's tables, then each registered channel without one."""
    if not isinstance(table, dict):
        raise ConfigError("[channels]: must be a table of channel tables")
    found = {name: _channel(name, value, cfg, env) for name, value in table.items()}
    for channel in all_channels():
        if channel.code not in found and channel.default_instance:
            found[channel.code] = _channel(channel.code, {}, cfg, env)
    return dict(sorted(found.items()))


def channel_defaults(name: str, cfg: Config) -> ChannelSettings:
    """The settings channel `name` has when the file has no table for it."""
    return _channel(name, {}, cfg, {})


def _channel(name: str, table: Any, cfg: Config, env: Mapping[str, str]) -> ChannelSettings:
    where = f"channels.{name}"
    if not _NAME.match(name):
        raise ConfigError(f"{where}: channel names are lower-case letters, digits, - and _")
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}]: must be a table")
    prefix = f"{ENV_PREFIX}CHANNELS_{_env_key(name)}_"
    kind = table.get("kind") or env.get(f"{prefix}KIND") or name
    try:
        channel = get_channel(str(kind))
    except NotFound as exc:
        hint = did_you_mean(str(kind), (c.code for c in all_channels()))
        raise ConfigError(f"{where}.kind: {exc}{hint}") from None
    settings = convert_table(where, channel.settings, table, env, env_prefix=prefix)
    settings = dataclasses.replace(settings, name=name, kind=channel.code)
    if settings.enabled:
        _check_required(where, settings)
    key = settings.target_tables
    if key:
        tables = tuple(_resolve_target(f"{where}.{key}[{i}]", t, cfg.shop)
                       for i, t in enumerate(getattr(settings, key)))
        settings = dataclasses.replace(settings, **{key: tables})
    settings = settings.with_home(home_target(cfg.shop, name))
    _check_unique_files(f"{where}.{key or 'targets'}", settings.targets)
    return settings


def _check_required(where: str, settings: ChannelSettings) -> None:
    """An enabled channel's `required` settings: one of each group's keys must be set."""
    for need in settings.required:
        if not any(getattr(settings, key) for key in need.keys):
            also = f" (or {', '.join(need.keys[1:])})" if need.keys[1:] else ""
            raise ConfigError(f"{where}.{need.keys[0]}: missing{also}; {settings.name} is "
                              f"enabled and {need.why}")


def home_target(shop: ShopSettings, name: str) -> Target:
    """The shop's own country, language and currency, as a target named `name`."""
    return Target(file=name, country=shop.country, language=shop.language,
                  currency=shop.currency, rate=Decimal(1))


def _resolve_target(where: str, target: Target, shop: ShopSettings) -> Target:
    """`target` with the shop's values where it left them empty, checked."""
    if not target.file or not _NAME.match(target.file):
        raise ConfigError(f"{where}.file: lower-case letters, digits, - and _ expected, "
                          f"got {target.file!r}")
    filled = dataclasses.replace(
        target, country=target.country or shop.country,
        language=target.language or shop.language, currency=target.currency or shop.currency)
    _match(f"{where}.currency", _CURRENCY, filled.currency, "a 3-letter ISO 4217 code")
    _match(f"{where}.country", _COUNTRY, filled.country, "a 2-letter ISO 3166 code")
    if filled.rate is None and filled.currency != shop.currency:
        raise ConfigError(f"{where}.rate: missing; needed to convert {shop.currency} "
                          f"to {filled.currency}")
    filled = dataclasses.replace(filled, rate=Decimal(1) if filled.rate is None else filled.rate)
    if filled.rate <= 0:
        raise ConfigError(f"{where}.rate: must be greater than 0")
    if filled.rounding <= 0:
        raise ConfigError(f"{where}.rounding: must be a positive step such as 0.01 or 1")
    return filled


def _check_unique_files(where: str, targets: tuple[Target, ...]) -> None:
    seen: set[str] = set()
    for t in targets:
        if t.file in seen:
            raise ConfigError(f"{where}: the name {t.file!r} is used twice")
        seen.add(t.file)


def _match(where: str, pattern: re.Pattern[str], value: str, what: str) -> None:
    if not pattern.match(value):
        raise ConfigError(f"{where}: {what} expected, got {value!r}")


def _check_shop(shop: ShopSettings, *, no_file: bool = False) -> None:
    if not shop.base_url:
        if no_file:
            raise ConfigError(f"shop.base_url: missing, and no config file was found "
                              f"(./{DEFAULT_CONFIG_FILE}, --config or $VENDRE_FEEDS_CONFIG); "
                              "run `vendre-feeds init` and fill in the file it writes")
        raise ConfigError("shop.base_url: missing; set it to the shop's storefront address, "
                          'e.g. base_url = "https://shop.se" (every product link starts '
                          "with it, so no feed can be built without it)")
    _match("shop.currency", _CURRENCY, shop.currency, "a 3-letter ISO 4217 code")
    _match("shop.country", _COUNTRY, shop.country, "a 2-letter ISO 3166 code")


def _check_cross(cfg: Config) -> None:
    for name, url in (("vendre.api_url", cfg.vendre.api_url), ("shop.base_url", cfg.shop.base_url),
                      ("server.public_url", cfg.server.public_url)):
        if url and not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"{name}: an http(s) URL expected, got "
                              f"{_without_userinfo(url)!r}")
    check_https("vendre.api_url", cfg.vendre.api_url,
                "the API key is sent with every request")
    if cfg.bestsellers.label not in _LABELS:
        raise ConfigError(f"bestsellers.label: one of custom_label_0..4 expected, "
                          f"got {cfg.bestsellers.label!r}")
    key = cfg.server.access_key
    if key and not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", key):
        raise ConfigError("server.access_key: at least 16 letters, digits, - or _ expected "
                          "(it is the only secret in every feed URL; `init` makes one)")
    _check_tracking_ids(cfg)
    axes = {"color", "size", "material", "pattern", "flavor"}
    for axis, attribute in cfg.shop.variant_axes.items():
        if attribute not in axes:
            raise ConfigError(f"shop.variant_axes.{axis}: one of {', '.join(sorted(axes))} "
                              f"expected, got {attribute!r}")
    if cfg.tracking.site_key and not re.fullmatch(r"[A-Za-z0-9_-]{3,64}", cfg.tracking.site_key):
        raise ConfigError("tracking.site_key: 3-64 letters, digits, - or _ expected")
    for name in ("cart_path", "confirmation_path"):
        try:
            re.compile(getattr(cfg.tracking, name))
        except re.error as exc:
            raise ConfigError(f"tracking.{name}: not a valid regular expression: {exc}") from None
    for name, settings in cfg.channels.items():
        for key, url in _urls(settings):
            check_https(f"channels.{name}.{key}", url, "credentials are sent with it")
    _check_purchases(cfg)
    _check_publish(cfg)


def _check_purchases(cfg: Config) -> None:
    """Endpoints that carry a secret are https (loopback aside); the API version a number."""
    p = cfg.purchases
    for key in ("ga4_endpoint", "meta_endpoint"):
        url = getattr(p, key)
        if not url:
            raise ConfigError(f"purchases.{key}: must not be empty")
        check_https(f"purchases.{key}", url, "the API secret or access token is sent with it")
    if not re.fullmatch(r"\d{1,3}\.\d{1,3}", p.meta_api_version):
        raise ConfigError(f"purchases.meta_api_version: a version such as 25.0 expected, "
                          f"got {p.meta_api_version!r}")
    if p.order_number_field and not re.fullmatch(r"[A-Za-z0-9_]{1,64}", p.order_number_field):
        raise ConfigError("purchases.order_number_field: a field name (letters, digits, _) "
                          f"expected, got {p.order_number_field!r}")
    for name in ("webhook_secret_env", "ga4_api_secret_env", "meta_access_token_env"):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", getattr(p, name)):
            raise ConfigError(f"purchases.{name}: an environment variable name expected, "
                              f"got {getattr(p, name)!r}")
    import ipaddress

    for address in cfg.server.trusted_proxies:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(f"server.trusted_proxies: an IP address expected, got "
                              f"{address!r}") from None


# Bucket names as S3, R2, MinIO and GCS's S3 API all accept them (AWS: 3-63 lower-case
# letters, digits, dots and hyphens; GCS also allows "_" and up to 222 with dots).
_TARGET = re.compile(r"^s3://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/[A-Za-z0-9!_.*'()=+,@-]+)*/?$")


def _check_publish(cfg: Config) -> None:
    """`[publish]`: a well-formed target, https endpoints, and a public URL only with a
    target (it names where the uploaded files are served)."""
    p = cfg.publish
    if p.target and (not _TARGET.match(p.target) or ".." in p.target.split("/")):
        raise ConfigError(f"publish.target: s3://bucket or s3://bucket/prefix expected "
                          f"(prefix of letters, digits and !_.*'()=+,@- between /), "
                          f"got {p.target!r}")
    check_https("publish.endpoint_url", p.endpoint_url, "credentials are sent with it")
    if p.public_url:
        if not p.target:
            raise ConfigError("publish.public_url: set without publish.target (it names "
                              "where the uploaded files are served)")
        if not re.match(r"^https?://[^/\s]+", p.public_url):
            raise ConfigError(f"publish.public_url: an http(s) URL expected, got "
                              f"{p.public_url!r}")


def _urls(settings: Any) -> Iterator[tuple[str, str]]:
    """The (key, value) of every setting of a channel whose name ends in url/endpoint."""
    for f in documented(type(settings)):
        value = getattr(settings, f.name)
        if isinstance(value, str) and value and f.name.endswith(("url", "endpoint")):
            yield f.name, value


def check_https(dotted: str, url: str, why: str) -> None:
    """`url` must be https; plain http only on loopback (the tests' fakes). A user name or
    password in it is refused; no message quotes them."""
    shown = _without_userinfo(url)
    if shown != url:
        # It would travel in every request and be echoed by every error that names the URL.
        raise ConfigError(f"{dotted}: must not hold a user name or password (the "
                          f"credentials come from the environment), got {shown!r}")
    if url.startswith("http://") and not re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])"
                                                  r"(:\d+)?(/|$)", url):
        # Credentials travel with the request: over plain http anyone on the way reads them.
        raise ConfigError(f"{dotted}: must be https ({why}), got {url!r}")
    if url and not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"{dotted}: an https URL expected, got {url!r}")


def _without_userinfo(url: str) -> str:
    """`url` without the `user:password@` part of its authority, if it has one."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*@)", url)
    return url if match is None else match.group(1) + url[match.end():]


def _check_tracking_ids(cfg: Config) -> None:
    """A set but malformed tracking id fails at start-up, naming the setting."""
    from tracking.errors import TrackingConfigError
    from tracking.options import TrackingOptions
    from tracking.services import enabled_services

    try:
        enabled_services(TrackingOptions.from_settings(cfg.tracking))
    except TrackingConfigError as exc:
        raise ConfigError(str(exc)) from None
