"""The product index the tracking loader reads: small JSON shards, rebuilt at every build.

A page finds its product or category by one lookup in one shard. Layout under
`<data_dir>/tracking/`::

    index.json                   {version, previous, shards, count, built_at, languages}
    index/<version>/<n>.json     shard n (0 <= n < shards): {key: entry, ...}, keys sorted

`version` is a short hash of the shards' content, so an unchanged catalogue keeps
its version and a changed one gets a new folder; the loader learns the current
version (it is rendered into loader.js) and asks for `<n>.json?v=<version>`,
which can then be cached for good. The previous version's folder is kept (a
cached loader may still ask for it), older ones are deleted.

Keys (the same in Python and in templates/tracking/loader.js):

    p:<path>     a product or category page: `seo_link` in every language, normalised
    i:<id>       a Vendre product id
    a:<article>  an article number (left out where several products share it)

Path normalisation (`normalise_path`): drop query and fragment, percent-decode,
lower-case, strip leading and trailing slashes, so `/en/rpgs/x/?visitorid=1`
and `en/rpgs/x` are one key. A key's shard is FNV-1a (32 bit) of its UTF-8
bytes modulo the shard count (`shard_of`).

Entries hold only what the shop's own pages already show, exactly the fields
an `EventItem` needs plus availability, and which published feeds hold the id:

    product   {id, name, price, net_price, currency, brand, categories, variant,
               group_id, availability, feeds}
    category  {list_id, list_name, items: [product entry, ...]}   (view_item_list)

`id` is `Product.feed_id` through `feeds.events.source.event_item`, the id the feeds
publish. Every sellable product gets an entry, whether or not a feed carries it
(`feeds.events.catalog` decides, for events and index alike); `feeds` lists the
home feeds (one per enabled feed channel, by stem, sorted) that hold the id when
the index is built (`feeds.storage.feed_ids`), so a service may tell an item its
catalogue lacks. A variant parent's keys give its first sellable variant's entry
(whose `group_id` is the parent), the product its page shows. A category's items
are its list members (`EventCatalog.walk`): the first `LIST_LENGTH` sellable
products of the category and its subcategories, in store order. Never purchase
prices, stock counts, customers or orders.

The same pass counts, per home feed, how many of the sellable products it holds:
the match rate the status page shows (`feeds.events.match`).

Shard count: `[tracking] index_shards` is a maximum. A small catalogue gets
fewer shards, one per `KEYS_PER_SHARD` keys (at least one), so that a page
still fetches one small file instead of many near-empty ones; a large
catalogue gets the maximum, and a warning is logged when its shards grow past
`WARN_KEYS_PER_SHARD` keys (raise `index_shards` then).

Memory stays flat: the store is streamed once and every row is staged in a
temporary SQLite file; the shards are written from one ORDER BY.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from feeds.config import Config
from feeds.core.model import Category, Product
from feeds.events.catalog import EventCatalog, Seen
from feeds.events.match import Match, MatchCounter, missing_reasons, write_match
from feeds.events.source import event_item
from feeds.pipeline.plan import home_stems
from feeds.storage.feed_ids import FeedIds
from feeds.storage.layout import Layout, write_json_atomic
from feeds.storage.lock import TRACKING_INDEX, held
from feeds.storage.store import Store
from tracking.serialize import js_dumps

__all__ = [
    "CATEGORY_FIELDS",
    "KEYS_PER_SHARD",
    "PRODUCT_FIELDS",
    "IndexInfo",
    "IndexState",
    "base_path",
    "build_index",
    "choose_shards",
    "fnv1a_32",
    "link_key",
    "normalise_path",
    "product_entry",
    "read_index",
    "shard_file",
    "shard_of",
]

log = logging.getLogger("feeds.events.index")

KEYS_PER_SHARD = 64  # ~64 entries: some 25 kB, a few kB gzipped
WARN_KEYS_PER_SHARD = 2000
PRODUCT_FIELDS = ("id", "name", "price", "net_price", "currency", "brand", "categories",
                  "variant", "group_id", "availability", "feeds")
CATEGORY_FIELDS = ("list_id", "list_name", "items")
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193
_VERSION_LENGTH = 16  # hex digits of the content hash that names a version


# ---------------------------------------------------------------- keys, shared with loader.js


def normalise_path(path: str) -> str:
    """A URL path as an index key: no query or fragment, percent-decoded, lower-case,
    no leading or trailing slash. loader.js `normalisePath` does the same."""
    text = path.strip().split("#", 1)[0].split("?", 1)[0]
    return unquote(text).lower().strip("/")


def base_path(base_url: str) -> str:
    """The normalised path of the shop's base URL ('' for a shop at the host's root);
    the loader strips it from `location.pathname` before the lookup."""
    return normalise_path(urlsplit(base_url.strip()).path) if base_url else ""


def link_key(seo_link: str, shop_path: str = "") -> str:
    """The `p:` key text of one `seo_link`. Links are relative to the shop's base URL;
    an absolute link is cut to its path, less the base URL's path."""
    if not seo_link.lstrip().lower().startswith(("http://", "https://")):
        return normalise_path(seo_link)
    path = normalise_path(urlsplit(seo_link.strip()).path)
    if shop_path and (path == shop_path or path.startswith(shop_path + "/")):
        path = path[len(shop_path):].strip("/")
    return path


