"""Which item ids each published feed holds: "does this catalogue hold the item?".

Events name every sellable product, but ad platforms match events to catalogue
items by id, so the loader's index records which published feeds hold each id and
the status page shows each service's match rate. Rather than re-deciding which
products are feed items (filters, rules, drop guard and all), the build records
the ids it renders for each feed and makes them current in the same step that
publishes the file: `<data_dir>/state/feed-ids.sqlite3`, table (stem, id).

Most builds render the ids they rendered last time. So each feed's ids also have a
digest (table `feed_id_sets`), and a build whose ids have the digest recorded leaves
the feed's rows alone: rewriting 100,000 of them costs 0.17 s of CPU a feed. Triggers
forget a feed's digest whenever anything else adds, removes or changes one of its
rows (`withdraw`, an older version of this program, a hand-made fix), so the digest
never vouches for rows it did not see written.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path

from feeds.errors import StoreError
from feeds.storage.layout import Layout

__all__ = ["FeedIds", "Recorder"]

# name -> the trigger that forgets the digest of each feed whose rows the event touched.
_TRIGGERS = {name: f"""
CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON feed_ids
    WHEN EXISTS (SELECT 1 FROM feed_id_sets WHERE stem IN ({stems}))
    BEGIN DELETE FROM feed_id_sets WHERE stem IN ({stems}); END""" for name, event, stems in (
    ("feed_ids_added", "INSERT", "NEW.stem"), ("feed_ids_removed", "DELETE", "OLD.stem"),
    ("feed_ids_changed", "UPDATE", "OLD.stem, NEW.stem"))}
_TABLES = """
CREATE TABLE IF NOT EXISTS feed_ids (stem TEXT NOT NULL, id TEXT NOT NULL,
                                     PRIMARY KEY (id, stem)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feed_id_sets (stem TEXT PRIMARY KEY, digest TEXT NOT NULL)
    WITHOUT ROWID;
"""
_BATCH = 2000


class Recorder:
    """Collects one feed's ids while it renders; `commit()` makes them the feed's ids."""

    def __init__(self, path: Path, stem: str) -> None:
        self._stem = stem
        self._buffer: list[str] = []
        self._json_each = True
        self._digest = hashlib.sha256()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._conn.executescript(_TABLES)
            self._put_triggers_in_place()
            self._conn.execute("CREATE TEMP TABLE staged (id TEXT PRIMARY KEY) WITHOUT ROWID")
        except sqlite3.Error as exc:
            raise StoreError(f"{path} cannot be written: {exc}") from None

    def _put_triggers_in_place(self) -> None:
        """Create any trigger the file lacks (written by an older version of this
        program). Without it a digest may have outlived a change of its rows, so
        every digest is forgotten with it: the next build of each feed rewrites."""
        if self._has_every_trigger():  # the usual case: no write lock taken
            return
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            if self._has_every_trigger():  # another writer put them in place meanwhile
                return
            self._conn.execute("DELETE FROM feed_id_sets")
            for trigger in _TRIGGERS.values():
                self._conn.execute(trigger)

    def _has_every_trigger(self) -> bool:
        present = {row[0] for row in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        return present.issuperset(_TRIGGERS)

    def add(self, item_id: str) -> None:
        self._buffer.append(item_id)
        if len(self._buffer) >= _BATCH:
            self._flush()

    def add_all(self, ids: Iterable[str]) -> None:
        self._buffer += ids
        if len(self._buffer) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        array = json.dumps(self._buffer)
        # The ids' JSON strings, each followed by ", ": the same bytes however the ids
        # were batched.
        self._digest.update(array[1:-1].encode())
        self._digest.update(b", ")
        if self._json_each:
            # One statement per batch: SQLite reads the JSON array in C, several times
            # faster than binding each id through executemany (measured, BENCHMARKS.md).
            try:
                self._conn.execute("INSERT OR IGNORE INTO staged SELECT value FROM "
                                   "json_each(?)", (array,))
                self._buffer.clear()
                return
            except sqlite3.OperationalError:  # an SQLite built without JSON functions
                self._json_each = False
        self._conn.executemany("INSERT OR IGNORE INTO staged VALUES (?)",
                               [(i,) for i in self._buffer])
        self._buffer.clear()

    def commit(self) -> None:
        """Replace the feed's recorded ids by the staged ones, in one transaction; where
        they are the ids recorded last time, in the same order, nothing is written."""
        self._flush()
        digest = self._digest.hexdigest()
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            recorded = self._conn.execute("SELECT digest FROM feed_id_sets WHERE stem = ?",
                                          (self._stem,)).fetchone()
            if recorded == (digest,):
                return
            # This rewrite records its own digest, so it goes without the triggers,
            # which would cost more than the rewrite (a probe per row), and puts them back
            # in the same transaction: no other connection ever sees them missing.
            for name in _TRIGGERS:
                self._conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            self._conn.execute("DELETE FROM feed_ids WHERE stem = ?", (self._stem,))
            self._conn.execute("INSERT INTO feed_ids SELECT ?, id FROM staged", (self._stem,))
            self._conn.execute("INSERT OR REPLACE INTO feed_id_sets VALUES (?, ?)",
                               (self._stem, digest))
            for trigger in _TRIGGERS.values():
                self._conn.execute(trigger)

    def close(self) -> None:
        self._conn.close()


class FeedIds:
    """Read access to the recorded ids of the published feeds."""

    def __init__(self, layout: Layout) -> None:
        self.path = layout.root / "state" / "feed-ids.sqlite3"

    def recorder(self, stem: str) -> Recorder:
        return Recorder(self.path, stem)

    def withdraw(self, stem: str) -> None:
        """Forget a feed that is no longer published."""
        if self.path.is_file():
            with closing(sqlite3.connect(self.path, timeout=30)) as conn, conn:
                conn.execute("DELETE FROM feed_ids WHERE stem = ?", (stem,))

    def in_all(self, stems: Sequence[str]) -> _Membership:
        """A predicate: is an id an item of every one of `stems`?"""
        return _Membership(self.path, tuple(stems))

    def holders(self, stems: Sequence[str]) -> _Holders:
        """`holders(id)` -> which of `stems` hold the id, sorted."""
        return _Holders(self.path, tuple(stems))


class _Membership:
    """`membership(id)` -> True when every feed of `stems` holds the id."""

    def __init__(self, path: Path, stems: tuple[str, ...]) -> None:
        self._stems = stems
        self._conn = sqlite3.connect(path, timeout=30) if path.is_file() and stems else None
        marks = ",".join("?" * len(stems))
        self._query = f"SELECT count(*) FROM feed_ids WHERE id = ? AND stem IN ({marks})"

    def __call__(self, item_id: str) -> bool:
        if self._conn is None or not item_id:
            return False
        found = self._conn.execute(self._query, (item_id, *self._stems)).fetchone()[0]
        return found == len(self._stems)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def ids(self) -> Iterable[str]:
        """Every id held by all the feeds (for tests and checks)."""
        if self._conn is None:
            return []
        marks = ",".join("?" * len(self._stems))
        return [r[0] for r in self._conn.execute(
            f"SELECT id FROM feed_ids WHERE stem IN ({marks}) GROUP BY id "
            "HAVING count(*) = ?", (*self._stems, len(self._stems)))]


class _Holders:
    """`holders(id)` -> the feeds of `stems` that hold the id, sorted by stem."""

    def __init__(self, path: Path, stems: tuple[str, ...]) -> None:
        self._stems = stems
        self._conn = sqlite3.connect(path, timeout=30) if path.is_file() and stems else None
        marks = ",".join("?" * len(stems))
        self._query = f"SELECT stem FROM feed_ids WHERE id = ? AND stem IN ({marks}) ORDER BY stem"

    def __call__(self, item_id: str) -> tuple[str, ...]:
        if self._conn is None or not item_id:
            return ()
        return tuple(r[0] for r in self._conn.execute(self._query, (item_id, *self._stems)))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
