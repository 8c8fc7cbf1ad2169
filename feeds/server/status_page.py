"""The status page (`/?key=...`) and `/health`.

`/` without the key shows a small form asking for it (200; 403 after a wrong
key) and nothing about the shop. With the key: one row per feed (URL, items,
last build, errors and warnings with a link to the report), one row per pushed
marketplace (articles for sale, paused, rejected and pending in the push ledger,
the last push's time, counts and outcome, and the rejected SKUs with the
marketplace's own messages), the last sync and the last refresh with their
outcomes, the tracking snippets that `app.config["STATUS_SNIPPETS"]` returns, and
each tracking service's match rate (how many of the shop's sellable products its
catalogue holds, `feeds.events.match`). Pages that carry the key are `no-store`
and load only their own nonce'd style and script.

`/health` needs no key and shows only counts and ages. It answers 503 when no
feed is published yet or any published feed is older than
`[server] max_feed_age_minutes`. A failed last refresh or sync is reported in
the JSON but does not by itself make it 503: the previous feeds are still
served and only their age tells whether fetchers get stale data.
"""

from __future__ import annotations

import json
import logging
import secrets
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request

from feeds.channels import get_channel
from feeds.config import Config
from feeds.errors import StoreError
from feeds.events.match import ServiceMatch, service_matches
from feeds.jobs.status import age, shown_safely
from feeds.log import mask
from feeds.server.context import ServerContext, SnippetHook, context, default_snippets, render
from feeds.server.feeds_routes import key_matches
from feeds.storage import refresh_state
from feeds.storage.layout import Layout, PublishedFeed
from feeds.storage.ledger import SkuState
from feeds.storage.refresh_state import RunOutcome
from feeds.storage.report import ReportSummary
from feeds.storage.report import read as read_report
from feeds.storage.store import Store, SyncRecord

__all__ = ["FeedRow", "MarketRow", "bp", "feed_rows", "health_report", "market_rows",
           "static_status_page"]

log = logging.getLogger("feeds.server.status_page")
bp = Blueprint("status", __name__)


@dataclass(frozen=True)
class FeedRow:
    """One feed as the status page shows it (None where the data is missing)."""

    stem: str
    channel: str
    file: str
    url: str
    items: int | None
    published_at: str
    published_ago: str
    built_at: str
    errors: int | None
    warnings: int | None
    excluded: int | None
    report_url: str
    note: str


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


# ---------------------------------------------------------------- routes


@bp.get("/")
def status_page() -> Response:
    """The status page with the right key; the key form otherwise."""
    ctx = context()
    given = request.args.get("key", "")
    if not given:
        return _key_form(200, wrong=False)
    if not key_matches(given, ctx.key):
        return _key_form(403, wrong=True)
    now = datetime.now(UTC)
    nonce = secrets.token_urlsafe(16)
    base = _base_url(ctx)
    files = ctx.cfg.publish.public_url.rstrip("/") or base  # feeds on the CDN when it serves them
    snippets = _snippets(ctx, current_app.config.get("STATUS_SNIPPETS"))
    body = render("server/status.html", static=False,
                  **_page_values(ctx, now, nonce, base, files, snippets))
    return _page(body, 200, nonce, secret=True)


def static_status_page(ctx: ServerContext, now: datetime) -> str:
    """The status page as one file for object storage (`status/<access_key>/index.html`):
    the live page's data and template with `static` set. Its feed URLs are the CDN's
    (`[publish] public_url`; relative to the page without one), it links no report
    (reports stay on the server), and its Content-Security-Policy is a meta element,
    since a stored object carries no such header."""
    files = ctx.cfg.publish.public_url.rstrip("/") or "../.."
    return ctx.env.get_template("server/status.html").render(
        static=True, **_page_values(ctx, now, secrets.token_urlsafe(16), "", files,
                                    _snippets(ctx, default_snippets)))


def _page_values(ctx: ServerContext, now: datetime, nonce: str, base_url: str, files_url: str,
                 snippets: list[tuple[str, str]]) -> dict[str, Any]:
    """What the status page shows, live or static; `base_url` "" leaves out the report
    links (they are served by the server only)."""
    return {"nonce": nonce, "shop": ctx.cfg.shop.name,
            "feeds": feed_rows(ctx.layout, base_url, ctx.key, now, files_url=files_url),
            "markets": market_rows(ctx.cfg, now),
            "sync": _sync_view(ctx, now), "refresh": _refresh_view(ctx, now),
            "snippets": snippets, "now": _when(now),
            "tracking_match": _tracking_match(ctx), "config_warnings": ctx.cfg.warnings,
            "purchases": _purchases(ctx)}


