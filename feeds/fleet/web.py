"""The multi-tenant web tier (`fleet serve`): every shop's pages under its own keys.

A request names its shop by a key in its path, and the web tier hands it to that
shop's app, the very app `vendre-feeds serve` runs for a single shop
(`feeds.server.create_app`), so each page behaves exactly as it does there:

    /feeds/<access key>/<file>     the feed, or a redirect to object storage (below)
    /reports/<access key>/<file>   its report
    /?key=<access key>             the live status page
    /t/<site key>/...              the tracking loader, its index, the purchase beacon
    /hooks/vendre/<secret>         Vendre's order webhook (matched by its secret)
    /health                        the tier itself: JSON, 200 unless the shops folder
                                   cannot be read

A key no shop has is answered as a single shop answers a wrong key (404, or the status
page's key form with 403). The shops come from the shops folder, reloaded when it
changes (`feeds.fleet.shops`); the tier keeps no shop state of its own: the pages read
each shop's data dir (`<state_root>/<name>/`, mounted read-only is enough), webhooks
and beacons go to the shop's shard as Celery tasks (`feeds.fleet.handoff`), and when a
shop publishes to object storage with a `public_url`, its feed URLs redirect there.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Response

from feeds.fleet import purchases
from feeds.fleet.handoff import Send, ShardHandoff
from feeds.fleet.shops import KeyKind, Shop, ShopsFolder, Snapshot, Stamp

__all__ = ["FleetWeb", "route_key"]

log = logging.getLogger("feeds.fleet.web")

_ROUTES = (
    (re.compile(r"^/feeds/([^/]+)/([^/]+)$"), KeyKind.ACCESS),
    (re.compile(r"^/reports/([^/]+)/"), KeyKind.ACCESS),
    (re.compile(r"^/t/([^/]+)/"), KeyKind.SITE),
    (re.compile(r"^/hooks/vendre/([^/]+)$"), KeyKind.WEBHOOK),
)
_BROKER_CHECK_S = 2.0
_SECURITY_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                     "X-Content-Type-Options": "nosniff", "X-Robots-Tag": "noindex, nofollow"}


def route_key(path: str, query: str) -> tuple[str, str] | None:
    """(key kind, key) of a request's path and query string, or None when it names no shop."""
    for pattern, kind in _ROUTES:
        match = pattern.match(path)
        if match:
            return kind, match.group(1)
    if path == "/":
        key = parse_qs(query).get("key", [""])[0]
        return (KeyKind.ACCESS, key) if key else None
    return None


class FleetWeb:
    """The WSGI app of `fleet serve`.

    :param send: the fleet's `Celery.send_task` (webhooks and beacons go through it).
    :param broker_ok: whether Redis answers (for /health).
    """

    def __init__(self, folder: ShopsFolder, *, send: Send,
                 broker_ok: Callable[[], bool]) -> None:
        self.folder = folder
        self._send = send
        self._broker_ok = broker_ok
        self._broker: tuple[float, bool] | None = None
        self._apps: dict[str, tuple[Stamp, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path == "/health":
            return self._health()(environ, start_response)
        snapshot = self.folder.current()
        found = route_key(path, environ.get("QUERY_STRING", ""))
        shop = snapshot.find(*found) if found else None
        if shop is None:
            return self._unknown(snapshot)(environ, start_response)
        redirect = self._redirect(shop, path, environ.get("REQUEST_METHOD", "GET"))
        if redirect is not None:
            return redirect(environ, start_response)
        return self._app(shop)(environ, start_response)

    # ------------------------------------------------------------ shops' apps

    def _app(self, shop: Shop) -> Any:
        """The shop's own app, made once per version of its file."""
        with self._lock:
            cached = self._apps.get(shop.name)
            if cached is not None and cached[0] == shop.stamp:
                return cached[1]
        from feeds.server import create_app

        app = create_app(shop.cfg)
        name, shard, send = shop.name, shop.shard, self._send
        app.config[purchases.INBOX_WRITER] = lambda cfg: ShardHandoff(send, name, shard)
        with self._lock:
            self._apps[shop.name] = (shop.stamp, app)
        return app

    def _unknown(self, snapshot: Snapshot) -> Any:
        """What answers a key no shop has: any shop's app, which answers it as a wrong key
        (it shows nothing of that shop); a bare 404 while there is no shop."""
        for name in sorted(snapshot.shops):
            return self._app(snapshot.shops[name])
        return _text(404, "404 Not Found\n")

    @staticmethod
    def _redirect(shop: Shop, path: str, method: str) -> Response | None:
        """A feed URL of a shop that publishes to object storage with a public URL: a
        redirect there (the same path under the CDN's base)."""
        public = shop.cfg.publish.public_url
        if not public or not path.startswith("/feeds/") or method not in ("GET", "HEAD"):
            return None
        response = Response(b"", status=302, headers=_SECURITY_HEADERS)
        response.headers["Location"] = public.rstrip("/") + path
        return response

    # ------------------------------------------------------------ /health

    def _health(self) -> Response:
        snapshot = self.folder.current()
        broker = self._broker_state()
        loaded = bool(snapshot.shops) or not snapshot.refused
        status = "ok" if loaded and broker and not snapshot.errors else "degraded"
        body = {"status": status if loaded else "error", "shops": len(snapshot.shops),
                "shops_with_errors": len(snapshot.errors),
                "shops_folder": "refused" if snapshot.refused else "ok",
                "broker": "ok" if broker else "unreachable"}
        return _text(200 if loaded else 503, json.dumps(body, indent=1) + "\n",
                     "application/json")

    def _broker_state(self) -> bool:
        """Whether Redis answered, asked at most every couple of seconds."""
        now = time.monotonic()
        if self._broker is None or now - self._broker[0] > _BROKER_CHECK_S:
            try:
                ok = bool(self._broker_ok())
            except Exception:  # any failure to reach it is "unreachable"
                ok = False
            self._broker = (now, ok)
        return self._broker[1]


def _text(status: int, body: str, mimetype: str = "text/plain") -> Response:
    response = Response(body, status=status, mimetype=mimetype, headers=_SECURITY_HEADERS)
    return response
