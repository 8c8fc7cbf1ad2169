"""The push ledger: per channel and SKU, what the remote side acknowledged.

A push compares the published payload with the ledger and sends only the
difference; it records every acknowledgement (and every rejection, with the
marketplace's own message) as it comes. Before a create batch is sent its
SKUs are recorded as `pending`, so a run killed mid-send is recognised next
time and the article is looked up instead of created twice.

A ledger belongs to one marketplace account (`Account`: the API URL and a hash of
the merchant or seller id); a push is recorded as running before its first request
and updated as it sends, so a run that never recorded its end shows as such.

`Ledger` is the interface; `MemoryLedger` keeps it in memory (tests), and
`SqliteLedger` in `<data_dir>/state/ledger.sqlite3`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from feeds.errors import StoreError

__all__ = ["Account", "Ledger", "LedgerEntry", "MemoryLedger", "PushRun", "SkuState",
           "SqliteLedger"]


class SkuState(StrEnum):
    """Where one SKU stands with the remote side."""

    PENDING = "pending"      # sent for creation, no acknowledgement recorded yet
    LIVE = "live"            # accepted (for sale, or waiting for the marketplace's review)
    PAUSED = "paused"        # kept on the marketplace, not for sale
    REJECTED = "rejected"    # the marketplace refused it; `errors` says why
    DELETED = "deleted"      # removed on the marketplace
    # Sent, but no answer could be read as its acceptance (an error body with a 200, an
    # answer in no known shape, one that left it out, a report that never came within
    # `report_timeout_hours`); `errors` says why. The next push confirms it per SKU or
    # sends it again in full.
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class LedgerEntry:
    """What the remote side acknowledged for one SKU.

    `price` is the acknowledged price part of the payload as canonical JSON, `quantity`
    the acknowledged stock and `content_hash` a hash of everything else, so a later
    push can tell which of the three changed. `remote_id` is the marketplace's own id
    (Fyndiq's article UUID); `errors` its last messages, `code: message`.
    """

    sku: str
    state: SkuState
    content_hash: str = ""
    price: str = ""
    quantity: int | None = None
    remote_id: str = ""
    batch_id: str = ""
    errors: tuple[str, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PushRun:
    """One push: when, whether it was a dry run, what it did, how it ended.

    `finished_at` None: the run never recorded its end (it is running, or it was
    killed); `counts` then holds what it had sent so far.
    """

    started_at: datetime
    finished_at: datetime | None
    ok: bool
    dry_run: bool = False
    counts: Mapping[str, int] = field(default_factory=dict)
    message: str = ""

    @property
    def ended(self) -> bool:
        return self.finished_at is not None


@dataclass(frozen=True)
class Account:
    """The marketplace account a channel's ledger belongs to: the API's URL and a hash
    of the merchant/seller/shop id (never the id itself)."""

    api_url: str
    account: str
    since: datetime | None = None

    def same(self, other: Account) -> bool:
        return (self.api_url, self.account) == (other.api_url, other.account)


class Ledger(Protocol):
    def entries(self, channel: str) -> dict[str, LedgerEntry]:
        """Every SKU of `channel` the ledger knows, by SKU."""

    def put(self, channel: str, entries: Iterable[LedgerEntry]) -> None:
        """Record these entries (replacing what was recorded for their SKUs)."""

    def forget(self, channel: str, skus: Iterable[str]) -> None:
        """Drop these SKUs (deleted for good)."""

    def record_run(self, channel: str, run: PushRun, run_id: int | None = None) -> None:
        """Remember one push of `channel` (the end of the one `start_run` began)."""

    def start_run(self, channel: str, started_at: datetime) -> int:
        """Record a push as running, before its first request; its id."""

    def run_progress(self, channel: str, run_id: int, counts: Mapping[str, int]) -> None:
        """What the running push `run_id` has sent so far."""

    def last_run(self, channel: str) -> PushRun | None:
        """The newest push of `channel` (not a dry run), or None."""

    def account(self, channel: str) -> Account | None:
        """The account `channel`'s entries belong to, or None (never recorded)."""

    def set_account(self, channel: str, account: Account, *, fresh: bool) -> None:
        """Tie `channel`'s ledger to `account`; with `fresh`, its entries (another
        account's) are set aside first, kept under `<channel>@<that account>`."""


class MemoryLedger:
    """A ledger in memory, for tests and dry runs."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, LedgerEntry]] = {}
        self._runs: dict[str, list[PushRun]] = {}
        self._accounts: dict[str, Account] = {}

    def entries(self, channel: str) -> dict[str, LedgerEntry]:
        return dict(self._entries.get(channel, {}))

    def put(self, channel: str, entries: Iterable[LedgerEntry]) -> None:
        table = self._entries.setdefault(channel, {})
        for entry in entries:
            table[entry.sku] = entry

    def forget(self, channel: str, skus: Iterable[str]) -> None:
        table = self._entries.get(channel, {})
        for sku in skus:
            table.pop(sku, None)

    def record_run(self, channel: str, run: PushRun, run_id: int | None = None) -> None:
        runs = self._runs.setdefault(channel, [])
        if run_id is not None and 0 < run_id <= len(runs):
            runs[run_id - 1] = run
        else:
            runs.append(run)

    def start_run(self, channel: str, started_at: datetime) -> int:
        runs = self._runs.setdefault(channel, [])
        runs.append(PushRun(started_at, None, False))
        return len(runs)

    def run_progress(self, channel: str, run_id: int, counts: Mapping[str, int]) -> None:
        runs = self._runs.get(channel, [])
        if 0 < run_id <= len(runs):
            runs[run_id - 1] = replace(runs[run_id - 1], counts=dict(counts))

    def last_run(self, channel: str) -> PushRun | None:
        runs = [r for r in self._runs.get(channel, []) if not r.dry_run]
        return runs[-1] if runs else None

    def account(self, channel: str) -> Account | None:
        return self._accounts.get(channel)

    def set_account(self, channel: str, account: Account, *, fresh: bool) -> None:
        old = self._accounts.get(channel)
        if fresh and old is not None:
            self._entries[_aside(channel, old)] = self._entries.pop(channel, {})
        self._accounts[channel] = account


def _aside(channel: str, account: Account) -> str:
    """Where the entries of an account the channel no longer pushes to are kept."""
    return f"{channel}@{account.account[:16] or 'unknown'}"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS skus (
    channel TEXT NOT NULL, sku TEXT NOT NULL, state TEXT NOT NULL, content_hash TEXT,
    price TEXT, quantity INTEGER, remote_id TEXT, batch_id TEXT, errors TEXT,
    updated_at TEXT, PRIMARY KEY (channel, sku)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL, ok INTEGER NOT NULL, dry_run INTEGER NOT NULL,
    counts TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    channel TEXT PRIMARY KEY, api_url TEXT NOT NULL, account TEXT NOT NULL, since TEXT);
"""
# A run that has not recorded its end yet: `finished_at` is empty (the column predates
# running runs and is NOT NULL).
_UNFINISHED = ""


class SqliteLedger:
    """The ledger in one SQLite file (`<data_dir>/state/ledger.sqlite3`).

    Every `put` is one transaction, so an acknowledgement is on disk before the
    next request goes out; a push killed between two requests loses nothing it
    was told. The file is in WAL mode: readers (push-status, the status page) never
    wait for a running push, nor it for them. Every failure, a ledger locked by
    another process or a value that is not what this code stores, is a `StoreError`.
    """

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"the push ledger {self.path} cannot be opened: "
                             f"{_reason(exc)}") from None
        return conn

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection for one read (or one write transaction), its errors StoreErrors."""
        conn = self._connect()
        try:
            with closing(conn):
                if write:
                    with conn:
                        yield conn
                else:
                    yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"the push ledger {self.path}: {_reason(exc)}") from None

    def entries(self, channel: str) -> dict[str, LedgerEntry]:
        with self._session() as conn:
            rows = conn.execute("SELECT sku, state, content_hash, price, quantity, remote_id, "
                                "batch_id, errors, updated_at FROM skus WHERE channel = ?",
                                (channel,)).fetchall()
        return {r[0]: self._entry(channel, r) for r in rows}

    def _entry(self, channel: str, r: tuple[Any, ...]) -> LedgerEntry:
        try:
            errors = json.loads(r[7] or "[]")
            if not isinstance(errors, list) or not isinstance(r[0], str) or \
                    not (r[4] is None or isinstance(r[4], int)):
                raise ValueError("not what this version stores")
            return LedgerEntry(r[0], SkuState(r[1]), str(r[2] or ""), str(r[3] or ""), r[4],
                               str(r[5] or ""), str(r[6] or ""), tuple(str(e) for e in errors),
                               _moment(r[8]))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"the push ledger {self.path} holds a bad value for {channel} "
                             f"SKU {str(r[0])[:64]!r} ({_short(exc)}); move the file away to "
                             "start afresh (the next push looks every article up)") from None

    def put(self, channel: str, entries: Iterable[LedgerEntry]) -> None:
        rows = [(channel, e.sku, e.state.value, e.content_hash, e.price, e.quantity,
                 e.remote_id, e.batch_id, json.dumps(list(e.errors), ensure_ascii=False),
                 e.updated_at.isoformat() if e.updated_at else None) for e in entries]
        with self._session(write=True) as conn:
            conn.executemany("INSERT OR REPLACE INTO skus VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def forget(self, channel: str, skus: Iterable[str]) -> None:
        with self._session(write=True) as conn:
            conn.executemany("DELETE FROM skus WHERE channel = ? AND sku = ?",
                             [(channel, s) for s in skus])

    def start_run(self, channel: str, started_at: datetime) -> int:
        with self._session(write=True) as conn:
            cursor = conn.execute(
                "INSERT INTO runs (channel, started_at, finished_at, ok, dry_run, counts, "
                "message) VALUES (?,?,?,0,0,'{}','')",
                (channel, started_at.isoformat(), _UNFINISHED))
            return int(cursor.lastrowid or 0)

    def run_progress(self, channel: str, run_id: int, counts: Mapping[str, int]) -> None:
        with self._session(write=True) as conn:
            conn.execute("UPDATE runs SET counts = ? WHERE id = ? AND channel = ?",
                         (json.dumps(dict(counts)), run_id, channel))

    def record_run(self, channel: str, run: PushRun, run_id: int | None = None) -> None:
        values = (run.started_at.isoformat(),
                  run.finished_at.isoformat() if run.finished_at else _UNFINISHED,
                  int(run.ok), int(run.dry_run), json.dumps(dict(run.counts)), run.message)
        with self._session(write=True) as conn:
            if run_id is not None:
                conn.execute("UPDATE runs SET started_at = ?, finished_at = ?, ok = ?, "
                             "dry_run = ?, counts = ?, message = ? WHERE id = ? AND "
                             "channel = ?", (*values, run_id, channel))
                return
            conn.execute("INSERT INTO runs (channel, started_at, finished_at, ok, dry_run, "
                         "counts, message) VALUES (?,?,?,?,?,?,?)", (channel, *values))
            # A year of hourly pushes is plenty of history.
            conn.execute("DELETE FROM runs WHERE channel = ? AND id NOT IN (SELECT id FROM "
                         "runs WHERE channel = ? ORDER BY id DESC LIMIT 9000)",
                         (channel, channel))

    def last_run(self, channel: str) -> PushRun | None:
        if not self.path.is_file():
            return None
        with self._session() as conn:
            row = conn.execute("SELECT started_at, finished_at, ok, dry_run, counts, message "
                               "FROM runs WHERE channel = ? AND dry_run = 0 ORDER BY id DESC "
                               "LIMIT 1", (channel,)).fetchone()
        if row is None:
            return None
        try:
            counts = json.loads(row[4] or "{}")
            if not isinstance(counts, dict):
                raise ValueError("counts are not an object")
            return PushRun(_moment(row[0]) or datetime.min.replace(tzinfo=UTC),
                           _moment(row[1]) if row[1] != _UNFINISHED else None,
                           bool(row[2]), bool(row[3]),
                           {str(k): v for k, v in counts.items() if isinstance(v, int)},
                           str(row[5] or ""))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"the push ledger {self.path} holds a bad push record for "
                             f"{channel} ({_short(exc)})") from None

    def account(self, channel: str) -> Account | None:
        if not self.path.is_file():
            return None
        with self._session() as conn:
            row = conn.execute("SELECT api_url, account, since FROM accounts WHERE channel = ?",
                               (channel,)).fetchone()
        if row is None:
            return None
        try:
            return Account(str(row[0]), str(row[1]), _moment(row[2]))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"the push ledger {self.path} holds a bad account for {channel} "
                             f"({_short(exc)})") from None

    def set_account(self, channel: str, account: Account, *, fresh: bool) -> None:
        old = self.account(channel) if fresh else None
        with self._session(write=True) as conn:
            if old is not None:
                aside = _aside(channel, old)
                conn.execute("DELETE FROM skus WHERE channel = ?", (aside,))
                conn.execute("UPDATE skus SET channel = ? WHERE channel = ?", (aside, channel))
            conn.execute("INSERT OR REPLACE INTO accounts VALUES (?,?,?,?)",
                         (channel, account.api_url, account.account,
                          account.since.isoformat() if account.since else None))


def _moment(value: Any) -> datetime | None:
    """A stored ISO time (aware); None when empty."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "locked" in text or "busy" in text:
        return f"{text} (another process is writing it; try again when it is done)"
    return text


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120] or type(exc).__name__