@bp.get("/health")
def health() -> Response:
    """Ages and counts as JSON; 503 when a feed is missing or too old."""
    report = health_report(context(), datetime.now(UTC))
    response = Response(json.dumps(report, indent=1) + "\n", mimetype="application/json",
                        status=200 if report["status"] == "ok" else 503)
    response.headers["Cache-Control"] = "no-store"
    return response


def _key_form(status: int, *, wrong: bool) -> Response:
    nonce = secrets.token_urlsafe(16)
    return _page(render("server/key.html", nonce=nonce, wrong=wrong), status, nonce,
                 secret=False)


def _page(body: str, status: int, nonce: str, *, secret: bool) -> Response:
    """An HTML page allowed only its own nonce'd <style> and <script>."""
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    # The key is in the URL and (with it) in the page: never cache, never leak as a referrer.
    response.headers["Cache-Control"] = "no-store" if secret else "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _base_url(ctx: ServerContext) -> str:
    return (ctx.cfg.server.public_url or request.host_url).rstrip("/")


# ---------------------------------------------------------------- data


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else ""


def _ago(moment: datetime | None, now: datetime) -> str:
    return age(moment, now) if moment else ""


def feed_rows(layout: Layout, base_url: str, key: str, now: datetime, *,
              files_url: str | None = None) -> list[FeedRow]:
    """One row per published feed or built report, by stem; feed URLs under `files_url`
    (default `base_url`: the CDN's when `[publish] public_url` is set), report URLs under
    `base_url` (none when it is "")."""
    published = {f.stem: f for f in layout.published()}
    reports = _reports(layout)
    files = base_url if files_url is None else files_url
    return [_row(stem, published.get(stem), reports.get(stem), base_url, files, key, now)
            for stem in sorted(published.keys() | reports.keys())]


def _reports(layout: Layout) -> dict[str, ReportSummary]:
    found = {}
    for path in sorted(layout.reports.glob("*.json")) if layout.reports.is_dir() else []:
        summary = read_report(path)
        if summary is not None:
            found[path.stem] = summary
    return found


def _row(stem: str, feed: PublishedFeed | None, report: ReportSummary | None, base_url: str,
         files_url: str, key: str, now: datetime) -> FeedRow:
    file = feed.file if feed else f"{stem}.xml"
    return FeedRow(
        stem=stem, channel=(feed.channel if feed else report.channel if report else ""),
        file=file, url=f"{files_url}/feeds/{quote(key, safe='')}/{quote(file)}" if feed else "",
        items=feed.items if feed else None,
        published_at=_when(feed.published_at) if feed else "",
        published_ago=_ago(feed.published_at, now) if feed else "",
        built_at=_when(report.built_at if report else None),
        errors=report.error_count if report else 0,
        warnings=report.warning_count if report else 0,
        excluded=sum(report.excluded.values()) if report else 0,
        report_url=(f"{base_url}/reports/{quote(key, safe='')}/{quote(stem)}.json"
                    if report and base_url else ""),
        note=_note(feed, report))


def _note(feed: PublishedFeed | None, report: ReportSummary | None) -> str:
    if report is not None and report.unreadable:
        return "the report cannot be read"
    if report is not None and not report.published:
        reason = report.reason or "not published"
        return f"last build not published: {reason}" + ("" if feed else "; nothing served yet")
    return "" if feed else "not published yet"


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


def _market_row(cfg: Config, status: Any, now: datetime) -> MarketRow:
    states, run = status.by_state, status.last_run
    spec_title = get_channel(cfg.channel(status.name).kind or status.name).title
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(run.counts.items())
                       if v) if run else ""
    moment = (run.finished_at or run.started_at) if run else None
    verdict = "" if run is None or run.ended else "running" if status.running else "interrupted"
    outcome = mask(run.message) if run and run.ended else \
        "it never recorded its end; the next push looks up what it left pending" \
        if verdict == "interrupted" else ""
    return MarketRow(
        name=status.name, title=spec_title, for_sale=states.get(SkuState.LIVE.value, 0),
        paused=states.get(SkuState.PAUSED.value, 0),
        rejected=states.get(SkuState.REJECTED.value, 0),
        pending=states.get(SkuState.PENDING.value, 0),
        pushed_at=_when(moment), pushed_ago=_ago(moment, now),
        ok=run.ok if run else None, outcome=outcome, counts=counts,
        rejections=tuple((e.sku, mask("; ".join(e.errors)) or "no reason given")
                         for e in status.rejected[:MarketRow.REJECTIONS_SHOWN]),
        verdict=verdict)


