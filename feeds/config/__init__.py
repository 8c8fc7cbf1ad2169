"""Settings: documented defaults -> the TOML file -> environment variables -> one `Config`.

- `sections`: the top-level sections (`[vendre]`, `[shop]`, ...) and `Config`;
- `load`: reading the file and the environment, converting and checking every value;
- `docs`: the starter file and the README's settings table, from the same fields;
- `fleet`: the fleet file (`--fleet`) and its shops' configs (data dir, `[publish]`).

Channel settings are declared by the channel modules (`feeds.core.settings`), so a
channel brings its own settings without a change here. The Vendre API key and the
marketplaces' credentials are *not* settings: they are read from the environment
only when a sync or a push needs them, and never stored in `Config`.

Import rule: config imports core, channels (for their settings classes), the
error tree and `tracking` (to check tracking ids); nothing above it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from feeds.config.docs import readme_table, settings_table, starter_toml
from feeds.config.fleet import FLEET_ENV, Fleet, load_fleet
from feeds.config.load import check_https, config_path, env_names, load_config
from feeds.config.sections import (
    BestsellerSettings,
    BuildSettings,
    Config,
    FleetSettings,
    FleetShopSettings,
    PublishSettings,
    PurchasesSettings,
    ScheduleSettings,
    ServerSettings,
    ShopSettings,
    TrackingSettings,
    VendreSettings,
)
from feeds.core.ids import IdField
from feeds.core.pricing import Rounding
from feeds.core.settings import ChannelSettings, FeedSettings, Target
from feeds.errors import ConfigError

__all__ = [
    "FLEET_ENV",
    "BestsellerSettings",
    "BuildSettings",
    "ChannelSettings",
    "Config",
    "FeedSettings",
    "Fleet",
    "FleetSettings",
    "FleetShopSettings",
    "IdField",
    "PublishSettings",
    "PurchasesSettings",
    "Rounding",
    "ScheduleSettings",
    "ServerSettings",
    "ShopSettings",
    "Target",
    "TrackingSettings",
    "VendreSettings",
    "api_key_from_env",
    "check_https",
    "config_path",
    "env_names",
    "load_config",
    "load_fleet",
    "readme_table",
    "require",
    "secret_from_env",
    "settings_table",
    "starter_toml",
]


def require(value: str, dotted: str, why: str) -> str:
    """`value`, or a ConfigError naming `dotted` when it is empty."""
    if not value:
        raise ConfigError(f"{dotted}: missing; {why}")
    return value


def secret_from_env(name: str, what: str, env: Mapping[str, str] | None = None) -> str:
    """A secret from the environment variable `name`; never from the file, never logged."""
    env = os.environ if env is None else env
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"the environment variable {name} is not set ({what})")
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
