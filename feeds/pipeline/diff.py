"""`vendre-feeds diff FEED`: what changed between the last two published versions.

Each format reads its own documents back (`read_values`); the fields compared are the
format's `diff_fields` (price, sale price and availability for the RSS feeds)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

from feeds.channels import Channel
from feeds.errors import NotFound
from feeds.formats import FormatHandler, handler
from feeds.pipeline.publish import history_versions
from feeds.storage.layout import Layout

__all__ = ["FeedDiff", "diff_latest", "format_diff"]

@dataclass
class FeedDiff:
    older: str
    newer: str
    fields: tuple[str, ...] = ()
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)


def _read(path: Path, fmt: FormatHandler) -> dict[str, tuple[str, ...]]:
    """id -> the diff fields of one gzipped version, streamed."""
    with gzip.open(path, "rb") as fh:
        return fmt.read_values(fh)


def diff_latest(layout: Layout, stem: str, channel: Channel) -> FeedDiff:
    """Compare the two newest history versions of feed `stem`."""
    versions = history_versions(layout, stem)
    if len(versions) < 2:
        raise NotFound(f"{stem}: fewer than two published versions in history, nothing to compare")
    older, newer = versions[-2], versions[-1]
    fmt = handler(channel.format, None)
    before, after = _read(older, fmt), _read(newer, fmt)
    labels = tuple(channel.format.diff_fields)
    diff = FeedDiff(older.name, newer.name, labels,
                    added=sorted(after.keys() - before.keys()),
                    removed=sorted(before.keys() - after.keys()))
    for item_id in sorted(before.keys() & after.keys()):
        changes = [(name, old, new) for name, old, new in zip(labels, before[item_id],
                                                               after[item_id], strict=True)
                   if old != new]
        if changes:
            diff.changed[item_id] = changes
    return diff


def format_diff(diff: FeedDiff, limit: int = 50) -> str:
    """A readable summary: counts, then up to `limit` lines of detail per kind."""
    lines = [f"{diff.older} -> {diff.newer}",
             f"{len(diff.added)} added, {len(diff.removed)} removed, "
             f"{len(diff.changed)} changed ({', '.join(diff.fields) or 'nothing compared'})"]
    lines += [f"+ {i}" for i in diff.added[:limit]]
    lines += [f"- {i}" for i in diff.removed[:limit]]
    for item_id, changes in list(diff.changed.items())[:limit]:
        detail = "; ".join(f"{name} {old or '-'} -> {new or '-'}" for name, old, new in changes)
        lines.append(f"~ {item_id}: {detail}")
    hidden = max(0, len(diff.added) - limit) + max(0, len(diff.removed) - limit) + \
        max(0, len(diff.changed) - limit)
    if hidden:
        lines.append(f"(and {hidden} more)")
    return "\n".join(lines)