def entry_json(entry: LedgerEntry) -> dict[str, Any]:
    """An entry as plain JSON (for `push-status --json` and the status page)."""
    data = asdict(replace(entry, updated_at=None))
    data["state"] = entry.state.value
    data["errors"] = list(entry.errors)
    data["updated_at"] = entry.updated_at.isoformat() if entry.updated_at else None
    return data


# ---------------------------------------------------------------- server-side events
# The purchases (issue 18) keep their own table in the same ledger file: one entry per
# order, platform and event ("purchase", "refund"). An entry is `pending` before its
# request goes out and `sent` after a 2xx, so a run killed in between sends it again
# next time (the platforms deduplicate by transaction_id / event_id).


class SendState(StrEnum):
    """Where one order's event stands with one platform."""

    PENDING = "pending"              # to be sent, or sent without a 2xx recorded yet
    SENT = "sent"                    # the platform answered 2xx
    TOO_OLD = "too_old"              # older than the platform's window: never sent
    NO_CONSENT = "no_consent"        # the browser refused what the platform would need
    NO_MATCH_DATA = "no_match_data"  # nothing to match the order to a person: not sent
    FAILED = "failed"                # the platform refused it; `detail` says why


#: States a later run never changes.
FINAL_SEND_STATES = frozenset({SendState.SENT, SendState.TOO_OLD})


