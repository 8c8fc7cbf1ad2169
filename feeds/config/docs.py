"""The starter file (`vendre-feeds init`) and the README's settings table, both written
from the settings fields themselves, so that a setting cannot exist undocumented.

    python -m feeds.config     prints the README's settings table (Markdown)
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import typing
from collections.abc import Iterator
from decimal import Decimal
from enum import StrEnum
from typing import Any

from feeds.channels import all_channels
from feeds.config.load import (
    DATA_DIR_DEFAULT,
    DATA_DIR_DOC,
    DATA_DIR_ENV,
    ENV_PREFIX,
    env_names,
    env_names_for,
    section_env_prefix,
)
from feeds.config.sections import SECTIONS, FleetSettings
from feeds.core.settings import documented

__all__ = ["fleet_settings_table", "readme_table", "settings_table", "starter_toml"]

_NOT_FROM_ENV = "(array of tables: not from the environment)"
_NOT_FROM_ENV_SECTION = "(not from the environment)"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, StrEnum):
        return f'"{value.value}"'
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(key: Any) -> str:
    """A bare key where TOML allows one, else a quoted one ("färg")."""
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else _toml_value(text)


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _kind(cls: type, name: str) -> str:
    """'table', 'tables' (an array of tables) or 'value'."""
    hint = typing.get_type_hints(cls)[name]
    if dataclasses.is_dataclass(hint):
        return "table"
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args and dataclasses.is_dataclass(args[0]):
        return "tables"
    return "value"


def _item_class(cls: type, name: str) -> type:
    hint = typing.get_type_hints(cls)[name]
    return hint if dataclasses.is_dataclass(hint) else typing.get_args(hint)[0]


# ---------------------------------------------------------------- the rows


def _rows(dotted: str, cls: type, prefix: str | None) -> Iterator[tuple[str, str, str, str]]:
    """(dotted key, default, environment names, doc) of every setting of `cls`."""
    for f in documented(cls):
        key = f"{dotted}.{f.name}"
        kind = _kind(cls, f.name)
        if kind == "table":
            nested = prefix and f"{prefix}{f.name.upper()}_"
            yield from _rows(key, _item_class(cls, f.name), nested)
        elif kind == "tables":
            yield from _rows(f"{key}[]", _item_class(cls, f.name), None)
        else:
            default = _default_of(f)
            shown = _shown_default(default)
            envs = ", ".join(env_names_for(prefix, f)) if prefix else _NOT_FROM_ENV
            yield key, shown, envs, f.metadata["doc"]


def settings_table() -> list[tuple[str, str, str, str]]:
    """(dotted key, default, environment variables, doc) for every setting, the channels'
    included (each registered channel under its own name)."""
    rows = [("data_dir", _toml_value(DATA_DIR_DEFAULT), DATA_DIR_ENV, DATA_DIR_DOC)]
    for name, cls in SECTIONS.items():
        for f in documented(cls):
            default = _default_of(f)
            rows.append((f"{name}.{f.name}", _shown_default(default),
                         _section_envs(name, cls, f), f.metadata["doc"]))
    for channel in all_channels():
        prefix = f"{ENV_PREFIX}CHANNELS_{channel.code.upper().replace('-', '_')}_"
        rows += _rows(f"channels.{channel.code}", channel.settings, prefix)
    return rows


def fleet_settings_table() -> list[tuple[str, str, str, str]]:
    """The same rows for the fleet file's own settings (`--fleet`)."""
    return [(f"fleet.{f.name}", _shown_default(_default_of(f)),
             ", ".join(env_names("fleet", f)), f"Fleet file: {f.metadata['doc']}")
            for f in documented(FleetSettings)]


def _shown_default(default: Any) -> str:
    return "empty" if default is None else _toml_value(default)


def _section_envs(name: str, cls: type, f: dataclasses.Field[Any]) -> str:
    """A top-level setting's environment names, or why it has none."""
    if section_env_prefix(name, cls) is None:
        return _NOT_FROM_ENV_SECTION
    return ", ".join(env_names(name, f))


