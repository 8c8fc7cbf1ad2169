"""The recorded ids of each feed (`feeds.storage.feed_ids`): a build whose ids are the
ones recorded last time writes nothing, and the digest that lets it never vouches for
rows it did not see written."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from feeds.storage.feed_ids import FeedIds
from feeds.storage.layout import Layout

IDS = [f"SKU-{n}" for n in range(5000)] + ['odd "id", with, commas', "å"]


def record(ids_file: FeedIds, stem: str, ids: list[str], *, one_by_one: bool = False) -> None:
    recorder = ids_file.recorder(stem)
    try:
        if one_by_one:
            for item_id in ids:
                recorder.add(item_id)
        else:
            for at in range(0, len(ids), 333):
                recorder.add_all(ids[at:at + 333])
        recorder.commit()
    finally:
        recorder.close()


def rows(path: Path, stem: str) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM feed_ids WHERE stem = ?", (stem,))}


def data_version(conn: sqlite3.Connection) -> int:
    """Changes whenever another connection commits a change to the file."""
    return conn.execute("PRAGMA data_version").fetchone()[0]


def test_the_same_ids_again_write_nothing_however_they_were_batched(tmp_path):
    ids_file = FeedIds(Layout(tmp_path))
    record(ids_file, "google", IDS)
    record(ids_file, "meta", IDS[:100])
    with closing(sqlite3.connect(ids_file.path)) as watcher:
        before = data_version(watcher)
        record(ids_file, "google", IDS, one_by_one=True)
        assert data_version(watcher) == before
        record(ids_file, "google", IDS[1:])  # one id less: written
        assert data_version(watcher) != before
    assert rows(ids_file.path, "google") == set(IDS[1:])
    assert rows(ids_file.path, "meta") == set(IDS[:100])


def test_ids_in_another_order_are_written_and_stay_right(tmp_path):
    ids_file = FeedIds(Layout(tmp_path))
    record(ids_file, "google", IDS)
    record(ids_file, "google", IDS[::-1])
    assert rows(ids_file.path, "google") == set(IDS)
    record(ids_file, "google", IDS[:10])
    assert rows(ids_file.path, "google") == set(IDS[:10])


def test_a_withdrawn_feed_built_again_with_the_same_ids_has_them_again(tmp_path):
    ids_file = FeedIds(Layout(tmp_path))
    record(ids_file, "google", IDS)
    ids_file.withdraw("google")
    assert rows(ids_file.path, "google") == set()
    record(ids_file, "google", IDS)
    assert rows(ids_file.path, "google") == set(IDS)


def test_rows_changed_by_another_writer_are_written_again(tmp_path):
    """An older version of the program rewrites the rows without the digest: the
    triggers forget it, so the next build rewrites the rows however its ids look."""
    ids_file = FeedIds(Layout(tmp_path))
    record(ids_file, "google", IDS)
    record(ids_file, "meta", IDS)
    with closing(sqlite3.connect(ids_file.path)) as other, other:
        other.execute("DELETE FROM feed_ids WHERE stem = 'google' AND id = 'SKU-7'")
        other.execute("INSERT INTO feed_ids VALUES ('meta', 'ELSEWHERE')")
    record(ids_file, "google", IDS)
    record(ids_file, "meta", IDS)
    assert rows(ids_file.path, "google") == set(IDS)
    assert rows(ids_file.path, "meta") == set(IDS)


def test_rows_updated_by_another_writer_are_written_again(tmp_path):
    """An UPDATE, which neither adds nor removes a row, forgets the digest of the feed
    the row left and of the one it joined."""
    ids_file = FeedIds(Layout(tmp_path))
    record(ids_file, "google", IDS)
    record(ids_file, "meta", IDS[:100])
    with closing(sqlite3.connect(ids_file.path)) as other, other:
        other.execute("UPDATE feed_ids SET stem = 'meta' WHERE stem = 'google' AND id = 'å'")
    record(ids_file, "google", IDS)
    record(ids_file, "meta", IDS[:100])
    assert rows(ids_file.path, "google") == set(IDS)
    assert rows(ids_file.path, "meta") == set(IDS[:100])


def test_a_file_from_before_the_update_trigger_gets_it_and_forgets_its_digests(tmp_path):
    """The version before had no UPDATE trigger: a row it let change unseen must not be
    vouched for by the digest it left, nor may a later change go unseen."""
    ids_file = FeedIds(Layout(tmp_path))
    record(ids_file, "google", IDS)
    with closing(sqlite3.connect(ids_file.path)) as old, old:
        old.execute("DROP TRIGGER feed_ids_changed")
        old.execute("UPDATE feed_ids SET id = 'UNSEEN' WHERE stem = 'google' AND id = 'SKU-3'")
    record(ids_file, "google", IDS)
    assert rows(ids_file.path, "google") == set(IDS)
    with closing(sqlite3.connect(ids_file.path)) as other, other:
        other.execute("UPDATE feed_ids SET id = 'RENAMED' WHERE stem = 'google' AND id = 'SKU-7'")
    record(ids_file, "google", IDS)
    assert rows(ids_file.path, "google") == set(IDS)


def test_the_triggers_are_in_place_after_every_rewrite(tmp_path):
    ids_file = FeedIds(Layout(tmp_path))
    for ids in (IDS, IDS[:3], IDS[:3], []):
        record(ids_file, "google", ids)
        with closing(sqlite3.connect(ids_file.path)) as conn:
            triggers = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert triggers == {"feed_ids_added", "feed_ids_removed", "feed_ids_changed"}
    assert rows(ids_file.path, "google") == set()
