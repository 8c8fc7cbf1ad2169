"""The fleet file (`--fleet PATH` or `$VENDRE_FEEDS_FLEET`) and its shops' configs.

A fleet is a fleet file plus a folder of ordinary shop configs, one per shop, whose
name is the file's stem::

    fleet.toml          [fleet] broker_url, shops_dir, state_root, shards, ...
                        [publish] (optional) inherited by every shop without its own
    shops/acme.toml     an ordinary config; may hold [fleet] shard = K
    state/acme/         acme's data dir, unless acme.toml sets data_dir

A shop's config is loaded as any other, with two defaults of the fleet: its data dir
(`<state_root>/<name>/`) and its `[publish]` table (the fleet's, with `<name>/`
appended to the target's prefix and `/<name>` to the public URL). Settings that name
one shop (its data dir, keys and URLs) cannot come from the environment in a fleet:
every shop of a process shares it, so such a variable is a configuration error.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feeds.config.load import (
    DATA_DIR_ENV,
    ENV_PREFIX,
    convert_table,
    env_names,
    load_config,
    read_toml,
)
from feeds.config.sections import SECTIONS, Config, FleetSettings, PublishSettings
from feeds.core.settings import documented
from feeds.errors import ConfigError

__all__ = ["FLEET_ENV", "Fleet", "inherit_publish", "load_fleet", "shop_name_ok"]

FLEET_ENV = "VENDRE_FEEDS_FLEET"
_SHOP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# The settings that name one shop: from the environment they would be every shop's.
_PER_SHOP = {"vendre": ("api_url",), "shop": ("base_url",), "server": ("access_key",
             "public_url"), "tracking": ("site_key",), "publish": ("target", "public_url")}


def shop_name_ok(name: str) -> bool:
    """Whether `name` can name a shop: it is a Redis key part, a queue's task argument and
    a folder name (lower-case letters, digits, - and _)."""
    return bool(_SHOP_NAME.match(name))


@dataclass(frozen=True)
class Fleet:
    """A loaded fleet file: its settings, resolved folders and inherited `[publish]`."""

    settings: FleetSettings
    source: Path
    shops_dir: Path
    state_root: Path
    publish: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def shop_file(self, name: str) -> Path:
        return self.shops_dir / f"{name}.toml"

    def shop_names(self) -> list[str]:
        """Every shop's name (the `*.toml` files of the shops folder), sorted.

        :raises ConfigError: the folder is missing, or a file's name cannot name a shop.
        """
        if not self.shops_dir.is_dir():
            raise ConfigError(f"fleet.shops_dir: {self.shops_dir} is not a folder")
        names = []
        for path in sorted(self.shops_dir.glob("*.toml")):
            if path.name.startswith("."):
                continue
            if not shop_name_ok(path.stem):
                raise ConfigError(f"{path}: a shop's file name is its name: lower-case "
                                  "letters, digits, - and _ (at most 64), then .toml")
            names.append(path.stem)
        return names

    def name_of(self, path: str | os.PathLike[str]) -> str:
        """The shop a config file belongs to (its stem), checked to be in the shops folder.

        :raises ConfigError: the file is elsewhere, or its name cannot name a shop.
        """
        file = Path(path)
        # The folder, not the file, is resolved: a file may be a symlink (a Kubernetes
        # ConfigMap's files point into a hidden folder).
        if file.absolute().parent.resolve() != self.shops_dir.resolve():
            raise ConfigError(f"{file}: not in the fleet's shops folder {self.shops_dir} "
                              "(a shop's state is kept by its name; a copy elsewhere would "
                              "share it)")
        if not shop_name_ok(file.stem) or file.suffix != ".toml":
            raise ConfigError(f"{file}: a shop's file name is its name: lower-case letters, "
                              "digits, - and _, then .toml")
        return file.stem

    def load_shop(self, name: str, *, overrides: Mapping[str, Any] | None = None,
                  reader: bool = False) -> Config:
        """Shop `name`'s config with the fleet's defaults (data dir, `[publish]`).

        :param reader: for the web tier, which only reads a data dir (and may not have it).

        :raises ConfigError: naming the shop's file and the setting.
        """
        file = self.shop_file(name)
        _refuse_per_shop_env(self.env)
        try:
            raw = read_toml(file) or {}
            defaults: dict[str, Any] = {}
            if "data_dir" not in raw:
                defaults["data_dir"] = str(self.state_root / name)
            inherited = inherit_publish(self.publish, raw.get("publish"), name)
            if inherited is not None:
                defaults["publish"] = inherited
            merged = {**defaults, **(overrides or {})}
            return load_config(file, self.env, required=True, overrides=merged or None,
                               check_data_dir=not reader)
        except ConfigError as exc:
            raise ConfigError(f"shop {name}: {exc}") from None

    def shard_of(self, name: str, cfg: Config) -> int:
        """The shard shop `name` belongs to: its `[fleet] shard`, else crc32(name) % shards.

        :raises ConfigError: the shop names a shard the fleet does not have.
        """
        shards = self.settings.shards
        if cfg.fleet.shard is not None:
            if cfg.fleet.shard >= shards:
                raise ConfigError(f"shop {name}: fleet.shard: {cfg.fleet.shard} is not a "
                                  f"shard of this fleet (shards = {shards}: 0 to {shards - 1})")
            return cfg.fleet.shard
        return default_shard(name, shards)


def default_shard(name: str, shards: int) -> int:
    """crc32 of the name's UTF-8 bytes, modulo the shard count: the same on every machine
    and every Python (unlike `hash()`, which is salted per process)."""
    return zlib.crc32(name.encode("utf-8")) % shards


def inherit_publish(fleet_publish: Mapping[str, Any], own: Any,
                    name: str) -> dict[str, Any] | None:
    """The `[publish]` table shop `name` gets from the fleet: None when the shop sets its
    own (it is used as written) or the fleet has none; else the fleet's table with
    `<name>/` appended to the target's prefix and `/<name>` to the public URL, so that
    every shop's objects (and their CDN URLs) stay apart."""
    if own is not None or not fleet_publish:
        return None
    table = dict(fleet_publish)
    target = str(table.get("target") or "")
    if target:
        table["target"] = f"{target.rstrip('/')}/{name}/"
    public = str(table.get("public_url") or "")
    if public:
        table["public_url"] = f"{public.rstrip('/')}/{name}"
    return table