def fnv1a_32(data: bytes) -> int:
    """FNV-1a, 32 bit."""
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def _utf8(key: str) -> bytes:
    """UTF-8 bytes; a lone surrogate becomes U+FFFD, as the browser's encoder does."""
    try:
        return key.encode("utf-8")
    except UnicodeEncodeError:
        fixed = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in key)
        return fixed.encode("utf-8")


def shard_of(key: str, shards: int) -> int:
    """The shard holding `key`: FNV-1a of its UTF-8 bytes modulo `shards`."""
    return fnv1a_32(_utf8(key)) % shards


def choose_shards(keys: int, maximum: int) -> int:
    """One shard per KEYS_PER_SHARD keys, at least 1, at most `maximum`."""
    return max(1, min(max(1, maximum), math.ceil(keys / KEYS_PER_SHARD)))


# ---------------------------------------------------------------- what the server reads


@dataclass(frozen=True)
class IndexState:
    """`tracking/index.json`: the current version and what the loader needs to know."""

    version: str
    previous: str
    shards: int
    count: int
    built_at: str
    languages: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "previous": self.previous, "shards": self.shards,
                "count": self.count, "built_at": self.built_at,
                "languages": list(self.languages)}


def read_index(layout: Layout) -> IndexState | None:
    """The current index, or None when none was built or index.json is unreadable."""
    try:
        data = _json_load(layout.tracking / "index.json")
        state = IndexState(str(data["version"]), str(data.get("previous") or ""),
                           int(data["shards"]), int(data["count"]), str(data["built_at"]),
                           tuple(str(x) for x in data.get("languages") or ()))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not (_is_version(state.version) and state.shards > 0):
        return None
    return state


def shard_file(layout: Layout, version: str, shard: int) -> Path | None:
    """The file of one shard of one version, or None for a malformed version name."""
    if not _is_version(version) or shard < 0:
        return None
    return layout.tracking / "index" / version / f"{shard}.json"


def _json_load(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def _is_version(text: str) -> bool:
    return len(text) == _VERSION_LENGTH and all(c in "0123456789abcdef" for c in text)


# ---------------------------------------------------------------- the build


@dataclass(frozen=True)
class IndexInfo:
    """What `build_index` wrote."""

    version: str
    previous: str
    shards: int
    count: int
    products: int
    categories: int
    built_at: datetime
    folder: Path
    match: Match | None = None


_SCHEMA = """
CREATE TABLE rows (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, hash INTEGER NOT NULL,
                   entry TEXT NOT NULL);
CREATE TABLE parent_keys (seq INTEGER PRIMARY KEY, parent INTEGER NOT NULL, key TEXT NOT NULL,
                          hash INTEGER NOT NULL);
CREATE TABLE first_variant (parent INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE members (category INTEGER NOT NULL, pos INTEGER NOT NULL, entry TEXT NOT NULL,
                      PRIMARY KEY (category, pos));
"""


def build_index(cfg: Config, store: Store, now: datetime) -> IndexInfo:
    """Build the index from the store, derived for the shop's own target (as
    `EventSource`), install it as the current version, prune versions older than the
    previous one, and write the match rates the same pass counted.

    :raises StoreError: the store cannot be read.
    :raises LockBusy: another index build runs on the same data dir.
    """
    layout = Layout(cfg.data_dir)
    versions = layout.tracking / "index"
    with held(layout, TRACKING_INDEX):
        versions.mkdir(parents=True, exist_ok=True)
        _remove_unfinished(versions)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=versions))
        try:
            with closing(_Stage(work / "stage.sqlite3")) as stage:
                found = _Collector(cfg, store, now, stage).run()
                shards = choose_shards(stage.key_count(), cfg.tracking.index_shards)
                version = _write_shards(stage, work, shards)
            (work / "stage.sqlite3").unlink()
            folder = _install(work, versions / version)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        old = read_index(layout)
        previous = "" if old is None else old.previous if old.version == version else old.version
        state = IndexState(version, previous, shards, found.keys, now.isoformat(),
                           tuple(sorted(found.languages)))
        write_json_atomic(layout.tracking / "index.json", state.as_json())
        _prune(versions, keep={version, previous})
        write_match(layout, found.match)
    if found.keys > shards * WARN_KEYS_PER_SHARD:
        log.warning("tracking index: %d keys in %d shards; raise [tracking] index_shards so "
                    "that a page fetches a small file", found.keys, shards)
    return IndexInfo(version, previous, shards, found.keys, found.products, found.categories,
                     now, folder, found.match)


