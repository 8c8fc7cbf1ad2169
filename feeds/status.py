"""The text `vendre-feeds status` prints: the store, the last syncs, the feeds."""

from __future__ import annotations

import json
from datetime import datetime

from feeds.config import Config
from feeds.layout import Layout
from feeds.store import Store, SyncRecord

__all__ = ["age", "format_status"]


def age(moment: datetime, now: datetime) -> str:
    """'3 min ago', '2 h ago', '4 days ago'."""
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 36 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _sync_lines(record: SyncRecord, now: datetime) -> list[str]:
    when = f"{record.finished_at:%Y-%m-%d %H:%M} UTC ({age(record.finished_at, now)})"
    if not record.ok:
        return [f"last sync FAILED {when}: {record.error}"]
    lines = [f"last sync ok {when}: {record.products} products, {record.categories} "
             f"categories, {record.orders} orders; {record.added} added, {record.removed} "
             f"removed, {record.changed} changed"]
    lines += [f"  warning: {w}" for w in record.warnings]
    return lines


def _feed_lines(layout: Layout, now: datetime) -> list[str]:
    """One line per published feed, plus the last build's refusal when it was not published."""
    lines = []
    for feed in layout.published():
        line = (f"feed {feed.file}: {feed.items} items, published "
                f"{feed.published_at:%Y-%m-%d %H:%M} UTC ({age(feed.published_at, now)})")
        try:
            report = json.loads(layout.report(feed.stem).read_text("utf-8"))
        except (OSError, ValueError):
            report = {}
        counts = report.get("counts", {})
        errors, warnings = sum(counts.get("errors", {}).values()), \
            sum(counts.get("warnings", {}).values())
        line += f"; last build: {errors} errors, {warnings} warnings"
        if report and not report.get("published", True):
            line += f"; NOT PUBLISHED: {report.get('reason', '')}"
        lines.append(line)
    return lines or ["feeds: none published yet (run `vendre-feeds build`)"]


def format_status(cfg: Config, *, now: datetime) -> str:
    """A few lines: store contents, last sync and its outcome, last good sync if different."""
    store = Store.in_dir(cfg.data_dir)
    lines = [f"data dir: {cfg.data_dir.resolve()}"]
    if not store.exists():
        return "\n".join(lines + ["store: empty (run `vendre-feeds sync`)"])
    counts = store.counts()
    lines.append(f"store: {counts['products']} products, {counts['categories']} categories, "
                 f"{counts['orders']} orders")
    recent = store.syncs(limit=1)
    if not recent:
        lines.append("never synced")
    else:
        lines += _sync_lines(recent[0], now)
        if not recent[0].ok:
            good = store.last_good_sync()
            lines += ["  the store holds the last good snapshot:"] + \
                [f"  {line}" for line in _sync_lines(good, now)] if good else \
                ["  no sync has succeeded yet"]
    return "\n".join(lines + _feed_lines(Layout(cfg.data_dir), now))
