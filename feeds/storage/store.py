"""The local store: one SQLite file holding the last complete snapshot of the shop.

A sync writes a whole new snapshot inside one transaction, or nothing: the
new rows go to staging tables that replace the live ones only at commit (the
prepared forms, when their keys stay the same, are brought up to date in place
within that transaction), so a failed sync leaves the previous snapshot exactly
as it was. WAL mode lets the server read the old snapshot while a sync writes
the next. Raw JSON is kept, so the mapping can be corrected without a re-sync.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from feeds.errors import StoreError

__all__ = ["Prepare", "SnapshotWriter", "Store", "SyncRecord", "decode"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY, parent INTEGER, article_number TEXT,
    date_modified INTEGER, raw TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS products_article ON products(article_number);
CREATE TABLE IF NOT EXISTS categories (id INTEGER PRIMARY KEY, raw TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, order_date INTEGER, raw TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prepared (id INTEGER PRIMARY KEY, targets INTEGER NOT NULL,
                                     valid_from INTEGER, valid_until INTEGER,
                                     form BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS prepared_keys (n INTEGER PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS syncs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
    ok INTEGER NOT NULL, products INTEGER, categories INTEGER, orders INTEGER,
    added INTEGER, removed INTEGER, changed INTEGER, error TEXT, warnings TEXT NOT NULL);
"""
_STAGING = """
CREATE TABLE new_products (
    id INTEGER PRIMARY KEY, parent INTEGER, article_number TEXT,
    date_modified INTEGER, raw TEXT NOT NULL);
CREATE TABLE new_categories (id INTEGER PRIMARY KEY, raw TEXT NOT NULL);
CREATE TABLE new_orders (id TEXT PRIMARY KEY, order_date INTEGER, raw TEXT NOT NULL);
CREATE TABLE new_prepared (id INTEGER PRIMARY KEY, targets INTEGER NOT NULL,
                           valid_from INTEGER, valid_until INTEGER, form BLOB NOT NULL);
CREATE TABLE new_prepared_keys (n INTEGER PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE new_kept (id INTEGER PRIMARY KEY);
"""
MAX_MASK_BITS = 62  # a prepared form's mask is a SQLite integer: one bit per key
_TABLES = ("products", "categories", "orders", "prepared", "prepared_keys")
# Brought up to date in place when a sync prepares under the live keys (`_prepare_rest`).
_PREPARED_TABLES = ("prepared", "prepared_keys")
# The tables holding people's data: the pages a new snapshot frees of them are overwritten
# with zeros (SQLite's secure_delete), whatever the library's default. The catalogue's are
# not: Debian builds SQLite with secure_delete on, and zeroing the previous snapshot's
# products added about 2 s of CPU per 100,000 products to every later sync's commit
# (measured; BENCHMARKS.md), for data that is public on the shop and that the next sync
# overwrites anyway.
_PERSONAL = frozenset({"orders"})
# (form, mask, valid from, valid until) of a product decoded from its stored JSON, and of
# its parent's or None (`feeds.vendre.prepared.Preparer.prepare`).
Prepare = Callable[[Any, Any], tuple[bytes, int, int | None, int | None]]


@dataclass(frozen=True)
class SyncRecord:
    """One sync run as recorded in the store."""

    started_at: datetime
    finished_at: datetime
    ok: bool
    products: int = 0
    categories: int = 0
    orders: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    error: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _dumps(raw: Mapping[str, Any]) -> str:
    """Compact JSON text of one raw object.

    orjson is several times faster and every product passes here; the stdlib is the
    fallback for what orjson refuses (integers beyond 64 bits, lone surrogates), so
    nothing is lost: a text that UTF-8 cannot carry is kept as JSON escapes.
    """
    try:
        return orjson.dumps(raw).decode("utf-8")
    except TypeError:
        text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(raw, ensure_ascii=True, separators=(",", ":"))
        return text


