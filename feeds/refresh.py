"""One sync and build, as `vendre-feeds refresh`, the schedule and the demo run it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from feeds.build import FeedResult, build_feeds
from feeds.config import Config
from feeds.errors import BuildError
from feeds.progress import Progress, make_progress

__all__ = ["build_all", "run_refresh"]


def build_all(cfg: Config, *, now: datetime, progress: Progress, force: bool = False
              ) -> list[FeedResult]:
    """Build every enabled feed (and, once tracking lands, its product index)."""
    return build_feeds(cfg, force=force, now=now, progress=progress)


def run_refresh(cfg: Config, *, transport: Any = None, api_key: str | None = None,
                now: datetime | None = None, progress: Progress | None = None
                ) -> dict[str, Any]:
    """Sync, then build; a summary for the refresh state and /health.

    :raises FeedsError: when the sync fails (nothing is built: the last good feeds
        stay) or when a feed could not be published (the others were).
    """
    from feeds.cli import sync_with

    now = now or datetime.now(UTC)
    progress = progress or make_progress(quiet=True)
    record = sync_with(cfg, progress, transport=transport, api_key=api_key, now=now)
    results = build_all(cfg, now=now, progress=progress)
    summary = {
        "sync": {"products": record.products, "categories": record.categories,
                 "orders": record.orders, "warnings": list(record.warnings)},
        "feeds": {r.stem: {"items": r.counts.items, "published": r.published,
                           "reason": r.reason} for r in results},
    }
    failed = [r.stem for r in results if not r.ok]
    if failed:
        raise BuildError(f"not published: {', '.join(failed)} (see reports/)")
    return summary
