"""The Flask app factory: routes, error pages, security headers and the access log.

This is the HTTP boundary of `feeds.errors`: every exception becomes a short
plain-text page (no stack trace ever reaches a client) and is logged with the
access key masked. The key is a URL secret, so the access log never writes the
path segment or query value that carries a key, whether it is right or wrong.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound, ServiceUnavailable

from feeds import errors
from feeds.config import Config, require
from feeds.log import add_secret, mask
from feeds.server import feeds_routes, status_page, tracking_routes
from feeds.server.context import SnippetHook, init_app

__all__ = ["KeyPathFilter", "create_app", "loggable"]

log = logging.getLogger("feeds.server")
access_log = logging.getLogger("feeds.server.access")

DEFAULT_CSP = ("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
               "form-action 'none'")
_KEY_IN_PATH = re.compile(r"(/(?:feeds|reports)/)[^/?#\s]*")
_KEY_IN_QUERY = re.compile(r"((?:^|[?&\s])key=)[^&#\s]*")


def create_app(config: Config, *, snippets: SnippetHook | None = None) -> Flask:
    """The feed server for `config`; ConfigError when `[server] access_key` is empty.

    Starts no threads: the schedule is run by `serve`/`worker`, not by the app,
    so several web workers never each run their own.
    """
    require(config.server.access_key, "server.access_key",
            "run `vendre-feeds init` to generate one, or set VENDRE_FEEDS_ACCESS_KEY")
    add_secret(*config.secrets())
    app = _FeedsFlask("feeds.server")
    init_app(app, config, snippets)
    _register_routes(app)
    _register_errors(app)
    app.before_request(_start_timer)
    app.after_request(_finish)
    _install_log_filter()
    return app


class _FeedsFlask(Flask):
    def log_exception(self, exc_info: Any) -> None:
        """Flask's own last-resort log line, with the key masked."""
        _log_error(exc_info[1])


def _register_routes(app: Flask) -> None:
    for blueprint in (feeds_routes.bp, status_page.bp, tracking_routes.bp):
        app.register_blueprint(blueprint)


# ---------------------------------------------------------------- errors


def _register_errors(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(errors.FeedsError, _feeds_error)
    app.register_error_handler(Exception, _unexpected)


def _http_error(exc: HTTPException) -> Response:
    """Werkzeug's status and headers (Allow on 405, Content-Range on 416), a plain body."""
    response = exc.get_response()
    response.set_data(f"{exc.code} {exc.name}\n")
    response.mimetype = "text/plain"
    return response


def _feeds_error(exc: errors.FeedsError) -> Response:
    if isinstance(exc, errors.NotFound):
        return _http_error(NotFound())
    _log_error(exc)
    if isinstance(exc, (errors.StoreError, errors.LockBusy)):
        return _http_error(ServiceUnavailable())
    return _http_error(InternalServerError())


def _unexpected(exc: Exception) -> Response:
    _log_error(exc)
    return _http_error(InternalServerError())


def _log_error(exc: BaseException | None) -> None:
    where = loggable(request.method, request.full_path) if has_request_context() else "-"
    trace = "".join(traceback.format_exception(exc)) if exc else ""
    log.error("error on %s\n%s", where, _scrub(trace).rstrip())


# ---------------------------------------------------------------- headers and access log


def _start_timer() -> None:
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    _security_headers(response)
    took = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    access_log.info("%s %s %d %s %.1fms", request.remote_addr or "-",
                    loggable(request.method, request.full_path), response.status_code,
                    response.content_length if response.content_length is not None else "-",
                    took)
    return response


def _security_headers(response: Response) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # Secret URLs must not end up in search engines even if a link leaks.
    headers.setdefault("X-Robots-Tag", "noindex, nofollow")


def loggable(method: str, path: str) -> str:
    """`METHOD path` fit for a log: key segments and `key=` values replaced by ***."""
    return f"{method} {_scrub(path.rstrip('?'))}"


def _scrub(text: str) -> str:
    text = _KEY_IN_QUERY.sub(r"\1***", _KEY_IN_PATH.sub(r"\1***", text))
    return mask(text)


class KeyPathFilter(logging.Filter):
    """Masks key path segments, `key=` values and registered secrets in a record.

    Installed on the `waitress` logger, which writes request paths ("Client
    disconnected while serving /feeds/<key>/...") that no handler of ours formats.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = _scrub(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = _scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _install_log_filter() -> None:
    for name in ("waitress", "feeds.server.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, KeyPathFilter) for f in logger.filters):
            logger.addFilter(KeyPathFilter())