def decode(text: str | bytes) -> Any:
    """A stored raw object back (orjson, or the stdlib for numbers orjson cannot hold).

    orjson reads integers beyond 64 bits as floats; no field the feeds derive from
    holds one, and the stored text itself stays exact.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


_INT64 = 2 ** 63


def _int_or_none(value: Any) -> int | None:
    """An integer SQLite can hold (signed 64 bits), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64:
        return value
    return None


def _column_text(value: Any) -> str:
    """A text column's value: what UTF-8 cannot carry (a lone surrogate) replaced."""
    text = str(value or "")
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text


_PREPARED = "INSERT OR REPLACE INTO new_prepared VALUES (?,?,?,?,?)"
# A live form `x` valid at the sync's clock (the first parameter), as a build judges it.
_VALID_AT = "(x.valid_from IS NULL OR x.valid_from <= ?1) " \
    "AND (x.valid_until IS NULL OR ?1 < x.valid_until)"


def _prepared_row(vendre_id: int, prepared: tuple[bytes, int, int | None, int | None]
                  ) -> tuple[Any, ...]:
    form, mask, since, until = prepared
    return vendre_id, mask, since, until, form


def _categories(conn: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in conn.execute(f"SELECT raw FROM {table}")]


class SnapshotWriter:
    """Stages one snapshot; `Store.write_snapshot` commits or discards it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.counts = {"products": 0, "categories": 0, "orders": 0}
        self.warnings: list[str] = []
        self.orders_replaced = False
        self.orders_since: datetime | None = None  # the window kept when orders carry over
        self._prepare: Prepare | None = None
        self._prepared_keys: tuple[str, ...] = ()
        self._valid_at = 0
        self._keep = False

    def prepare_with(self, keys: Sequence[str], prepare: Prepare, valid_at: int) -> None:
        """Store a prepared form of every product of this snapshot next to its JSON:
        `prepare(raw, parent)` gives it (raw and parent decoded from the stored JSON, as
        a build reads them), filed under `keys` (bit n of its mask: `keys[n]`). Where the
        live snapshot's forms were filed under the same keys, a product whose JSON (and
        its parent's) did not change keeps its form: it would derive the same, as long as
        the form is valid at `valid_at` (the sync's clock, in the unit of the forms'
        validity); one whose time has passed (a backorder's estimated date moves on every
        day) is made again, else every build would derive it from the JSON."""
        self._prepare, self._prepared_keys = prepare, tuple(keys)
        self._valid_at = valid_at
        live = tuple(k for (k,) in self._conn.execute(
            "SELECT key FROM prepared_keys ORDER BY n"))
        self._keep = bool(keys) and live == self._prepared_keys

    def add_products(self, items: Iterable[Mapping[str, Any]]) -> int:
        rows = [(p["id"], _int_or_none(p.get("parent")) or None,
                 _column_text(p.get("article_number")), _int_or_none(p.get("date_modified")),
                 _dumps(p)) for p in items]
        self._conn.executemany("INSERT OR REPLACE INTO new_products VALUES (?,?,?,?,?)", rows)
        if self._prepare is not None:  # variants wait for every parent (`_prepare_rest`)
            prepare = self._prepare
            plain = [row for row in rows if row[1] is None]
            kept = self._kept(plain)
            fresh = [row for row in plain if row[0] not in kept]
            if kept:  # not written again; a product sent twice is as its last copy says
                self._conn.executemany("INSERT OR IGNORE INTO new_kept VALUES (?)",
                                       [(vid,) for vid in kept])
                self._conn.execute("DELETE FROM new_prepared WHERE id IN "
                                   f"({','.join('?' * len(kept))})", list(kept))
            self._conn.executemany(
                _PREPARED, [_prepared_row(row[0], prepare(decode(row[4]), None))
                            for row in fresh])
        self.counts["products"] += len(rows)
        return len(rows)

    def _kept(self, rows: list[tuple[Any, ...]]) -> set[int]:
        """The ids of those of `rows` (products without a parent) whose stored JSON is the
        same in the live snapshot, which holds their prepared form, valid at the sync's
        clock (a fresh form made on a later page replaces a kept one in `_prepare_rest`)."""
        if not self._keep or not rows:
            return set()
        texts = {row[0]: row[4] for row in rows}
        return {vid for vid, raw in self._conn.execute(
                    "SELECT o.id, o.raw FROM products o JOIN prepared x ON x.id = o.id "
                    f"AND {_VALID_AT} WHERE o.parent IS NULL "
                    f"AND o.id IN ({','.join('?' * len(texts))})",
                    [self._valid_at, *texts])
                if raw == texts[vid]}

    def _prepare_rest(self) -> bool:
        """The prepared forms not made as products came: variants (their parent may come
        later, or again; kept where neither changed), and any product staged before
        `prepare_with`. True when the live table of forms was brought up to date in place
        (the same keys: the forms kept are not written again), False when `new_prepared`
        is the table that replaces it."""
        prepare = self._prepare
        if prepare is None:
            return False
        conn = self._conn
        variants = "(SELECT id FROM new_products WHERE parent IS NOT NULL)"
        conn.execute(f"DELETE FROM new_prepared WHERE id IN {variants}")
        target = "new_prepared"
        if self._keep:
            conn.execute(f"DELETE FROM new_kept WHERE id IN {variants}")
            conn.execute(
                "INSERT OR IGNORE INTO new_kept SELECT c.id FROM new_products c "
                "JOIN products o ON o.id = c.id AND o.parent IS c.parent AND o.raw = c.raw "
                f"JOIN prepared x ON x.id = c.id AND {_VALID_AT} "
                "LEFT JOIN new_products np ON np.id = c.parent "
                "LEFT JOIN products op ON op.id = o.parent "
                "WHERE c.parent IS NOT NULL AND np.raw IS op.raw", (self._valid_at,))
            # The live forms of what changed or went go; the new ones join those kept.
            conn.execute("DELETE FROM prepared WHERE id NOT IN (SELECT id FROM new_kept)")
            columns = "id, targets, valid_from, valid_until, form"
            conn.execute(f"INSERT OR REPLACE INTO prepared ({columns}) "
                         f"SELECT {columns} FROM new_prepared")
            target = "prepared"
        last = None
        while rows := conn.execute(  # a few hundred at a time: memory stays flat
                "SELECT c.id, c.raw, p.raw FROM new_products c LEFT JOIN new_products p "
                "ON p.id = c.parent WHERE (?1 IS NULL OR c.id > ?1) "
                f"AND c.id NOT IN (SELECT id FROM {target}) ORDER BY c.id LIMIT 500",
                (last,)).fetchall():
            conn.executemany(
                f"INSERT OR REPLACE INTO {target} VALUES (?,?,?,?,?)",
                [_prepared_row(vid, prepare(decode(raw), decode(parent) if parent else None))
                 for vid, raw, parent in rows])
            last = rows[-1][0]
        if target == "prepared":
            return True
        conn.executemany("INSERT INTO new_prepared_keys VALUES (?,?)",
                         enumerate(self._prepared_keys))
        return False

    def staged_categories(self) -> list[dict[str, Any]]:
        """The categories staged so far, as a build of this snapshot will read them."""
        return _categories(self._conn, "new_categories")

    def add_categories(self, items: Iterable[Mapping[str, Any]]) -> int:
        rows = [(c["id"], _dumps(c)) for c in items]
        self._conn.executemany("INSERT OR REPLACE INTO new_categories VALUES (?,?)", rows)
        self.counts["categories"] += len(rows)
        return len(rows)

    def add_orders(self, items: Iterable[tuple[str, datetime | None, Mapping[str, Any]]]) -> int:
        """Stage orders as (id, order date, raw); once called, they replace the stored orders.

        Without a call the stored orders are carried over (the orders endpoint failed).
        """
        rows = [(_column_text(oid), int(date.timestamp()) if date else None, _dumps(raw))
                for oid, date, raw in items]
        self._conn.executemany("INSERT OR REPLACE INTO new_orders VALUES (?,?,?)", rows)
        self.counts["orders"] += len(rows)
        self.orders_replaced = True
        return len(rows)

    def carry_stored_orders(self) -> None:
        """Keep the stored orders (the orders endpoint failed), still within the window."""
        since = int(self.orders_since.timestamp()) if self.orders_since else None
        self._conn.execute("INSERT INTO new_orders SELECT * FROM orders WHERE ? IS NULL "
                           "OR order_date IS NULL OR order_date >= ?", (since, since))
        self.counts["orders"] = self._conn.execute("SELECT count(*) FROM new_orders").fetchone()[0]

    def diff(self) -> tuple[int, int, int]:
        """(added, removed, changed by date_modified) of products against the live snapshot."""
        added = self._conn.execute(
            "SELECT count(*) FROM new_products n WHERE n.id NOT IN (SELECT id FROM products)"
        ).fetchone()[0]
        removed = self._conn.execute(
            "SELECT count(*) FROM products o WHERE o.id NOT IN (SELECT id FROM new_products)"
        ).fetchone()[0]
        changed = self._conn.execute(
            "SELECT count(*) FROM new_products n JOIN products o ON o.id = n.id "
            "WHERE n.date_modified IS NOT o.date_modified").fetchone()[0]
        return added, removed, changed


class Store:
    """The SQLite store at `<data_dir>/catalog.sqlite3`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._held: tuple[sqlite3.Connection, int] | None = None  # (connection, thread)

    @classmethod
    def in_dir(cls, data_dir: Path) -> Store:
        return cls(Path(data_dir) / "catalog.sqlite3")

    # -------------------------------------------------------------- plumbing

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"the store {self.path} cannot be opened: {exc}") from None
        return conn

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Serve every read of this thread inside the block from one connection.

        Each read otherwise opens (and checks the schema of) a connection of its own,
        which is right for a server answering now and then, and slow for a run that
        looks products up one by one (a purchases run over 1,000 orders of 20 lines
        spent most of its time there). Reads still see each committed snapshot: the
        connection holds no transaction between statements.
        """
        if self._held is not None:
            yield
            return
        with closing(self._connect()) as conn:
            self._held = (conn, threading.get_ident())
            try:
                yield
            finally:
                self._held = None

    @contextmanager
    def _read(self, *, own: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection to read with: the one `reading()` holds for this thread, unless
        `own` (a stream that changes the connection's settings, or outlives a block)."""
        held = self._held
        if held is not None and held[1] == threading.get_ident() and not own:
            try:
                yield held[0]
            except sqlite3.Error as exc:
                raise StoreError(f"the store {self.path} cannot be read: {exc}") from None
            return
        with closing(self._connect()) as conn:
            try:
                yield conn
            except sqlite3.Error as exc:
                raise StoreError(f"the store {self.path} cannot be read: {exc}") from None

    # -------------------------------------------------------------- writing

    @contextmanager
    def write_snapshot(self, started_at: datetime) -> Iterator[SnapshotWriter]:
        """Stage a snapshot; commit it when the block ends normally, else roll back.

        On success a sync record is written in the same transaction; on failure
        the previous snapshot is untouched (the caller records the failure).
        """
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            # One statement at a time: executescript() would COMMIT the open transaction.
            for statement in _STAGING.split(";"):
                if statement.strip():
                    conn.execute(statement)
            writer = SnapshotWriter(conn)
            yield writer
            self._commit(conn, writer, started_at)
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise StoreError(f"the store {self.path} could not be written: {exc}") from None
        except BaseException:
            self._rollback(conn)
            raise
        finally:
            conn.close()

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _commit(self, conn: sqlite3.Connection, writer: SnapshotWriter,
                started_at: datetime) -> None:
        added, removed, changed = writer.diff()
        if not writer.orders_replaced:
            writer.carry_stored_orders()
        conn.execute("PRAGMA secure_delete = OFF")  # forms of the catalogue (`_PERSONAL`)
        in_place = writer._prepare_rest()
        for table in _TABLES:
            if in_place and table in _PREPARED_TABLES:
                conn.execute(f"DROP TABLE new_{table}")
                continue
            overwrite = "ON" if table in _PERSONAL else "OFF"
            conn.execute(f"PRAGMA secure_delete = {overwrite}")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE new_{table} RENAME TO {table}")
        conn.execute("DROP TABLE new_kept")
        conn.execute("CREATE INDEX products_article ON products(article_number)")
        record = SyncRecord(started_at, datetime.now(UTC), True, added=added, removed=removed,
                            changed=changed, warnings=tuple(writer.warnings),
                            **writer.counts)
        self._insert_record(conn, record)
        conn.execute("COMMIT")

    def record_failure(self, started_at: datetime, error: str,
                       warnings: Iterable[str] = ()) -> None:
        """Remember a failed sync (the snapshot itself is unchanged)."""
        record = SyncRecord(started_at, datetime.now(UTC), False, error=error,
                            warnings=tuple(warnings))
        with closing(self._connect()) as conn:
            self._insert_record(conn, record)

    @staticmethod
    def _insert_record(conn: sqlite3.Connection, r: SyncRecord) -> None:
        conn.execute(
            "INSERT INTO syncs (started_at, finished_at, ok, products, categories, orders, "
            "added, removed, changed, error, warnings) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (_iso(r.started_at), _iso(r.finished_at), int(r.ok), r.products, r.categories,
             r.orders, r.added, r.removed, r.changed, r.error, json.dumps(list(r.warnings))))

    # -------------------------------------------------------------- reading

    def exists(self) -> bool:
        return self.path.is_file()

    def syncs(self, limit: int = 10, *, ok_only: bool = False) -> list[SyncRecord]:
        """The most recent sync runs (only successful ones if `ok_only`), newest first."""
        if not self.exists():
            return []
        where = "WHERE ok = 1" if ok_only else ""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT started_at, finished_at, ok, products, categories, orders, added, "
                f"removed, changed, error, warnings FROM syncs {where} ORDER BY id DESC LIMIT ?",
                (limit,)).fetchall()
        return [SyncRecord(datetime.fromisoformat(r[0]), datetime.fromisoformat(r[1]),
                           bool(r[2]), *(v or 0 for v in r[3:9]), r[9] or "",
                           tuple(json.loads(r[10]))) for r in rows]

    def last_good_sync(self) -> SyncRecord | None:
        """The newest successful sync: the snapshot the store holds."""
        return next(iter(self.syncs(limit=1, ok_only=True)), None)

    def counts(self) -> dict[str, int]:
        if not self.exists():
            return {"products": 0, "categories": 0, "orders": 0}
        with self._read() as conn:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                    for t in ("products", "categories", "orders")}

    def iter_products(self) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Every product as (raw, raw parent or None), by id; streams, never loads all."""
        for raw, parent in self.iter_product_rows():
            yield decode(raw), decode(parent) if parent else None

    def iter_product_rows(self) -> Iterator[tuple[bytes, bytes | None]]:
        """`iter_products` still encoded: each product's stored JSON (UTF-8) and its
        parent's, for `decode` wherever they are used (the build decodes them in two
        processes; bytes cross between them without a copy being decoded)."""
        with self._read(own=True) as conn:
            conn.text_factory = bytes  # SQLite's own UTF-8, not decoded into str
            cursor = conn.execute(
                "SELECT c.raw, p.raw FROM products c LEFT JOIN products p ON p.id = c.parent "
                "ORDER BY c.id")
            yield from cursor

    def prepared_keys(self) -> tuple[str, ...]:
        """The keys the snapshot's prepared forms are filed under (bit n of a form's mask
        is `keys[n]`); () when it has none, or not one for every product."""
        if not self.exists():
            return ()
        with self._read() as conn:
            keys = tuple(k for (k,) in conn.execute("SELECT key FROM prepared_keys ORDER BY n"))
            counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("products", "prepared")]
        return keys if counts[0] == counts[1] else ()

    def iter_prepared_rows(self, keys: Sequence[str], need: int, now: int, chunk: int = 256
                           ) -> Iterator[tuple[bytes | None, bytes | None, bytes | None]]:
        """Every product, in the order of `iter_product_rows`: (form, None, None) where
        its prepared form holds every target of the mask `need` and is valid at `now`
        (the unit of its validity), else (None, its stored JSON, its parent's); one read
        transaction. `keys` are the `prepared_keys` the mask was made from: when a sync
        has since filed the forms under other keys, every product comes as its JSON."""
        with self._read(own=True) as conn:
            conn.execute("BEGIN")
            live = tuple(k for (k,) in conn.execute("SELECT key FROM prepared_keys ORDER BY n"))
            if live != tuple(keys):
                need = 1 << MAX_MASK_BITS  # no form holds it: the JSON of every product
            conn.text_factory = bytes
            forms = conn.execute(
                "SELECT id, targets & ?1 = ?1 AND (valid_from IS NULL OR valid_from <= ?2) "
                "AND (valid_until IS NULL OR ?2 < valid_until), form FROM prepared "
                "ORDER BY id", (need, now))
            while block := forms.fetchmany(chunk):
                missing = [vid for vid, usable, _ in block if not usable]
                raws = {vid: (raw, parent) for vid, raw, parent in conn.execute(
                    "SELECT c.id, c.raw, p.raw FROM products c LEFT JOIN products p "
                    f"ON p.id = c.parent WHERE c.id IN ({','.join('?' * len(missing))})",
                    missing)} if missing else {}
                if len(raws) != len(missing):
                    raise StoreError(f"the store {self.path} holds prepared products that "
                                     "it does not hold; run `vendre-feeds sync` again")
                for vid, usable, form in block:
                    yield (form, None, None) if usable else (None, *raws[vid])
            conn.execute("COMMIT")

    def product(self, vendre_id: int) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """One product (and its parent) by Vendre id, or None."""
        return self._one_product("c.id = ?", vendre_id)

    def product_by_article(self, article: str) -> tuple[dict[str, Any], dict[str, Any] | None] \
            | None:
        return self._one_product("c.article_number = ?", article)

    def children(self, parent_id: int) -> list[dict[str, Any]]:
        """The raw variants of a parent product, by id."""
        with self._read() as conn:
            rows = conn.execute("SELECT raw FROM products WHERE parent = ? ORDER BY id",
                                (parent_id,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def _one_product(self, where: str, value: Any) -> tuple[dict[str, Any],
                                                             dict[str, Any] | None] | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT c.raw, p.raw FROM products c LEFT JOIN products p ON p.id = c.parent "
                f"WHERE {where}", (value,)).fetchone()
        if row is None:
            return None
        return json.loads(row[0]), json.loads(row[1]) if row[1] else None

    def duplicate_article_numbers(self) -> set[str]:
        """Article numbers that more than one product carries (they cannot be feed ids)."""
        with self._read() as conn:
            rows = conn.execute("SELECT article_number FROM products WHERE article_number != '' "
                                "GROUP BY article_number HAVING count(*) > 1").fetchall()
        return {r[0] for r in rows}

    def article_numbers(self, ids: Iterable[int]) -> dict[int, str]:
        """Vendre id -> article number for the given ids (only those found)."""
        wanted = sorted(set(ids))
        found: dict[int, str] = {}
        with self._read() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(conn.execute(
                    f"SELECT id, article_number FROM products WHERE id IN ({marks})", chunk))
        return found

    def raw_categories(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return _categories(conn, "categories")

    def raw_orders(self) -> list[dict[str, Any]]:
        """Every stored order, oldest first (the sync keeps those of the last `orders_days`)."""
        with self._read() as conn:
            rows = conn.execute("SELECT raw FROM orders ORDER BY order_date, id")
            return [json.loads(r[0]) for r in rows]