def _last_sync(ctx: ServerContext) -> SyncRecord | None:
    try:
        records = Store.in_dir(ctx.cfg.data_dir).syncs(limit=1)
    except StoreError as exc:
        log.warning("status: %s", mask(str(exc)))
        return None
    return records[0] if records else None


def _sync_view(ctx: ServerContext, now: datetime) -> SyncView | None:
    record = _last_sync(ctx)
    if record is None:
        return None
    return SyncView(ok=record.ok, finished_at=_when(record.finished_at),
                    ago=_ago(record.finished_at, now),
                    error=shown_safely(ctx.cfg, record.error),
                    products=record.products, categories=record.categories,
                    orders=record.orders, warnings=len(record.warnings))


def _refresh_view(ctx: ServerContext, now: datetime) -> RefreshView | None:
    state = refresh_state.read(ctx.layout)
    if state is None:
        return None
    shown = state.shown or RunOutcome()
    finished = shown.finished_at
    return RefreshView(
        running=state.running, ok=shown.ok if finished else None,
        started_at=_when(state.run.started_at), finished_at=_when(finished),
        ago=_ago(finished, now), error=shown_safely(ctx.cfg, shown.error),
        summary=_summary_text(ctx, state.summary) if not state.running else "")


def _summary_text(ctx: ServerContext, summary: Any) -> str:
    if isinstance(summary, dict):
        text = ", ".join(f"{k}: {v if not isinstance(v, (dict, list)) else json.dumps(v)}"
                         for k, v in summary.items())
    else:
        text = str(summary)
    return shown_safely(ctx.cfg, text)[:500]  # masked first: a cut must not halve the key


def _snippets(ctx: ServerContext, hook: SnippetHook | None) -> list[tuple[str, str]]:
    """The hook's (title, code) pairs (the live page's is `app.config["STATUS_SNIPPETS"]`);
    a failing hook shows none."""
    try:
        return [(str(title), str(code)) for title, code in (hook(ctx.cfg) if hook else [])]
    except Exception:
        log.error("status snippets failed\n%s", mask(traceback.format_exc()).rstrip())
        return []


def _tracking_match(ctx: ServerContext) -> list[ServiceMatch]:
    """Each enabled tracking service's match rate; a failure shows none."""
    try:
        return service_matches(ctx.cfg, ctx.layout)
    except Exception:
        log.error("tracking match failed\n%s", mask(traceback.format_exc()).rstrip())
        return []


def _purchases(ctx: ServerContext) -> list[Any]:
    """Each platform's server-side purchases (feeds.purchases.status); a failure shows none."""
    try:
        from feeds.purchases.status import purchase_status

        return purchase_status(ctx.cfg)
    except Exception:
        log.error("purchases status failed\n%s", mask(traceback.format_exc()).rstrip())
        return []


# ---------------------------------------------------------------- health


def health_report(ctx: ServerContext, now: datetime) -> dict[str, Any]:
    """The /health JSON: status, the age of each feed, of the last sync and refresh."""
    limit = timedelta(minutes=ctx.cfg.server.max_feed_age_minutes)
    feeds = {f.stem: _feed_health(f, now, limit) for f in ctx.layout.published()}
    stale = [stem for stem, f in feeds.items() if f["stale"]]
    status = "no_feeds" if not feeds else "stale" if stale else "ok"
    record = _last_sync(ctx)
    return {
        "status": status,
        "checked_at": now.isoformat(timespec="seconds"),
        "max_feed_age_minutes": ctx.cfg.server.max_feed_age_minutes,
        "stale_feeds": stale,
        "feeds": feeds,
        "last_sync": None if record is None else {
            "ok": record.ok, "age_seconds": _seconds(now - record.finished_at),
            "products": record.products},
        "last_refresh": _refresh_health(ctx.layout, now),
    }


def _feed_health(feed: PublishedFeed, now: datetime, limit: timedelta) -> dict[str, Any]:
    published = feed.published_at
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return {"items": feed.items, "age_seconds": _seconds(now - published),
            "stale": now - published > limit}


def _refresh_health(layout: Layout, now: datetime) -> dict[str, Any] | None:
    """Outcome and age only: the error text may name the shop, and /health is public."""
    state = refresh_state.read(layout)
    if state is None:
        return None
    shown = state.shown or RunOutcome()
    finished = shown.finished_at
    return {"running": state.running, "ok": shown.ok if finished else None,
            "age_seconds": _seconds(now - finished) if finished else None}


def _seconds(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds()))