def load_fleet(path: str | os.PathLike[str] | None = None,
               env: Mapping[str, str] | None = None) -> Fleet:
    """Read the fleet file: `path`, else `$VENDRE_FEEDS_FLEET`.

    :raises ConfigError: no fleet file was named, or it is malformed (naming the key).
    """
    env = os.environ if env is None else env
    named = path or env.get(FLEET_ENV)
    if not named:
        raise ConfigError(f"no fleet file: pass --fleet PATH or set {FLEET_ENV}")
    file = Path(named)
    raw = read_toml(file, kind="fleet file", missing="") or {}
    for key in raw:
        if key not in ("fleet", "publish"):
            raise ConfigError(f"{file}: {key}: unknown section (a fleet file holds [fleet] "
                              "and [publish])")
    settings = convert_table("fleet", FleetSettings, raw.get("fleet", {}), env,
                             env_prefix=f"{ENV_PREFIX}FLEET_")
    _check_settings(settings, file)
    publish = _publish_table(raw.get("publish"), file)
    base = file.resolve().parent
    return Fleet(settings=settings, source=file.resolve(),
                 shops_dir=base / Path(settings.shops_dir).expanduser(),
                 state_root=base / Path(settings.state_root).expanduser(),
                 publish=publish, env=env)


def _check_settings(settings: FleetSettings, file: Path) -> None:
    if settings.broker_url and not re.match(r"^rediss?://", settings.broker_url):
        raise ConfigError(f"{file}: fleet.broker_url: a redis:// or rediss:// URL expected")
    if settings.time_limit_s >= settings.visibility_timeout_s:
        raise ConfigError(f"{file}: fleet.time_limit_s: must be below visibility_timeout_s "
                          f"({settings.visibility_timeout_s}), or Redis may hand a running "
                          "job to a second worker")
    for name in ("shops_dir", "state_root"):
        if not getattr(settings, name):
            raise ConfigError(f"{file}: fleet.{name}: must be a non-empty path")


def _publish_table(table: Any, file: Path) -> dict[str, Any]:
    """The fleet's `[publish]` as written, its keys checked against the shops' `[publish]`
    settings (each shop's loader checks the values, with its own prefix)."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: [publish]: must be a table")
    known = {f.name for f in documented(PublishSettings)}
    for key in table:
        if key not in known:
            raise ConfigError(f"{file}: publish.{key}: unknown setting")
    return dict(table)


def _refuse_per_shop_env(env: Mapping[str, str]) -> None:
    """A variable that sets one shop's identity would set it for every shop of the fleet."""
    names = [DATA_DIR_ENV]
    for section, keys in _PER_SHOP.items():
        cls = SECTIONS.get(section)
        if cls is None:
            continue
        for f in documented(cls):
            if f.name in keys:
                names += env_names(section, f)
    for name in names:
        if env.get(name):
            raise ConfigError(f"{name}: set in the environment of a fleet, where it would "
                              "apply to every shop; set it in each shop's file instead")
