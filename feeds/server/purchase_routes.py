"""`POST /hooks/vendre/<secret>` (Vendre's order webhooks) and `POST /t/<site_key>/seen`
(the loader's beacon): thin routes over `feeds.purchases.intake`.

Both exist only with `[purchases] enabled`. The webhook's secret comes from the
environment (`[purchases] webhook_secret_env`) and is compared in constant time; a
wrong or missing one answers 404, as a wrong feed key does. Each route reads at most
its own cap of the body (1 MB for a webhook, 4 KB for a beacon; the server's overall
cap, `feeds.server.run.MAX_REQUEST_BODY_BYTES`, is 1 MB) and answers 413 beyond it
without reading further. A beacon's answers carry no body at all.

The client's IP (kept with a consented beacon for Meta) is the peer's address, or,
when the peer is one of `[server] trusted_proxies`, the address deploy/nginx.conf
appended to X-Forwarded-For.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, request

from feeds.config import Config
from feeds.purchases.intake import (
    MAX_BEACON_BYTES,
    MAX_WEBHOOK_BYTES,
    InboxWriter,
    IntakeShop,
    Reply,
    client_ip,
    receive_beacon,
    receive_webhook,
)
from feeds.server.context import context
from feeds.server.feeds_routes import key_matches
from feeds.server.tracking_routes import allowed_origins, origin_of
from feeds.storage.inbox import Inbox

__all__ = ["bp", "webhook_secret"]

bp = Blueprint("purchases", __name__)
_PREFLIGHT_MAX_AGE = "86400"


def webhook_secret(cfg: Config) -> str:
    """The webhook URL's secret from the environment ("" when unset: no webhook URL)."""
    return os.environ.get(cfg.purchases.webhook_secret_env, "").strip()


def _writer(cfg: Config) -> InboxWriter:
    """Where a webhook or beacon is kept: the shop's inbox, or the writer the app was
    given in `app.config["VENDRE_FEEDS_INBOX_WRITER"]` (`cfg -> InboxWriter`): a fleet's
    web tier hands each one to the shop's shard (`feeds.fleet.handoff`)."""
    factory = current_app.config.get("VENDRE_FEEDS_INBOX_WRITER")
    return factory(cfg) if factory is not None else Inbox.in_dir(cfg.data_dir)


def _body(limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` (read no further)."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    data = request.stream.read(limit + 1)
    return None if len(data) > limit else data


@bp.post("/hooks/vendre/<secret>")
def vendre_webhook(secret: str) -> Response:
    """One `new_order` / `updated_order` webhook, kept durably before the 2xx."""
    cfg = context().cfg
    if not cfg.purchases.enabled or not key_matches(secret, webhook_secret(cfg)):
        abort(404)
    body = _body(MAX_WEBHOOK_BYTES)
    reply = Reply(413, "the body is larger than 1 MB") if body is None else \
        receive_webhook(body, _writer(cfg), datetime.now(UTC))
    response = Response(reply.text + "\n", status=reply.status, mimetype="text/plain")
    response.headers.extend(reply.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _shop(cfg: Config) -> IntakeShop:
    origins = allowed_origins(cfg)
    return IntakeShop(allows_origin=lambda origin: origin_of(origin) in origins,
                      max_beacons=cfg.purchases.max_beacons)


@bp.route("/t/<site_key>/seen", methods=["POST", "OPTIONS"])
def beacon(site_key: str) -> Response:
    """The confirmation page's beacon: 204, or a bare 4xx; never any data."""
    cfg = context().cfg
    if not cfg.purchases.enabled or not key_matches(site_key, cfg.tracking.site_key):
        return _bare(404)
    shop = _shop(cfg)
    origin = request.headers.get("Origin", "")
    if request.method == "OPTIONS":  # a fetch() with application/json asks first
        if not origin or not shop.allows_origin(origin):
            return _bare(403)
        response = _bare(204, origin)
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = _PREFLIGHT_MAX_AGE
        return response
    body = _body(MAX_BEACON_BYTES)
    if body is None:
        return _bare(413)
    ip = client_ip(request.remote_addr or "", request.headers.get("X-Forwarded-For", ""),
                   cfg.server.trusted_proxies)
    reply = receive_beacon(shop, request.headers, body, ip, _writer(cfg),
                           datetime.now(UTC))
    return _bare(reply.status, origin if reply.status == 204 else "")


def _bare(status: int, origin: str = "") -> Response:
    """An answer without a body; CORS headers for an allowed origin."""
    response = Response(b"", status=status)
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response

