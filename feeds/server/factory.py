"""The Flask app factory: routes, error pages, security headers and the access log.

This is the HTTP boundary of `feeds.errors`: every exception becomes a short
plain-text page (no stack trace ever reaches a client) and is logged with the
access key masked. The key is a URL secret, so the access log never writes the
path segment or query value that carries a key, whether it is right or wrong.

A request is the client's text, so what is logged from one cannot forge a log
line or drive a terminal: control characters are written as escapes (`\\n`,
`\\x1b`), and a record's further lines (a traceback) are indented, so only a
record's own first line starts at column 0 (`printable`, `KeyPathFilter`).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound, ServiceUnavailable

from feeds import errors
from feeds.config import Config, require
from feeds.log import add_secret, mask
from feeds.server import feeds_routes, purchase_routes, status_page, tracking_routes
from feeds.server.context import SnippetHook, init_app

__all__ = ["KeyPathFilter", "create_app", "loggable", "printable", "require_access_key"]

log = logging.getLogger("feeds.server")
access_log = logging.getLogger("feeds.server.access")

DEFAULT_CSP = ("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
               "form-action 'none'")
_KEY_IN_PATH = re.compile(r"(/(?:feeds|reports|hooks/vendre)/)[^/?#\s]*")
_KEY_IN_QUERY = re.compile(r"((?:^|[?&\s])key=)[^&#\s]*")
# C0 and C1 controls and DEL (newline, carriage return, ESC and CSI among them), the
# Unicode line and paragraph separators, and the bidi overrides and isolates: whatever
# could end a log line, move a terminal's cursor or reorder the text a reader sees.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTINUATION = "  "  # the indent of a record's further lines


def create_app(config: Config, *, snippets: SnippetHook | None = None) -> Flask:
    """The feed server for `config`; ConfigError when `[server] access_key` is empty.

    Starts no threads: the schedule is run by `serve`/`worker`, not by the app,
    so several web workers never each run their own.
    """
    require_access_key(config)
    add_secret(*config.secrets(), purchase_routes.webhook_secret(config))
    app = _FeedsFlask("feeds.server")
    init_app(app, config, snippets)
    _register_routes(app)
    _register_errors(app)
    app.before_request(_start_timer)
    app.after_request(_finish)
    _install_log_filter()
    return app


def require_access_key(config: Config) -> str:
    """`[server] access_key`, the secret in every feed URL; ConfigError when it is empty."""
    return require(config.server.access_key, "server.access_key",
                   "run `vendre-feeds init` to generate one, or set VENDRE_FEEDS_ACCESS_KEY")


class _FeedsFlask(Flask):
    def log_exception(self, exc_info: Any) -> None:
        """Flask's own last-resort log line, with the key masked."""
        _log_error(exc_info[1])


def _register_routes(app: Flask) -> None:
    for blueprint in (feeds_routes.bp, status_page.bp, tracking_routes.bp, purchase_routes.bp):
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
    """`error on METHOD path` and the traceback (masked and escaped by KeyPathFilter)."""
    where = loggable(request.method, request.full_path) if has_request_context() else "-"
    log.error("error on %s", where, exc_info=exc)


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
    """`METHOD path` fit for a log: key segments and `key=` values replaced by ***,
    on one line, control characters escaped."""
    return printable(f"{method} {_scrub(path.rstrip('?'))}")


def printable(text: str) -> str:
    """`text` on one line: every control character written as an escape, newline as
    `\\n`, carriage return `\\r`, tab `\\t`, others `\\xHH` (ESC is `\\x1b`) or `\\uHHHH`."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _continuation(text: str) -> str:
    """Further lines of a record (a traceback): each escaped and indented, so that none
    can pass for a record of its own, whatever an exception's message holds."""
    return "\n".join(_CONTINUATION + printable(line) for line in text.rstrip("\n").split("\n"))


def _scrub(text: str) -> str:
    text = _KEY_IN_QUERY.sub(r"\1***", _KEY_IN_PATH.sub(r"\1***", text))
    return mask(text)


class KeyPathFilter(logging.Filter):
    """Masks key path segments, `key=` values and registered secrets in a record, and
    makes its message one line (`printable`) and its traceback indented lines.

    Installed on the loggers that write what a request brought: ours (`feeds.server`,
    also Flask's `app.logger`, and the access log) and `waitress`, which writes
    request paths ("Client disconnected while serving /feeds/<key>/...") itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = printable(_scrub(message)), None
        if record.exc_info and record.exc_info[1] is not None:
            trace = logging.Formatter().formatException(record.exc_info)
            record.exc_text = _continuation(_scrub(trace))
            record.exc_info = None
        return True


def _install_log_filter() -> None:
    for name in ("waitress", "feeds.server", "feeds.server.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, KeyPathFilter) for f in logger.filters):
            logger.addFilter(KeyPathFilter())
