"""The shops folder as the web tier and beat see it: each shop's config, shard and keys,
reloaded when a file changes (no restart).

A reload reads only the files whose size, time or inode changed. A file that no longer
loads keeps its last good config (a typo does not take a shop offline) and its error is
reported; a file that never loaded is left out. Two shops with the same access key,
site key or webhook secret are refused as a whole: the previous snapshot stays, and the
error names both shops (never the key).

Keys are looked up by their SHA-256, so that no lookup compares a secret byte by byte.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from feeds.config import Config, Fleet
from feeds.errors import ConfigError, FeedsError
from feeds.fleet import purchases
from feeds.log import add_secret

__all__ = ["KeyKind", "Shop", "ShopsFolder", "Snapshot", "digest"]

log = logging.getLogger("feeds.fleet.shops")

Stamp = tuple[int, int, int]


class KeyKind:
    ACCESS = "server.access_key"
    SITE = "tracking.site_key"
    WEBHOOK = "the webhook secret ([purchases] webhook_secret_env)"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Shop:
    """One shop as loaded: its config, shard and the file's stamp when it was read."""

    name: str
    cfg: Config
    shard: int
    stamp: Stamp
    webhook_secret: str = field(default="", repr=False)

    def keys(self) -> dict[str, str]:
        """Its keys by kind (only those set)."""
        found = {KeyKind.ACCESS: self.cfg.server.access_key,
                 KeyKind.SITE: self.cfg.tracking.site_key,
                 KeyKind.WEBHOOK: self.webhook_secret}
        return {kind: key for kind, key in found.items() if key}


@dataclass(frozen=True)
class Snapshot:
    """Every loaded shop, its keys' index, and the errors of the last reload."""

    shops: Mapping[str, Shop] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    index: Mapping[tuple[str, str], str] = field(default_factory=dict, repr=False)
    refused: str = ""  # why the last reload was refused as a whole ("" when it was not)

    def find(self, kind: str, key: str) -> Shop | None:
        """The shop whose key of `kind` is `key`, or None."""
        name = self.index.get((kind, digest(key))) if key else None
        return self.shops.get(name) if name else None


def index_keys(shops: Mapping[str, Shop]) -> dict[tuple[str, str], str]:
    """(kind, digest) -> shop name for every key of every shop.

    :raises ConfigError: two shops share a key (naming both and the setting).
    """
    found: dict[tuple[str, str], str] = {}
    for name in sorted(shops):
        for kind, key in shops[name].keys().items():
            slot = (kind, digest(key))
            if slot in found:
                raise ConfigError(f"shops {found[slot]} and {name} have the same {kind}; "
                                  "each shop needs its own")
            found[slot] = name
    return found


def _stamp(path: Path) -> Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class ShopsFolder:
    """The current `Snapshot`, reloaded when the folder changed, at most every `every_s`.

    :param reader: load configs for reading only (no data dir needed on this machine).
    """

    def __init__(self, fleet: Fleet, *, every_s: float = 5.0, reader: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fleet = fleet
        self.every_s = every_s
        self.reader = reader
        self._clock = clock
        self._snapshot = Snapshot()
        self._checked: float | None = None
        self._lock = threading.Lock()

    def current(self) -> Snapshot:
        """The snapshot, after a reload if `every_s` has passed since the last look."""
        now = self._clock()
        if self._checked is None or now - self._checked >= self.every_s:
            with self._lock:
                if self._checked is None or now - self._checked >= self.every_s:
                    self._snapshot = self._reload(self._snapshot)
                    self._checked = self._clock()
        return self._snapshot

    def reload(self) -> Snapshot:
        """Look at the folder now."""
        with self._lock:
            self._snapshot = self._reload(self._snapshot)
            self._checked = self._clock()
        return self._snapshot

    def _reload(self, old: Snapshot) -> Snapshot:
        try:
            names = self.fleet.shop_names()
        except ConfigError as exc:
            log.error("shops folder not reloaded: %s", exc)
            return Snapshot(old.shops, old.errors, old.index, refused=str(exc))
        shops: dict[str, Shop] = {}
        errors: dict[str, str] = {}
        for name in names:
            stamp = _stamp(self.fleet.shop_file(name))
            previous = old.shops.get(name)
            if previous is not None and stamp == previous.stamp and name not in old.errors:
                shops[name] = previous
                continue
            try:
                shops[name] = self._load(name, stamp)
            except FeedsError as exc:
                errors[name] = str(exc)
                if previous is not None:
                    shops[name] = previous
                if old.errors.get(name) != str(exc):
                    log.error("%s", exc)
        try:
            index = index_keys(shops)
        except ConfigError as exc:
            if old.refused != str(exc):
                log.error("shops folder not reloaded: %s", exc)
            return Snapshot(old.shops, old.errors, old.index, refused=str(exc))
        return Snapshot(shops, errors, index)

    def _load(self, name: str, stamp: Stamp | None) -> Shop:
        cfg = self.fleet.load_shop(name, reader=self.reader)
        shard = self.fleet.shard_of(name, cfg)
        secret = purchases.webhook_secret(cfg)
        add_secret(*cfg.secrets(), secret)
        return Shop(name, cfg, shard, stamp or (0, 0, 0), secret)
