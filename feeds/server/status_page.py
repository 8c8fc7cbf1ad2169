"""The status page (`/?key=...`), a feed's violations (`/reports/<key>/<stem>.html`) and
`/health`.

`/` without the key shows a small form asking for it (200; 403 after a wrong
key) and nothing about the shop. With the key it renders what
`feeds.server.status_data.gather_status` gathered, in the order a shop owner
needs it: a banner naming whatever failed (since when, and what is still
served), the ad feeds with the URLs to paste and where to paste them, each
tracking service's match rate with the products it lacks, the marketplace
payloads (pushed, shown for inspection), the marketplaces' push state, the one
loader tag to copy (previews collapsed below it), then the last sync and
refresh. URLs use `[server] public_url`, else the host the request came to.
Pages that carry the key are `no-store` and load only their own nonce'd style
and script.

`/health` needs no key and shows only counts and ages (`health_report`). It
answers 503 when no feed is published yet, when the last sync or the last
refresh failed, or when a feed is older than `[server] stale_after_minutes`
(default: three schedule intervals), so a monitor that reads only the status
code sees every failure; the JSON's `failing` says which.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from feeds.config import Config
from feeds.server.context import ServerContext, context, render
from feeds.server.feeds_routes import key_matches
from feeds.server.status_data import gather_status, health_report
from feeds.storage.report import read as read_report
from feeds.storage.report import violations
from feeds.storage.store import Store

__all__ = ["VIOLATIONS_SHOWN", "bp", "static_status_page"]

bp = Blueprint("status", __name__)

VIOLATIONS_SHOWN = 1000  # rows of the violations page; the JSON report has them all


@dataclass(frozen=True)
class ViolationRow:
    """One violation as the violations page shows it."""

    item_id: str
    title: str
    field: str
    severity: str
    message: str


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
    nonce = secrets.token_urlsafe(16)
    data = gather_status(ctx.cfg, _base_url(), datetime.now(UTC),
                         previews=current_app.config.get("STATUS_SNIPPETS"))
    return _page(render("server/status.html", nonce=nonce, status=data, static=False), 200,
                 nonce, secret=True)


def static_status_page(ctx: ServerContext, now: datetime) -> str:
    """The status page as one file for object storage (`status/<access_key>/index.html`):
    the live page's data and template with `static` set. Its feed URLs are the CDN's
    (`[publish] public_url`; relative to the page without one), it links no report
    (reports stay on the server), and its Content-Security-Policy is a meta element,
    since a stored object carries no such header."""
    files = ctx.cfg.publish.public_url.rstrip("/") or "../.."
    data = gather_status(ctx.cfg, "", now, files_url=files)
    return ctx.env.get_template("server/status.html").render(
        nonce=secrets.token_urlsafe(16), status=data, static=True)


@bp.get("/reports/<key>/<stem>.html")
def violations_page(key: str, stem: str) -> Response:
    """One feed's last report as a table: product, field, severity, message (errors
    first), with a link to the whole report as JSON."""
    ctx = context()
    path = ctx.layout.report(stem)
    if not key_matches(key, ctx.key) or not _stem_ok(stem) or not path.is_file():
        abort(404)
    summary = read_report(path)
    rows, total = _violation_rows(ctx, stem)
    nonce = secrets.token_urlsafe(16)
    body = render("server/violations.html", nonce=nonce, stem=stem, summary=summary,
                  rows=rows, total=total, shown=len(rows), shop=ctx.cfg.shop.name,
                  json_url=f"{_base_url()}/reports/{key}/{stem}.json",
                  status_url=f"{_base_url()}/?key={key}")
    return _page(body, 200, nonce, secret=True)


@bp.get("/health")
def health() -> Response:
    """Ages and counts as JSON; 503 when anything failed or a feed is missing or too old."""
    report = health_report(context().cfg, datetime.now(UTC))
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


def _base_url() -> str:
    """`[server] public_url`, else the scheme, host and port this request came to."""
    return context().cfg.public_base(request.host_url)


def _stem_ok(stem: str) -> bool:
    return bool(stem) and len(stem) <= 64 and stem[0].isalnum() and \
        all(c.isascii() and (c.isalnum() or c in "-_") for c in stem)


# ---------------------------------------------------------------- the violations page


def _violation_rows(ctx: ServerContext, stem: str) -> tuple[list[ViolationRow], int]:
    """The first `VIOLATIONS_SHOWN` violations, errors first, and how many there are."""
    path = ctx.layout.report(stem)
    total = sum(1 for _ in violations(path))
    shown: list[dict[str, Any]] = []
    for severity in ("error", "warning"):
        left = VIOLATIONS_SHOWN - len(shown)
        shown += islice((v for v in violations(path) if v.get("severity") == severity), left)
    titles = _titles(ctx.cfg, {str(v.get("item_id", "")) for v in shown})
    return [ViolationRow(str(v.get("item_id", "")), titles.get(str(v.get("item_id", "")), ""),
                         str(v.get("field", "")), str(v.get("severity", "")),
                         str(v.get("message", ""))) for v in shown], total


def _titles(cfg: Config, ids: set[str]) -> dict[str, str]:
    """The product name (in the shop's language) of each feed id, where the store has it."""
    found: dict[str, str] = {}
    try:
        store = Store.in_dir(cfg.data_dir)
        if not store.exists():
            return found
        for item_id in ids:
            row = store.product(int(item_id)) if item_id.isdigit() and \
                len(item_id) < 19 else None
            row = row or store.product_by_article(item_id)
            if row is not None:
                found[item_id] = _name(row[0], cfg.shop.language)
    except Exception:  # a title is a courtesy: the table is shown without it
        return found
    return found


def _name(raw: Any, language: str) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    if isinstance(name, dict):
        text = name.get(language) or next((v for v in name.values() if v), "")
        return str(text)
    return str(name or "")