@dataclass(frozen=True)
class SendEntry:
    """One order's event with one platform. `number` is the transaction id sent;
    `client_id` the GA4 client id used (kept so a resend uses the same one);
    `attributed`: sent with the browser's own ids."""

    platform: str
    order_id: str
    event: str
    state: SendState
    number: str = ""
    attributed: bool = False
    client_id: str = ""
    detail: str = ""
    order_date: datetime | None = None
    updated_at: datetime | None = None


_SENDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    platform TEXT NOT NULL, order_id TEXT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL,
    number TEXT NOT NULL, attributed INTEGER NOT NULL, client_id TEXT NOT NULL,
    detail TEXT NOT NULL, order_date TEXT, updated_at TEXT,
    PRIMARY KEY (platform, order_id, event)) WITHOUT ROWID;
"""


class SendLedger:
    """The server-side events' entries, in the push ledger's SQLite file; its runs go
    through the same file's `runs` table (channel `purchases-<platform>`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runs = SqliteLedger(path)

    def _connect(self) -> sqlite3.Connection:
        conn = self.runs._connect()
        try:
            conn.executescript(_SENDS_SCHEMA)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"the ledger {self.path} cannot be opened: {exc}") from None
        return conn

    def entries(self, platform: str | None = None) -> dict[tuple[str, str, str], SendEntry]:
        """Every entry (of `platform`), by (platform, order id, event)."""
        if not self.path.is_file():
            return {}
        columns = ("SELECT platform, order_id, event, state, number, attributed, client_id, "
                   "detail, order_date, updated_at FROM sends")
        with closing(self._connect()) as conn:
            # two statements, so that one platform's reading uses the key's index
            rows = (conn.execute(columns).fetchall() if platform is None else
                    conn.execute(f"{columns} WHERE platform = ?", (platform,)).fetchall())
        return {(r[0], r[1], r[2]): SendEntry(
            r[0], r[1], r[2], SendState(r[3]), r[4], bool(r[5]), r[6], r[7],
            datetime.fromisoformat(r[8]) if r[8] else None,
            datetime.fromisoformat(r[9]) if r[9] else None) for r in rows}

    def put(self, entries: Iterable[SendEntry]) -> None:
        """Record these entries in one transaction (replacing theirs)."""
        rows = [(e.platform, e.order_id, e.event, e.state.value, e.number, int(e.attributed),
                 e.client_id, e.detail, e.order_date.isoformat() if e.order_date else None,
                 e.updated_at.isoformat() if e.updated_at else None) for e in entries]
        if not rows:
            return
        with closing(self._connect()) as conn, conn:
            conn.executemany("INSERT OR REPLACE INTO sends VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def counts(self, platform: str, event: str) -> dict[str, int]:
        """Entries of `platform` and `event` (`purchase`, `refund`) by state, plus
        `attributed` (sent with the browser's ids); counted by SQLite, none loaded."""
        if not self.path.is_file():
            return {}
        with closing(self._connect()) as conn:
            found = dict(conn.execute(
                "SELECT state, count(*) FROM sends WHERE platform = ? AND event = ? "
                "GROUP BY state", (platform, event)).fetchall())
            found["attributed"] = conn.execute(
                "SELECT count(*) FROM sends WHERE platform = ? AND event = ? AND "
                "state = 'sent' AND attributed = 1", (platform, event)).fetchone()[0]
        return found

    def forget_before(self, moment: datetime) -> None:
        """Drop entries of orders dated before `moment` (the store no longer holds them)."""
        if not self.path.is_file():
            return
        with closing(self._connect()) as conn, conn:
            conn.execute("DELETE FROM sends WHERE order_date IS NOT NULL AND order_date < ?",
                         (moment.isoformat(),))