# ---------------------------------------------------------------- staging


class _Stage:
    """The temporary SQLite file every index row passes through."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                                "PRAGMA temp_store=FILE;" + _SCHEMA)
        self.conn.execute("BEGIN")

    def rows(self, keys: Iterable[str], entry: str) -> None:
        self.conn.executemany("INSERT INTO rows (key, hash, entry) VALUES (?, ?, ?)",
                              [(k, fnv1a_32(_utf8(k)), entry) for k in keys])

    def parent_keys(self, parent: int, keys: Iterable[str]) -> None:
        self.conn.executemany("INSERT INTO parent_keys (parent, key, hash) VALUES (?, ?, ?)",
                              [(parent, k, fnv1a_32(_utf8(k))) for k in keys])

    def first_variant(self, parent: int, entry: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO first_variant VALUES (?, ?)", (parent, entry))

    def member(self, category: int, pos: int, entry: str) -> None:
        self.conn.execute("INSERT INTO members VALUES (?, ?, ?)", (category, pos, entry))

    def members(self, category: int) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT entry FROM members WHERE category = ? ORDER BY pos", (category,))]

    def add_parent_rows(self) -> None:
        """A variant parent's keys -> its first sellable variant's entry (none: no rows)."""
        self.conn.execute(
            "INSERT INTO rows (key, hash, entry) SELECT k.key, k.hash, v.entry "
            "FROM parent_keys k JOIN first_variant v ON v.parent = k.parent ORDER BY k.seq")

    def key_count(self) -> int:
        return self.conn.execute("SELECT count(DISTINCT key) FROM rows").fetchone()[0]

    def sorted_rows(self, shards: int) -> Iterator[tuple[int, str, str]]:
        """(shard, key, entry) by shard and key; of rows with one key, the first staged."""
        last = None
        for shard, key, entry in self.conn.execute(
                "SELECT hash % ?, key, entry FROM rows ORDER BY hash % ?, key, seq",
                (shards, shards)):
            if key != last:
                last = key
                yield shard, key, entry

    def close(self) -> None:
        self.conn.close()


@dataclass
class _Found:
    keys: int = 0
    products: int = 0
    categories: int = 0
    languages: frozenset[str] = frozenset()
    match: Match | None = None


class _Collector:
    """One pass over the store (`EventCatalog.walk`): product rows, variant parents,
    category members, and the match counts."""

    def __init__(self, cfg: Config, store: Store, now: datetime, stage: _Stage) -> None:
        self.store, self.stage = store, stage
        self.catalog = EventCatalog(cfg, store, now)
        self.categories: dict[int, Category] = self.catalog.categories
        self.language = self.catalog.derive.language
        self.shop_path = base_path(cfg.shop.base_url)
        stems = home_stems(cfg)
        self.holders = FeedIds(Layout(cfg.data_dir)).holders(stems)
        self.counter = MatchCounter(stems, now, missing_reasons(cfg, self.categories))
        self.shared_articles = store.duplicate_article_numbers()
        self.listed: set[int] = set()  # categories with at least one member staged
        self.languages: set[str] = set()
        self.found = _Found()

    def run(self) -> _Found:
        try:
            for seen in self.catalog.walk():
                self._product(seen)
        finally:
            self.holders.close()
        self.stage.add_parent_rows()
        for category in self.categories.values():
            self._category(category)
        self.found.keys = self.stage.key_count()
        self.found.languages = frozenset(self.languages)
        self.found.match = self.counter.result()
        return self.found

    def _product(self, seen: Seen) -> None:
        product = seen.product
        keys = self._keys(product)
        if product.is_parent:
            self.stage.parent_keys(product.vendre_id, keys)
            return
        if not seen.tracked:
            return
        feeds = self.holders(product.feed_id)
        self.counter.add(feeds, product)
        entry = js_dumps(product_entry(product, feeds))
        self.stage.rows(keys, entry)
        self.found.products += 1
        if seen.first_variant_of is not None:
            self.stage.first_variant(seen.first_variant_of, entry)
        for category, position in seen.lists:
            self.stage.member(category, position, entry)
            self.listed.add(category)

    def _keys(self, product: Product) -> list[str]:
        keys = [f"p:{path}" for path in self._paths(product.seo_paths) if path]
        keys.append(f"i:{product.vendre_id}")
        if product.article_number and product.article_number not in self.shared_articles:
            keys.append(f"a:{product.article_number}")
        return list(dict.fromkeys(keys))

    def _paths(self, links: Mapping[str, str]) -> list[str]:
        paths = []
        for language, link in links.items():
            path = link_key(link, self.shop_path)
            paths.append(path)
            if path.split("/", 1)[0] == language.lower():
                self.languages.add(language.lower())  # a language root such as /en/
        return paths

    def _category(self, category: Category) -> None:
        items = self.stage.members(category.id) if category.id in self.listed else []
        paths = [p for p in self._paths(category.seo_links) if p]
        if not items or not paths:
            return
        name = category.names.get(self.language, "")
        entry = (f'{{"list_id":{js_dumps(str(category.id))},"list_name":{js_dumps(name)},'
                 f'"items":[{",".join(items)}]}}')
        self.stage.rows(dict.fromkeys(f"p:{p}" for p in paths), entry)
        self.found.categories += 1


def product_entry(product: Product, feeds: Iterable[str] = ()) -> dict[str, Any]:
    """A sellable product's index entry: its event item (feed id, prices), availability
    and the home feeds that hold its id."""
    item = event_item(product)
    return {"id": item.id, "name": item.name, "price": item.price,
            "net_price": item.net_price, "currency": item.currency, "brand": item.brand,
            "categories": list(item.categories), "variant": item.variant,
            "group_id": item.group_id, "availability": product.availability.value,
            "feeds": list(feeds)}


# ---------------------------------------------------------------- files


def _write_shards(stage: _Stage, folder: Path, shards: int) -> str:
    """Write `<n>.json` for every shard (empty ones as `{}`), streaming the sorted rows;
    return the content hash that names the version."""
    digest = hashlib.sha256(f"{shards}\n".encode())
    rows = stage.sorted_rows(shards)
    row = next(rows, None)
    for shard in range(shards):
        digest.update(f"shard {shard}\n".encode())
        with open(folder / f"{shard}.json", "wb") as out:
            separator = b"{"
            while row is not None and row[0] == shard:
                chunk = separator + f"{js_dumps(row[1])}:{row[2]}".encode()
                out.write(chunk)
                digest.update(chunk)
                separator = b",\n"
                row = next(rows, None)
            tail = b"}\n" if separator != b"{" else b"{}\n"
            out.write(tail)
            digest.update(tail)
    return digest.hexdigest()[:_VERSION_LENGTH]


def _install(work: Path, target: Path) -> Path:
    """Rename the finished folder to its version; an existing one has the same content."""
    if target.is_dir():
        return target
    os.rename(work, target)
    return target


def _remove_unfinished(versions: Path) -> None:
    """Work folders of an index build that stopped half-way (we hold the lock)."""
    for path in versions.glob(".build-*"):
        shutil.rmtree(path, ignore_errors=True)


def _prune(versions: Path, keep: set[str]) -> None:
    for path in versions.iterdir():
        if path.is_dir() and _is_version(path.name) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
