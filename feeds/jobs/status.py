"""The text the commands print: `status` (store, last syncs, feeds), a build's summary and
a sync's line."""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from feeds.config import Config
from feeds.log import mask
from feeds.pipeline.run import FeedResult
from feeds.storage.layout import Layout
from feeds.storage.report import read as read_report
from feeds.storage.store import Store, SyncRecord

__all__ = ["age", "format_build", "format_status", "shown_safely", "sync_line"]


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


def shown_safely(cfg: Config, text: str) -> str:
    """Stored text (a sync's error or warning, a refresh's error) made fit to show.

    The reader scrubs the API key from every message before it is stored; this is
    the second line of defence, for text stored before that or by other means: the
    configured key (read from the variable `[vendre] api_key_env` names, as the
    sync does) and every registered secret become ***.
    """
    key = os.environ.get(cfg.vendre.api_key_env, "").strip()
    return mask(text, [key] if len(key) >= 4 else [])  # as short as `add_secret` ignores


def _sync_lines(record: SyncRecord, now: datetime, shown: Callable[[str], str]) -> list[str]:
    when = f"{record.finished_at:%Y-%m-%d %H:%M} UTC ({age(record.finished_at, now)})"
    if not record.ok:
        return [f"last sync FAILED {when}: {shown(record.error)}"]
    lines = [f"last sync ok {when}: {record.products} products, {record.categories} "
             f"categories, {record.orders} orders; {record.added} added, {record.removed} "
             f"removed, {record.changed} changed"]
    lines += [f"  warning: {shown(w)}" for w in record.warnings]
    return lines


def _feed_lines(layout: Layout, now: datetime) -> list[str]:
    """One line per published feed, plus the last build's refusal when it was not published."""
    lines = []
    for feed in layout.published():
        line = (f"feed {feed.file}: {feed.items} items, published "
                f"{feed.published_at:%Y-%m-%d %H:%M} UTC ({age(feed.published_at, now)})")
        report = read_report(layout.report(feed.stem))
        if report is not None:
            line += f"; last build: {report.dropped} dropped, {report.warning_count} " \
                    f"warnings, {sum(report.excluded.values())} skipped"
            if not report.published:
                line += f"; NOT PUBLISHED: {report.reason}"
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
    shown = functools.partial(shown_safely, cfg)
    if not recent:
        lines.append("never synced")
    else:
        lines += _sync_lines(recent[0], now, shown)
        if not recent[0].ok:
            good = store.last_good_sync()
            lines += ["  the store holds the last good snapshot:"] + \
                [f"  {line}" for line in _sync_lines(good, now, shown)] if good else \
                ["  no sync has succeeded yet"]
    return "\n".join(lines + _feed_lines(Layout(cfg.data_dir), now))


def sync_line(record: SyncRecord) -> str:
    """What one sync did, and its warnings, one per line."""
    line = (f"synced {record.products} products, {record.categories} categories, "
            f"{record.orders} orders ({record.added} added, {record.removed} removed, "
            f"{record.changed} changed)")
    for warning in record.warnings:
        line += f"\nwarning: {warning}"
    return line


def format_build(results: list[FeedResult], *, violations: bool = False) -> str:
    """What the per-feed progress lines (items written) do not say: per feed, the items
    dropped by the rules (and the errors that dropped them), warnings by kind, the
    products skipped (not for sale, or left out by the channel's own filters), and why a
    feed was refused; with `violations`, the first violations and how many more there are.
    """
    lines = []
    for r in results:
        c = r.counts
        parts = [f"{c.products} products read"]
        if c.dropped or c.errors:
            parts.append(f"{c.dropped} dropped by {sum(c.errors.values())} errors "
                         f"({_kinds(c.errors)})")
        if c.warnings:
            parts.append(f"{sum(c.warnings.values())} warnings ({_kinds(c.warnings)})")
        if c.excluded:
            parts.append(f"{sum(c.excluded.values())} skipped ({_kinds(c.excluded)})")
        lines.append(f"{r.stem}: " + "; ".join(parts))
        if r.reason:
            lines.append(f"  NOT PUBLISHED: {r.reason}")
        if violations:
            lines += [f"  {v.severity.value} {v.item_id} {v.field}: {v.message}"
                      for v in r.first_violations]
            more = sum(c.errors.values()) + sum(c.warnings.values()) - len(r.first_violations)
            if more > 0:
                lines.append(f"  and {more} more (--limit N lists more)")
    return "\n".join(lines)


def _kinds(counter: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counter.most_common())
