"""Publishing a checked feed without ever hurting the shop.

Merchant Center and Meta delete every product missing from a fetched feed, so
a feed is published only whole: the rendered temporary file is renamed over the
published one (atomic on one filesystem), its gzipped twin likewise, and the
state file records what is now live. The guard (`guard_refusal`) refuses a feed
whose item count fell too far since its last publication, and a first
publication that is empty or holds fewer than half of the products the channel
would carry. Every published version is kept, gzipped, in history/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from feeds.storage.layout import Layout, PublishedFeed, write_json_atomic

__all__ = ["HistoryPolicy", "drop_percent", "guard_refusal", "history_versions", "publish",
           "temp_file"]


@dataclass(frozen=True)
class HistoryPolicy:
    versions: int = 50
    max_bytes: int = 2000 * 1024 * 1024


@contextmanager
def temp_file(folder: Path, name: str) -> Iterator[Path]:
    """A temporary path in `folder` (same filesystem as the target); removed unless renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    path = Path(tmp)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def drop_percent(previous: int, now: int) -> float:
    """How far the item count fell, in percent of the previous count (0 if it grew)."""
    if previous <= 0 or now >= previous:
        return 0.0
    return (previous - now) * 100.0 / previous


def guard_refusal(previous: int | None, items: int, candidates: int, limit: float) -> str:
    """Why a file of `items` items must not replace what is published ('' = it may);
    `--force` overrides it.

    Google and Meta delete every product missing from a fetched feed, so:

    - with a published version of `previous` items: the drop guard, which refuses a fall
      of more than `limit` percent;
    - a first publication (`previous` None): refused when it holds no item at all, or
      fewer than half of `candidates`, the products the channel would carry (sellable
      and within its own filters), since most of them were dropped by the rules: a
      setting is probably missing or wrong.
    """
    if previous is None:
        if items == 0:
            return (f"first publication: 0 items of {candidates} sellable products; "
                    "nothing was published; see the report for why, or use --force")
        if items * 2 < candidates:
            return (f"first publication: {items} items, fewer than half of the {candidates} "
                    f"sellable products ({candidates - items} dropped by the rules); nothing "
                    "was published; see the report for why, or use --force")
        return ""
    fell = drop_percent(previous, items)
    if fell <= limit:
        return ""
    return (f"drop guard: {items} items against {previous} published ({fell:.0f}% fewer, "
            f"limit {limit}%); the old file stays; use --force if this is intended")


def publish(rendered: Path, rendered_gz: Path, layout: Layout, state: PublishedFeed,
            policy: HistoryPolicy) -> PublishedFeed:
    """Make `rendered` the live `state.file` and `rendered_gz` its .gz twin; write the
    state and keep a history entry.

    A reader that opened the old file keeps reading the old bytes (rename replaces
    the directory entry, not the file's contents).
    """
    target = layout.feeds / state.file
    gz_target = target.with_name(target.name + ".gz")
    os.chmod(rendered, 0o644)
    os.chmod(rendered_gz, 0o644)
    os.replace(rendered, target)
    os.replace(rendered_gz, gz_target)
    write_json_atomic(layout.feed_state(state.stem), state.as_json())
    _keep_in_history(layout, state, gz_target, policy)
    return state


def _keep_in_history(layout: Layout, feed: PublishedFeed, gz: Path,
                     policy: HistoryPolicy) -> None:
    folder = layout.history(feed.stem)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = feed.published_at.strftime("%Y%m%dT%H%M%S%fZ")
    entry = folder / f"{stamp}-{feed.items}.{feed.file.rsplit('.', 1)[-1]}.gz"
    if entry.exists():  # two publishes within one clock tick: keep both, in order
        entry = entry.with_name(f"{stamp}-{len(list(folder.iterdir()))}-{feed.items}.gz")
    try:
        os.link(gz, entry)  # the live .gz is replaced by rename later; the link keeps this one
    except OSError:
        shutil.copyfile(gz, entry)
    _prune(folder, policy)


def history_versions(layout: Layout, stem: str) -> list[Path]:
    """Published versions of one feed, oldest first."""
    folder = layout.history(stem)
    return sorted(folder.glob("*.gz")) if folder.is_dir() else []


def _prune(folder: Path, policy: HistoryPolicy) -> None:
    """Keep the newest `versions` files and at most `max_bytes` (the newest always stays)."""
    versions = sorted(folder.glob("*.gz"), reverse=True)
    total = 0
    for index, path in enumerate(versions):
        total += path.stat().st_size
        if index > 0 and (index >= policy.versions or total > policy.max_bytes):
            path.unlink(missing_ok=True)
