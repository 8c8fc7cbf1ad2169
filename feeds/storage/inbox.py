"""What reaches the server for purchases: Vendre's order webhooks and the loader's beacons.

One SQLite file, `<data_dir>/state/purchases.sqlite3` (not the catalogue's store: a
sync holds the store's write lock for minutes, and a webhook must be on disk within
milliseconds). WAL with `synchronous=FULL`: a webhook is answered 2xx only after its
commit is on disk.

    webhooks   one row per order id: the raw body as received, its digest, when it came,
               and when a purchases run looked at it (NULL: not yet). A repeated webhook
               with the same body changes nothing; a different body (`updated_order`)
               replaces it and is looked at again.
    beacons    what the loader sent from a confirmation page (only what consent allowed),
               by order number; at most `max_beacons`, the oldest go first, none kept
               longer than `BEACON_DAYS`.

`Inbox` is also the "store writer" the intake functions (`feeds.purchases.intake`) are
given; a multi-tenant tier may hand them any object with the same two `put_` methods.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from feeds.errors import StoreError

__all__ = ["BEACON_DAYS", "WEBHOOK_DAYS", "BeaconRow", "Inbox", "StoredWebhook", "WebhookOutcome"]

BEACON_DAYS = 7    # the retention for beacons (and Meta's window)
WEBHOOK_DAYS = 8   # looked-at webhooks are kept past Meta's 7-day window, then dropped

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    order_id TEXT PRIMARY KEY, body BLOB NOT NULL, digest TEXT NOT NULL,
    received_at INTEGER NOT NULL, processed_at INTEGER) WITHOUT ROWID;
DROP INDEX IF EXISTS webhooks_open;
CREATE INDEX IF NOT EXISTS webhooks_state ON webhooks(processed_at, received_at);
CREATE TABLE IF NOT EXISTS beacons (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_number TEXT NOT NULL,
    received_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS beacons_order ON beacons(order_number);
CREATE INDEX IF NOT EXISTS beacons_age ON beacons(received_at);
"""
# How many webhooks wait, and which are old enough, are counted from the webhooks_state
# index alone (`COUNT_WAITING`, tested): a row holds its body before processed_at, so
# reading that column from the table walks the body's overflow pages. With the index
# that left processed_at out (webhooks_open), 99,000 waiting 6 kB orders made each
# webhook wait 1 s for its count; with this one, milliseconds.
COUNT_WAITING = "SELECT count(*) FROM webhooks WHERE processed_at IS NULL"
RECEIVED_BEFORE = " AND received_at <= ?"


class WebhookOutcome(StrEnum):
    STORED = "stored"    # new, or a changed body: to be looked at
    SAME = "same"        # this very body is stored already: nothing changed
    FULL = "full"        # too many webhooks not yet looked at: refused, nothing stored


@dataclass(frozen=True)
class StoredWebhook:
    order_id: str
    body: bytes
    received_at: datetime
    processed: bool


