"""What SQLite's secure_delete costs a sync that replaces its snapshot.

    python -m bench.sqlite_replace [--rows 100000] [--rounds 3]

SQLite alone, no threads: a table of `rows` products of about 3 KB is staged and
swapped in the way `Store.write_snapshot` does (a new table, then DROP the old
one and RENAME), `rounds` times into the same file, once with the old table
dropped under `PRAGMA secure_delete = ON` (Debian's build default: every freed
page is overwritten with zeros) and once with it OFF (what the store now does
for the catalogue's tables). The first round replaces an empty table; the later
ones replace a full one, as every scheduled sync does. Prints the CPU seconds
of each round (insert, then insert + drop + commit).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

_COLUMNS = "(id INTEGER PRIMARY KEY, parent INTEGER, article_number TEXT, " \
    "date_modified INTEGER, raw TEXT NOT NULL)"
_RAW = "x" * 3100  # about a synthetic product's JSON (`bench/synthetic.py`)


def replace_rounds(path: Path, rows: int, rounds: int, secure_delete: bool
                   ) -> list[tuple[float, float]]:
    """(insert CPU s, whole replace CPU s) of each round, into the file at `path`."""
    found = []
    for _ in range(rounds):
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"CREATE TABLE IF NOT EXISTS products {_COLUMNS}")
            start = time.process_time()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"CREATE TABLE new_products {_COLUMNS}")
            for first in range(0, rows, 250):
                conn.executemany("INSERT INTO new_products VALUES (?,?,?,?,?)",
                                 [(n, None, f"A-{n}", 1, _RAW)
                                  for n in range(first, min(first + 250, rows))])
            inserted = time.process_time() - start
            conn.execute(f"PRAGMA secure_delete = {'ON' if secure_delete else 'OFF'}")
            conn.execute("DROP TABLE products")
            conn.execute("ALTER TABLE new_products RENAME TO products")
            conn.execute("COMMIT")
            found.append((inserted, time.process_time() - start))
        finally:
            conn.close()
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_replace")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"SQLite {sqlite3.sqlite_version}, {args.rows:,} rows of {len(_RAW):,} bytes")
    print("| secure_delete | round | insert CPU | insert + drop + commit CPU |")
    print("|---|--:|--:|--:|")
    with tempfile.TemporaryDirectory(prefix="sqlite-replace-") as tmp:
        for setting in (True, False):
            path = Path(tmp) / f"store-{setting}.sqlite3"
            for n, (inserted, whole) in enumerate(
                    replace_rounds(path, args.rows, args.rounds, setting), 1):
                print(f"| {'on' if setting else 'off'} | {n} | {inserted:.2f} s "
                      f"| {whole:.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