def readme_table() -> str:
    """The README's settings table, in Markdown: every shop setting, then the fleet file's."""
    lines = ["| setting | default | environment | what it does |", "|---|---|---|---|"]
    for dotted, default, envs, doc in settings_table() + fleet_settings_table():
        cell = default.replace("|", "\\|")
        lines.append(f"| `{dotted}` | `{cell}` | {envs} | {doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the starter file


def starter_toml(*, access_key: str | None = None, site_key: str | None = None,
                 in_fleet: bool = False) -> str:
    """The commented starter file `vendre-feeds init` writes (fresh random keys).

    :param in_fleet: a shop of a fleet: `data_dir` is left out (the fleet's default).
    """
    access_key = access_key or secrets.token_urlsafe(24)
    site_key = site_key or secrets.token_hex(8)
    fresh = {("server", "access_key"): access_key, ("tracking", "site_key"): site_key}
    lines = [
        "# vendre-feeds configuration. Every setting is shown with its default.",
        "# Environment variables override this file (see README, 'Configuration').",
        "# The Vendre API key is never written here: export VENDRE_API_KEY=... instead.",
        "",
        f"# {DATA_DIR_DOC} (env {DATA_DIR_ENV})",
        f'# data_dir = "{DATA_DIR_DEFAULT}"   (in a fleet: <state_root>/<name>/ unless set)'
        if in_fleet else f'data_dir = "{DATA_DIR_DEFAULT}"',
    ]
    for name, cls in SECTIONS.items():
        lines += ["", f"[{name}]"]
        for f in documented(cls):
            envs = _section_envs(name, cls, f)
            lines.append(f"# {f.metadata['doc']} "
                         + (envs if envs == _NOT_FROM_ENV_SECTION else f"(env {envs})"))
            lines.append(_assignment(f, fresh.get((name, f.name))))
    lines += ["", "# " + "-" * 75,
              "# [channels.<name>]: one table per channel. A channel without a table is built",
              "# with the defaults shown. Environment: VENDRE_FEEDS_CHANNELS_<NAME>_<KEY>."]
    for channel in all_channels():
        lines += ["", f"# {channel.title}: {channel.spec_url}"]
        table = _table_lines(f"channels.{channel.code}", channel.settings)
        if not channel.default_instance:  # a platform kind: an example to copy
            lines.append(f'# Copy under [channels.<name>] with kind = "{channel.code}":')
            table = [f"# {line}" if line else line for line in table]
        lines += table
    return "\n".join(lines) + "\n"


def _assignment(f: dataclasses.Field[Any], fresh: str | None = None) -> str:
    if fresh is not None:
        return f"{f.name} = {_toml_value(fresh)}"
    if f.metadata.get("example"):
        # Left empty on purpose: a placeholder URL would send the API key (or
        # shoppers) to somebody else's host until the user edits it.
        return f'{f.name} = ""   # fill in, e.g. "{f.metadata["example"]}"'
    default = _default_of(f)
    if default is None:
        return f"# {f.name} =   (empty: not set)"
    return f"{f.name} = {_toml_value(default)}"


def _table_lines(dotted: str, cls: type) -> list[str]:
    """`[dotted]` with every setting, nested tables after it, arrays of tables commented."""
    lines = [f"[{dotted}]"]
    later: list[str] = []
    for f in documented(cls):
        kind = _kind(cls, f.name)
        if kind == "table":
            later += [""] + _table_lines(f"{dotted}.{f.name}", _item_class(cls, f.name))
        elif kind == "tables":
            later += ["", f"# {f.metadata['doc']}:", f"# [[{dotted}.{f.name}]]"]
            # The header is the [[...]] above; a nested table names the array's last element.
            later += [f"# {line}" for line in
                      _table_lines(f"{dotted}.{f.name}", _item_class(cls, f.name))[1:] if line]
        else:
            lines += [f"# {f.metadata['doc']}", _assignment(f)]
    return lines + later