@dataclass(frozen=True)
class BeaconRow:
    order_number: str
    received_at: datetime
    data: dict[str, Any]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class Inbox:
    """The purchases inbox at `path` (`Inbox.in_dir(data_dir)` for the usual place)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_dir(cls, data_dir: Path) -> Inbox:
        return cls(Path(data_dir) / "state" / "purchases.sqlite3")

    def exists(self) -> bool:
        return self.path.is_file()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # on disk before the 2xx
            conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"the purchases inbox {self.path} cannot be opened: {exc}") from None
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"the purchases inbox {self.path} could not be written: "
                                 f"{exc}") from None
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as conn:
            try:
                yield conn
            except sqlite3.Error as exc:
                raise StoreError(f"the purchases inbox {self.path} cannot be read: "
                                 f"{exc}") from None

    # -------------------------------------------------------------- writing

    def put_webhook(self, order_id: str, body: bytes, now: datetime,
                    max_open: int) -> WebhookOutcome:
        """Keep one order's webhook body, durably; see `WebhookOutcome`."""
        digest = hashlib.sha256(body).hexdigest()
        with self._transaction() as conn:
            row = conn.execute("SELECT digest, processed_at FROM webhooks WHERE order_id = ?",
                               (order_id,)).fetchone()
            if row is not None and row[0] == digest:
                return WebhookOutcome.SAME
            waiting = conn.execute(COUNT_WAITING).fetchone()[0]
            if row is not None and row[1] is None:
                waiting -= 1  # this order's own waiting body, which the new one replaces
            if waiting >= max_open:
                return WebhookOutcome.FULL
            conn.execute("INSERT OR REPLACE INTO webhooks VALUES (?,?,?,?,NULL)",
                         (order_id, body, digest, _ms(now)))
        return WebhookOutcome.STORED

    def put_beacon(self, order_number: str, data: dict[str, Any], now: datetime,
                   max_beacons: int) -> None:
        """Keep one beacon; beyond `max_beacons` the oldest go."""
        with self._transaction() as conn:
            cursor = conn.execute("INSERT INTO beacons (order_number, received_at, data) "
                                  "VALUES (?,?,?)", (order_number, _ms(now),
                                                     json.dumps(data, ensure_ascii=False)))
            newest = cursor.lastrowid or 0
            conn.execute("DELETE FROM beacons WHERE id <= ?", (newest - max_beacons,))

    def mark_processed(self, order_ids: Iterable[str], now: datetime,
                       received_before: datetime | None = None) -> None:
        """Note that a run looked at these orders' webhooks (those received before
        `received_before` only: a newer body that came meanwhile is still to be seen)."""
        limit = _ms(received_before) if received_before else None
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE webhooks SET processed_at = ? WHERE order_id = ? AND processed_at "
                "IS NULL AND (? IS NULL OR received_at <= ?)",
                [(_ms(now), oid, limit, limit) for oid in order_ids])

    def prune(self, now: datetime) -> None:
        """Drop beacons older than `BEACON_DAYS` and looked-at webhooks older than
        `WEBHOOK_DAYS`."""
        if not self.exists():
            return
        with self._transaction() as conn:
            conn.execute("DELETE FROM beacons WHERE received_at < ?",
                         (_ms(now - timedelta(days=BEACON_DAYS)),))
            conn.execute("DELETE FROM webhooks WHERE processed_at IS NOT NULL AND "
                         "received_at < ?", (_ms(now - timedelta(days=WEBHOOK_DAYS)),))

    # -------------------------------------------------------------- reading

    def webhooks(self, *, open_only: bool = False, received_before: datetime | None = None
                 ) -> list[StoredWebhook]:
        """Stored webhooks, oldest first: all, or only those not looked at yet (and
        received before `received_before`)."""
        if not self.exists():
            return []
        where, args = [], []
        if open_only:
            where.append("processed_at IS NULL")
        if received_before is not None:
            where.append("received_at <= ?")
            args.append(_ms(received_before))
        sql = "SELECT order_id, body, received_at, processed_at FROM webhooks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY received_at, order_id", args).fetchall()
        return [StoredWebhook(r[0], bytes(r[1]), _when(r[2]), r[3] is not None) for r in rows]

    def open_count(self, received_before: datetime | None = None) -> int:
        """Webhooks not looked at yet (received before `received_before`)."""
        if not self.exists():
            return 0
        with self._read() as conn:
            if received_before is None:
                return conn.execute(COUNT_WAITING).fetchone()[0]
            return conn.execute(COUNT_WAITING + RECEIVED_BEFORE,
                                (_ms(received_before),)).fetchone()[0]

    def beacons_for(self, numbers: Iterable[str]) -> dict[str, list[BeaconRow]]:
        """The beacons of these order numbers, each list oldest first."""
        wanted = sorted(set(numbers))
        found: dict[str, list[BeaconRow]] = {}
        if not wanted or not self.exists():
            return found
        with self._read() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for number, received, data in conn.execute(
                        "SELECT order_number, received_at, data FROM beacons WHERE "
                        f"order_number IN ({marks}) ORDER BY id", chunk):
                    found.setdefault(number, []).append(
                        BeaconRow(number, _when(received), json.loads(data)))
        return found

    def beacon_count(self) -> int:
        if not self.exists():
            return 0
        with self._read() as conn:
            return conn.execute("SELECT count(*) FROM beacons").fetchone()[0]
