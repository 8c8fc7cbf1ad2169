"""What the status page and /health show, gathered in one place, apart from any rendering.

`gather_status(cfg, base_url, now)` reads the data dir once (published feeds and
their reports, the store's syncs, the refresh state, the push ledger, the match
rates) into one `StatusData`. The live page (`feeds.server.status_page`) renders
it per request; a static copy can render the very same object. `health_report`
makes /health's JSON from the same readings, so the page's banner and the health
check never disagree about what failed.

Words, the same in the CLI, the page and the reports:

- **dropped**: an item the channel's rules refused (an error); counts items, never
  violations;
- **skipped**: a product that is no item of the channel by design: not for sale
  (hidden, inactive, no price, a variant parent) or left out by the channel's own
  filters (`exclude_categories`, `exclude_out_of_stock`, `min_price`).

Nothing here imports Flask: the caller passes the base URL (the request's host
when `[server] public_url` is unset).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from feeds.channels import Channel, get_channel
from feeds.config import Config
from feeds.errors import ConfigError, NotFound, StoreError
from feeds.events.match import ServiceMatch, service_matches
from feeds.events.snippets import loader_tag
from feeds.jobs.status import age, shown_safely
from feeds.log import mask
from feeds.storage import refresh_state
from feeds.storage.layout import Layout, PublishedFeed
from feeds.storage.ledger import SkuState
from feeds.storage.refresh_state import RefreshState, RunOutcome
from feeds.storage.report import ReportSummary
from feeds.storage.report import read as read_report
from feeds.storage.store import Store, SyncRecord

__all__ = ["MATCH_WARN_PERCENT", "FeedRow", "MarketRow", "Problem", "RefreshView",
           "StatusData", "SyncView", "feed_rows", "gather_status", "health_report",
           "market_rows", "where_it_goes"]

log = logging.getLogger("feeds.server.status")

#: A tracking service whose catalogue holds fewer of the sellable products than this is
#: a problem the banner names.
MATCH_WARN_PERCENT = 90
_SYNCS_LOOKED_AT = 100  # how far back "failing since" looks for the last good sync

Previews = Callable[[Config], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class FeedRow:
    """One published file (or built report) as the page shows it."""

    stem: str
    channel: str
    file: str
    url: str
    items: int | None
    published_at: str
    published_ago: str
    built_at: str
    errors: int
    warnings: int
    dropped: int
    skipped: int
    report_url: str       # the violations as an HTML table
    report_json_url: str  # the same report as JSON
    note: str
    paste_into: str       # where to paste the URL ('' for a pushed payload)
    pushed: bool          # a marketplace payload: pushed, its URL only for inspection


@dataclass(frozen=True)
class MarketRow:
    """One pushed marketplace as the status page shows it."""

    name: str
    title: str
    for_sale: int
    paused: int
    rejected: int
    pending: int
    pushed_at: str
    pushed_ago: str
    ok: bool | None
    outcome: str
    counts: str
    rejections: tuple[tuple[str, str], ...]
    verdict: str = ""  # "running" or "interrupted" for a push that has not recorded its end

    REJECTIONS_SHOWN = 20


@dataclass(frozen=True)
class SyncView:
    """The last sync, formatted."""

    ok: bool
    finished_at: str
    ago: str
    error: str
    products: int
    categories: int
    orders: int
    warnings: int


@dataclass(frozen=True)
class RefreshView:
    """The last scheduled refresh, formatted."""

    running: bool
    ok: bool | None
    started_at: str
    finished_at: str
    ago: str
    error: str
    summary: str


@dataclass(frozen=True)
class Problem:
    """One line of the banner: what failed, since when, why, and what is still served."""

    what: str
    since: str
    detail: str
    served: str


@dataclass(frozen=True)
class StatusData:
    """Everything the status page shows, in the order it shows it."""

    shop: str
    now: str
    problems: tuple[Problem, ...]
    feeds: tuple[FeedRow, ...]       # ad feeds: paste these URLs
    payloads: tuple[FeedRow, ...]    # marketplace payloads: pushed, here for inspection
    markets: tuple[MarketRow, ...]
    tracking_match: tuple[ServiceMatch, ...]
    loader_tag: str                  # the one tag to paste ('' when not available yet)
    loader_note: str                 # why there is none, or what to know before pasting it
    previews: tuple[tuple[str, str], ...]
    sync: SyncView | None
    refresh: RefreshView | None
    config_warnings: tuple[str, ...]
    stale_after_minutes: int
    match_warn_percent: int = MATCH_WARN_PERCENT
    base_url: str = ""
    purchases: tuple[Any, ...] = ()  # feeds.purchases.status.PlatformStatus, per platform


@dataclass
class _Readings:
    """What one gathering read from the data dir (each source read once)."""

    published: list[PublishedFeed]
    reports: dict[str, ReportSummary]
    syncs: list[SyncRecord]
    refresh: RefreshState | None


# ---------------------------------------------------------------- gathering


def gather_status(cfg: Config, base_url: str, now: datetime, *,
                  previews: Previews | None = None, files_url: str | None = None
                  ) -> StatusData:
    """The status page's data for `cfg`'s data dir, with URLs under `base_url`.

    :param previews: cfg -> [(title, code)] of the tracking previews (default: the
        configured services' previews, `feeds.events.snippets.status_snippets`).
    :param files_url: where the feeds are downloaded (default: the CDN's
        `[publish] public_url`, else `base_url`). A `base_url` of "" leaves out the
        report links, which only the server serves (the static copy in object storage).
    """
    layout = Layout(cfg.data_dir)
    base_url = base_url.rstrip("/")
    if files_url is None:
        files_url = cfg.publish.public_url or base_url
    readings = _read(cfg, layout)
    rows = feed_rows(cfg, layout, base_url, now, readings, files_url=files_url.rstrip("/"))
    markets = market_rows(cfg, now)
    matches = _tracking_match(cfg, layout)
    purchases = _purchases(cfg)
    tag, note = _loader(cfg, base_url)
    return StatusData(
        shop=cfg.shop.name, now=_when(now),
        problems=tuple(_problems(cfg, readings, markets, matches, now, purchases)),
        feeds=tuple(r for r in rows if not r.pushed),
        payloads=tuple(r for r in rows if r.pushed),
        markets=tuple(markets), tracking_match=tuple(matches),
        loader_tag=tag, loader_note=note, previews=tuple(_previews(cfg, previews)),
        sync=_sync_view(cfg, readings.syncs, now),
        refresh=_refresh_view(cfg, readings.refresh, now),
        config_warnings=cfg.warnings, stale_after_minutes=cfg.stale_after_minutes(),
        base_url=base_url, purchases=tuple(purchases))


def _read(cfg: Config, layout: Layout) -> _Readings:
    return _Readings(published=layout.published(), reports=_reports(layout),
                     syncs=_syncs(cfg), refresh=refresh_state.read(layout))


def _syncs(cfg: Config, limit: int = _SYNCS_LOOKED_AT) -> list[SyncRecord]:
    try:
        return Store.in_dir(cfg.data_dir).syncs(limit=limit)
    except StoreError as exc:
        log.warning("status: %s", mask(str(exc)))
        return []


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else ""


def _ago(moment: datetime | None, now: datetime) -> str:
    return age(moment, now) if moment else ""


def _since(moment: datetime | None, now: datetime) -> str:
    return f"since {_when(moment)} ({_ago(moment, now)})" if moment else ""


def _reports(layout: Layout) -> dict[str, ReportSummary]:
    found = {}
    for path in sorted(layout.reports.glob("*.json")) if layout.reports.is_dir() else []:
        summary = read_report(path)
        if summary is not None:
            found[path.stem] = summary
    return found


# ---------------------------------------------------------------- the feed rows


def feed_rows(cfg: Config, layout: Layout, base_url: str, now: datetime,
              readings: _Readings | None = None, *, files_url: str | None = None
              ) -> list[FeedRow]:
    """One row per published file or built report, by stem: file URLs under `files_url`
    (default `base_url`), report URLs under `base_url` (none when it is "")."""
    readings = readings or _read(cfg, layout)
    published = {f.stem: f for f in readings.published}
    reports = readings.reports
    files = base_url if files_url is None else files_url
    return [_row(cfg, stem, published.get(stem), reports.get(stem), base_url, files, now)
            for stem in sorted(published.keys() | reports.keys())]


def _channel_of(cfg: Config, feed: PublishedFeed | None, name: str) -> Channel | None:
    settings = cfg.channels.get(name)
    kind = (feed.kind if feed else "") or (settings.kind if settings else "") or name
    try:
        return get_channel(kind)
    except NotFound:
        return None


def where_it_goes(cfg: Config, feed: PublishedFeed) -> tuple[bool, str]:
    """(pushed, where to paste its URL) of a published file: a marketplace payload is
    pushed (its URL is for inspection only); an ad feed's URL is pasted into its
    platform, another country's file as a data source of its own."""
    channel = _channel_of(cfg, feed, feed.channel or feed.stem)
    return (channel is not None and channel.delivery is not None,
            _paste_into(channel, feed, feed.stem, feed.channel))


def _row(cfg: Config, stem: str, feed: PublishedFeed | None, report: ReportSummary | None,
         base_url: str, files_url: str, now: datetime) -> FeedRow:
    name = feed.channel if feed else report.channel if report else ""
    channel = _channel_of(cfg, feed, name or stem)
    file = feed.file if feed else f"{stem}.{_extension(channel)}"
    key = quote(cfg.server.access_key, safe="")
    reports = f"{base_url}/reports/{key}/{quote(stem)}"
    return FeedRow(
        stem=stem, channel=name, file=file,
        url=f"{files_url}/feeds/{key}/{quote(file)}" if feed else "",
        items=feed.items if feed else None,
        published_at=_when(feed.published_at) if feed else "",
        published_ago=_ago(feed.published_at, now) if feed else "",
        built_at=_when(report.built_at if report else None),
        errors=report.error_count if report else 0,
        warnings=report.warning_count if report else 0,
        dropped=report.dropped if report else 0,
        skipped=sum(report.excluded.values()) if report else 0,
        report_url=f"{reports}.html" if report and base_url else "",
        report_json_url=f"{reports}.json" if report and base_url else "",
        note=_note(feed, report),
        paste_into=_paste_into(channel, feed, stem, name),
        pushed=channel is not None and channel.delivery is not None)


def _extension(channel: Channel | None) -> str:
    return channel.format.extension if channel is not None else "xml"


def _paste_into(channel: Channel | None, feed: PublishedFeed | None, stem: str,
                name: str) -> str:
    """Where the feed's URL goes; another country's file is a data source of its own."""
    if channel is None or not channel.paste_into:
        return ""
    if stem != name and feed is not None and feed.country:
        return f"{channel.paste_into} (a data source of its own, for {feed.country})"
    return channel.paste_into


def _note(feed: PublishedFeed | None, report: ReportSummary | None) -> str:
    if report is not None and report.unreadable:
        return "the report cannot be read"
    if report is not None and not report.published:
        reason = report.reason or "not published"
        return f"last build not published: {reason}" + ("" if feed else "; nothing served yet")
    return "" if feed else "not published yet"


# ---------------------------------------------------------------- marketplaces


def market_rows(cfg: Config, now: datetime) -> list[MarketRow]:
    """One row per enabled channel with a push delivery, from the push ledger (read
    only when it exists: showing the page never creates it)."""
    from feeds.pipeline import deliver

    names = deliver.pushed_channels(cfg)
    ledger = deliver.ledger_of(cfg)
    if not names:
        return []
    deliver.register_credentials(cfg)  # what a marketplace echoed is masked, even if old
    try:
        statuses = [deliver.push_status(ledger, name,
                                        running=deliver.push_running(cfg, name))
                    if ledger.path.is_file() else deliver.PushStatus(name, {}, None, (), ())
                    for name in names]
    except StoreError as exc:
        log.warning("status: %s", mask(str(exc)))
        return []
    return [_market_row(cfg, status, now) for status in statuses]


#: The push ledger's count names, in the page's words.
_PUSH_WORDS = {"left_out": "dropped"}


def _market_row(cfg: Config, status: Any, now: datetime) -> MarketRow:
    states, run = status.by_state, status.last_run
    spec_title = get_channel(cfg.channel(status.name).kind or status.name).title
    counts = ", ".join(f"{_PUSH_WORDS.get(k, k.replace('_', ' '))} {v}"
                       for k, v in sorted(run.counts.items()) if v) if run else ""
    moment = (run.finished_at or run.started_at) if run else None
    verdict = "" if run is None or run.ended else "running" if status.running else "interrupted"
    outcome = mask(run.message) if run and run.ended else \
        "it never recorded its end; the next push looks up what it left pending" \
        if verdict == "interrupted" else ""
    return MarketRow(
        name=status.name, title=spec_title, for_sale=states.get(SkuState.LIVE.value, 0),
        paused=states.get(SkuState.PAUSED.value, 0),
        rejected=states.get(SkuState.REJECTED.value, 0),
        pending=states.get(SkuState.PENDING.value, 0) +      # sent, not (yet) confirmed
        states.get(SkuState.UNCONFIRMED.value, 0),
        pushed_at=_when(moment), pushed_ago=_ago(moment, now),
        ok=run.ok if run else None, outcome=outcome, counts=counts,
        rejections=tuple((e.sku, mask("; ".join(e.errors)) or "no reason given")
                         for e in status.rejected[:MarketRow.REJECTIONS_SHOWN]),
        verdict=verdict)


# ---------------------------------------------------------------- sync and refresh


def _sync_view(cfg: Config, syncs: list[SyncRecord], now: datetime) -> SyncView | None:
    if not syncs:
        return None
    record = syncs[0]
    return SyncView(ok=record.ok, finished_at=_when(record.finished_at),
                    ago=_ago(record.finished_at, now),
                    error=shown_safely(cfg, record.error),
                    products=record.products, categories=record.categories,
                    orders=record.orders, warnings=len(record.warnings))


def _refresh_view(cfg: Config, state: RefreshState | None, now: datetime
                  ) -> RefreshView | None:
    if state is None:
        return None
    shown = state.shown or RunOutcome()
    finished = shown.finished_at
    return RefreshView(
        running=state.running, ok=shown.ok if finished else None,
        started_at=_when(state.run.started_at), finished_at=_when(finished),
        ago=_ago(finished, now), error=shown_safely(cfg, shown.error),
        summary=_summary_text(cfg, state.summary) if not state.running else "")


def _summary_text(cfg: Config, summary: Any) -> str:
    if isinstance(summary, dict):
        text = ", ".join(f"{k}: {v if not isinstance(v, (dict, list)) else json.dumps(v)}"
                         for k, v in summary.items())
    else:
        text = str(summary)
    return shown_safely(cfg, text)[:500]  # masked first: a cut must not halve the key


def _failed_refresh(state: RefreshState | None) -> RunOutcome | None:
    """The last finished refresh when it failed."""
    shown = state.shown if state is not None else None
    return shown if shown is not None and shown.finished_at and shown.ok is False else None


def _failing_syncs(syncs: list[SyncRecord]) -> list[SyncRecord]:
    """The failed syncs since the last good one, newest first ([] when the last is good)."""
    failed = []
    for record in syncs:
        if record.ok:
            break
        failed.append(record)
    return failed


# ---------------------------------------------------------------- tracking


def _tracking_match(cfg: Config, layout: Layout) -> list[ServiceMatch]:
    """Each enabled tracking service's match rate; a failure shows none."""
    try:
        return service_matches(cfg, layout)
    except Exception:
        log.error("tracking match failed\n%s", mask(traceback.format_exc()).rstrip())
        return []


def _purchases(cfg: Config) -> list[Any]:
    """Each platform's server-side purchases (feeds.purchases.status); a failure shows none."""
    try:
        from feeds.purchases.status import purchase_status

        return purchase_status(cfg)
    except Exception:
        log.error("purchases status failed\n%s", mask(traceback.format_exc()).rstrip())
        return []


def _loader(cfg: Config, base_url: str) -> tuple[str, str]:
    """(the loader tag, a note): the tag names `base_url` when public_url is unset."""
    try:
        tag = loader_tag(cfg, base_url)
    except ConfigError as exc:
        return "", f"The loader tag is not available yet: {exc}"
    if cfg.server.public_url:
        return tag, ""
    return tag, ("This tag names the address this page was opened at, because [server] "
                 "public_url is not set. Set it to the server's public HTTPS address "
                 "before pasting the tag into the shop.")


def _previews(cfg: Config, hook: Previews | None) -> list[tuple[str, str]]:
    """The previews' (title, code) pairs; a failing hook shows none."""
    if hook is None:
        from feeds.events.snippets import status_snippets

        hook = status_snippets
    try:
        return [(str(title), str(code)) for title, code in hook(cfg)]
    except Exception:
        log.error("status snippets failed\n%s", mask(traceback.format_exc()).rstrip())
        return []


# ---------------------------------------------------------------- what failed


def _problems(cfg: Config, readings: _Readings, markets: list[MarketRow],
              matches: list[ServiceMatch], now: datetime,
              purchases: list[Any] = ()) -> list[Problem]:
    """The banner: every failure a shop owner must know of, most serious first."""
    problems: list[Problem] = []
    served = _served_line(readings.published)
    failing = _failing_syncs(readings.syncs)
    if failing:
        good = next((r for r in readings.syncs if r.ok), None)
        kept = f"the snapshot of {_when(good.finished_at)} stays; " if good else \
            "no sync has succeeded yet; "
        problems.append(Problem(
            "The last sync failed", _since(failing[-1].finished_at, now),
            shown_safely(cfg, failing[0].error), kept + served))
    refresh = _failed_refresh(readings.refresh)
    if refresh is not None and not (failing and refresh.error == failing[0].error):
        since = readings.refresh.failing_since if readings.refresh else None
        problems.append(Problem("The last refresh failed", _since(since or refresh.started_at,
                                                                 now),
                                shown_safely(cfg, refresh.error), served))
    for market in markets:
        if market.ok is False:
            problems.append(Problem(
                f"The last push to {market.name} failed", f"at {market.pushed_at} "
                f"({market.pushed_ago})", market.outcome,
                f"{market.name} keeps what it accepted before; the next push sends the "
                "difference again"))
    for p in purchases:
        if p.last_ok is False:
            problems.append(Problem(
                f"Sending purchases to {p.title} failed",
                f"at {_when(p.last_run)} ({_ago(p.last_run, now)})", p.last_error,
                "the orders not sent stay pending; the next run sends them"))
    problems += _feed_problems(cfg, readings, now)
    for m in matches:
        if m.percent is not None and m.percent < MATCH_WARN_PERCENT:
            problems.append(Problem(
                f"{m.service} matches only {m.held} of {m.products} sellable products "
                f"({m.percent} %)", "", f"the {m.stem} catalogue lacks the others; the "
                "products and the reasons are listed under Tracking",
                f"events are still sent for every product, but {m.service} can show only "
                "the products its catalogue holds"))
    return [dataclasses.replace(p, served=p.served[:1].upper() + p.served[1:])
            for p in problems]


def _served_line(published: list[PublishedFeed]) -> str:
    if not published:
        return "nothing is served yet"
    newest = max(published, key=lambda f: f.published_at)
    return (f"the last good feeds are still served ({len(published)} files, the newest "
            f"published {_when(newest.published_at)})")


def _feed_problems(cfg: Config, readings: _Readings, now: datetime) -> list[Problem]:
    problems = []
    published = {f.stem: f for f in readings.published}
    limit = timedelta(minutes=cfg.stale_after_minutes())
    for stem, report in sorted(readings.reports.items()):
        if report.published or report.unreadable:
            continue
        feed = published.get(stem)
        served = (f"the previous {feed.file} ({feed.items} items, published "
                  f"{_when(feed.published_at)}) is still served") if feed else \
            f"nothing is served for {stem} yet"
        problems.append(Problem(f"The last build of {stem} was not published",
                                f"at {_when(report.built_at)}" if report.built_at else "",
                                report.reason or "not published", served))
    for _stem, feed in sorted(published.items()):
        if feed.items == 0:
            problems.append(Problem(
                f"{feed.file} is published with 0 items", _since(feed.published_at, now),
                "it was published with --force", "an empty file: Merchant Center and Meta "
                "delete every product missing from a fetched feed"))
        elif _is_stale(feed, now, limit):
            problems.append(Problem(
                f"{feed.file} is stale", _since(feed.published_at, now),
                f"older than {cfg.stale_after_minutes()} minutes (stale_after_minutes): no "
                "build has replaced it", f"this old {feed.file} is still served"))
    return problems


def _is_stale(feed: PublishedFeed, now: datetime, limit: timedelta) -> bool:
    published = feed.published_at
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return now - published > limit


# ---------------------------------------------------------------- health


def health_report(cfg: Config, now: datetime) -> dict[str, Any]:
    """The /health JSON: `status` ("ok", else the first of `failing`), what failed
    (`failing`: no_feeds, sync_failed, refresh_failed, stale), and the age of each feed,
    of the last sync and of the last refresh. No error text: /health is public, and an
    error may name the shop."""
    layout = Layout(cfg.data_dir)
    limit = timedelta(minutes=cfg.stale_after_minutes())
    readings = _Readings(published=layout.published(), reports={}, syncs=_syncs(cfg, limit=1),
                         refresh=refresh_state.read(layout))
    feeds = {f.stem: _feed_health(f, now, limit) for f in readings.published}
    stale = [stem for stem, f in feeds.items() if f["stale"]]
    record = readings.syncs[0] if readings.syncs else None
    failing = [code for code, bad in (
        ("no_feeds", not feeds), ("sync_failed", record is not None and not record.ok),
        ("refresh_failed", _failed_refresh(readings.refresh) is not None),
        ("stale", bool(stale))) if bad]
    return {
        "status": failing[0] if failing else "ok",
        "failing": failing,
        "checked_at": now.isoformat(timespec="seconds"),
        "stale_after_minutes": cfg.stale_after_minutes(),
        "stale_feeds": stale,
        "feeds": feeds,
        "last_sync": None if record is None else {
            "ok": record.ok, "age_seconds": _seconds(now - record.finished_at),
            "products": record.products},
        "last_refresh": _refresh_health(readings.refresh, now),
    }


def _feed_health(feed: PublishedFeed, now: datetime, limit: timedelta) -> dict[str, Any]:
    published = feed.published_at
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return {"items": feed.items, "age_seconds": _seconds(now - published),
            "stale": _is_stale(feed, now, limit)}


def _refresh_health(state: RefreshState | None, now: datetime) -> dict[str, Any] | None:
    """Outcome and age only: the error text may name the shop, and /health is public."""
    if state is None:
        return None
    shown = state.shown or RunOutcome()
    finished = shown.finished_at
    return {"running": state.running, "ok": shown.ok if finished else None,
            "age_seconds": _seconds(now - finished) if finished else None}


def _seconds(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds()))

