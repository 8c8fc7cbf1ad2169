"""One sync and build, as `vendre-feeds refresh`, the schedule and the demo run it."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from feeds.config import Config, api_key_from_env, require
from feeds.errors import BuildError, ConfigError, FeedsError
from feeds.jobs.sync import sync_shop
from feeds.pipeline.plan import feed_specs
from feeds.pipeline.run import FeedResult, build_feeds
from feeds.progress import Progress, make_progress
from feeds.storage.feed_ids import FeedIds
from feeds.storage.layout import Layout
from feeds.storage.lock import SNAPSHOT, held
from feeds.storage.store import Store
from tracking.options import TrackingOptions
from tracking.services import enabled_services

__all__ = ["IndexNotRebuilt", "build_all", "check_refresh_settings", "index_due",
           "index_skipped", "run_refresh"]

log = logging.getLogger("feeds.jobs.refresh")


class IndexNotRebuilt(BuildError):
    """Every feed was published, but the tracking index, which was due, was not rebuilt.

    `results` are the feeds' results, so a caller can still report them.
    """

    def __init__(self, message: str, results: list[FeedResult]) -> None:
        super().__init__(message)
        self.results = results


def build_all(cfg: Config, *, now: datetime, progress: Progress, force: bool = False,
              codes: Sequence[str] = ()) -> list[FeedResult]:
    """Build the feeds (`codes`, or every enabled channel), then the loader's product index.

    Holds the data dir's "snapshot" lock throughout, so no sync replaces the snapshot
    between two feeds or before the index: all of them describe one catalogue. The
    index is rebuilt only when every feed built was published: a feed refused (drop
    guard, errors) may mean a broken snapshot, and the previous index stays with the
    previous feeds. A channel that was not built (or never was) blocks nothing.

    :raises IndexNotRebuilt: the index was due (`[tracking] site_key` is set) and
        every feed was published, but the index could not be built; the feeds
        stay published and the previous index stays.
    """
    layout = Layout(cfg.data_dir)
    with held(layout, SNAPSHOT):
        results = build_feeds(cfg, codes=codes, force=force, now=now, progress=progress)
        _withdraw_disabled(cfg, layout)
        # When a feed was not published, the index is skipped on purpose; the caller's
        # "not published" line says so (`index_skipped`).
        if all(r.published for r in results):
            failure = _build_tracking_index(cfg, now)
            if failure:
                raise IndexNotRebuilt(failure, results)
    return results


def index_due(cfg: Config) -> bool:
    """Whether a build must rebuild the tracking index: a loader can ask for it."""
    return bool(cfg.tracking.site_key)


def index_skipped(cfg: Config) -> str:
    """The end of a "not published" line: the index, when due, was not rebuilt either."""
    return "; the tracking index was not rebuilt either" if index_due(cfg) else ""


def _withdraw_disabled(cfg: Config, layout: Layout) -> None:
    """Feeds of channels (or targets) the config no longer builds stop being served."""
    enabled = {spec.stem for spec in feed_specs(cfg)}
    for feed in layout.published():
        if feed.stem not in enabled:
            layout.withdraw(feed.stem)
            FeedIds(layout).withdraw(feed.stem)
            log.warning("%s is no longer published: its channel or target is not enabled",
                        feed.file)


def _build_tracking_index(cfg: Config, now: datetime) -> str:
    """The product index, when a site key lets a loader ask for it (else only the match
    rates, when a tracking service is on); "" when done or not due, else the one line
    that says why not (the previous index stays)."""
    from feeds.events.index import build_index
    from feeds.events.match import count_match, write_match

    due = index_due(cfg)
    try:
        if not due:
            if enabled_services(TrackingOptions.from_settings(cfg.tracking)):
                write_match(Layout(cfg.data_dir),
                            count_match(cfg, Store.in_dir(cfg.data_dir), now))
            return ""
        info = build_index(cfg, Store.in_dir(cfg.data_dir), now)
    except (FeedsError, OSError, sqlite3.Error) as exc:
        if not due:  # only the status page's match rates are stale
            log.warning("tracking match rates not counted: %s", exc)
            return ""
        return (f"tracking index not rebuilt, the previous one stays (the feeds were "
                f"published): {exc}")
    log.info("tracking index %s: %d keys in %d shards (%d products, %d categories)",
             info.version, info.count, info.shards, info.products, info.categories)
    return ""


def check_refresh_settings(cfg: Config, env: Mapping[str, str] | None = None) -> None:
    """What every refresh needs, checked once: the shop's API address and key, and the
    credentials of each channel that pushes after a build (`push = true`).

    :raises ConfigError: naming the first setting or environment variable missing.
    """
    env = os.environ if env is None else env
    require(cfg.vendre.api_url, "vendre.api_url", "set it to https://<shop>/API/1")
    api_key_from_env(cfg, env)
    for spec in feed_specs(cfg):
        delivery = spec.channel.delivery
        if delivery is None or not getattr(spec.settings, "push", False):
            continue
        for variable in delivery.credential_names(spec.name).values():
            if not env.get(variable, "").strip():
                raise ConfigError(f"channels.{spec.name}.push: is true, but the environment "
                                  f"variable {variable} is not set")


def run_refresh(cfg: Config, *, transport: Any = None, api_key: str | None = None,
                now: datetime | None = None, progress: Progress | None = None
                ) -> dict[str, Any]:
    """Sync, then build; a summary for the refresh state and /health.

    :raises FeedsError: when the sync fails (nothing is built: the last good feeds
        stay), when a feed could not be published (the others were), or when the
        tracking index was due but not rebuilt (`IndexNotRebuilt`).
    """
    now = now or datetime.now(UTC)
    progress = progress or make_progress(quiet=True)
    record = sync_shop(cfg, progress, transport=transport, api_key=api_key, now=now)
    try:
        results = build_all(cfg, now=now, progress=progress)
    finally:  # the orders synced go out whatever the build's outcome
        purchases = send_purchases_quietly(cfg, now)
    summary = {
        "sync": {"products": record.products, "categories": record.categories,
                 "orders": record.orders, "warnings": list(record.warnings)},
        "feeds": {r.stem: {"items": r.counts.items, "published": r.published,
                           "reason": r.reason} for r in results},
    }
    failed = [r.stem for r in results if not r.ok]
    if failed:
        raise BuildError(f"not published: {', '.join(failed)} (see reports/)"
                         + index_skipped(cfg))
    summary["pushed"] = _push_after_build(cfg, now)
    if purchases:
        summary["purchases"] = purchases
    return summary


#: Seconds each platform's purchases may take inside a refresh (then one warning line; the
#: orders stay pending for the next run).
PURCHASES_BUDGET_S = 30.0


def send_purchases_quietly(cfg: Config, now: datetime, **options: Any) -> str:
    """The orders sent to GA4 and Meta, as one summary line ("" when purchases are off).

    Never raises and never changes the refresh's outcome: a platform that cannot be
    reached is one warning line, after a short retry.
    """
    if not cfg.purchases.enabled:
        return ""
    from feeds.purchases.run import send_purchases

    try:
        report = send_purchases(cfg, now=now, **{"budget_s": PURCHASES_BUDGET_S, "retries": 3,
                                                 **options})
    except FeedsError as exc:
        log.warning("purchases not sent: %s", exc)
        return f"not sent: {exc}"
    except Exception as exc:  # a bug must not fail the refresh it rides along with
        log.exception("purchases not sent: unexpected %s", type(exc).__name__)
        return f"not sent: unexpected {type(exc).__name__}"
    for part in report.platforms.values():
        if part.message:
            log.warning("purchases %s: %s", part.platform.value, part.message)
    return report.summary()


def _push_after_build(cfg: Config, now: datetime) -> dict[str, str]:
    """Push every enabled channel with `push = true`, after a build that published it.

    :raises FeedsError: naming the channels whose push failed (the others were pushed;
        the feeds stay published either way).
    """
    from feeds.pipeline import deliver

    done, failed = {}, []
    for name in deliver.pushed_channels(cfg):
        if not getattr(cfg.channel(name), "push", False):
            continue
        try:
            done[name] = deliver.push(cfg, name, now=now).summary()
        except FeedsError as exc:
            failed.append(f"{name}: {exc}")
    if failed:
        raise FeedsError("push failed: " + "; ".join(failed))
    return done
