"""A real S3 API on loopback: moto's server (moto[server]) behind a thin WSGI layer that
counts every request and misbehaves on purpose when told to.

`S3Fake().start()` serves moto's S3 on a free port of 127.0.0.1; `endpoint_url` is
what `[publish] endpoint_url` takes. `requests` lists every request as
(method, path, query) in arrival order, and `received` adds up their bodies'
bytes. `faults` are checked in order on every request; the first that matches
answers instead of moto:

- `Fault(status=503, times=2)`: an S3 error document with that status (500/503 are
  retried by the client, 403 AccessDenied is not);
- `Fault(delay_s=3)`: wait that long, then let moto answer (a slow storage);
- `Fault(drop=True)`: close the connection without an answer.

No pytest here: the benchmark uses it too. moto keeps its buckets in this process;
`start()` resets them, so each fake begins empty.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
from werkzeug.serving import WSGIRequestHandler

from tests.fakes.loopback import LoopbackFake

__all__ = ["Fault", "S3Fake"]


@dataclass
class Fault:
    """What to do instead of answering: an error status, a delay or a dropped connection.

    :param method: the HTTP method it applies to ("" = any).
    :param key_contains: a text the request's path must contain ("" = any).
    :param times: how many requests it spoils (None = all of them).
    """

    method: str = "PUT"
    key_contains: str = ""
    status: int = 0
    delay_s: float = 0.0
    drop: bool = False
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (not self.method or method == self.method) and self.key_contains in path


_CODES = {403: "AccessDenied", 500: "InternalError", 503: "SlowDown", 400: "BadRequest"}


class _Dropped(Exception):
    """Raised in the WSGI app so the handler closes the connection without an answer."""


class _Handler(WSGIRequestHandler):
    """Quiet, and closes the connection for a dropped request."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
        except _Dropped:
            self.close_connection = True

    def log_error(self, *args: Any) -> None:
        pass


class S3Fake(LoopbackFake):
    """moto's S3 on 127.0.0.1 with request counts and injected faults."""

    thread_name = "fake-s3"
    handler = _Handler

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self._moto = DomainDispatcherApplication(create_backend_app)
        self.requests: list[tuple[str, str, str]] = []
        self.received = 0  # request body bytes, as their Content-Length said
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._inflight = 0
        self._client: Any = None
        self._init_server()

    def start(self) -> S3Fake:
        super().start()
        self.reset()
        return self

    def reset(self) -> None:
        """No buckets, no faults, no requests counted. Waits for requests still being
        answered (a delayed PUT whose client gave up would land after the reset)."""
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=30)
        httpx.post(f"{self.base_url}/moto-api/reset", timeout=10).raise_for_status()
        self.clear()

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server (path-style, as `make_client` makes it); the
        same one each time without `config` (making one takes a good part of a second)."""
        import boto3
        from botocore.config import Config

        if not config and self._client is not None:
            return self._client
        client = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name="eu-north-1",
            config=Config(s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required", **config))
        if not config:
            self._client = client
        return client

    @property
    def endpoint_url(self) -> str:
        return self.base_url

    def _wsgi(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._idle:
            self._inflight += 1
        try:
            return self._answer(environ, start_response)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def _answer(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], unquote(environ.get("PATH_INFO", ""))
        length = environ.get("CONTENT_LENGTH") or "0"
        with self._lock:
            self.requests.append((method, path, environ.get("QUERY_STRING", "")))
            self.received += int(length) if length.isdigit() else 0
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault is not None:
                fault.hits += 1
        if fault is not None:
            if fault.delay_s:
                self._stopping.wait(fault.delay_s)
            if fault.drop:
                raise _Dropped()
            if fault.status:
                _drain(environ)
                return _error(start_response, fault.status)
        return self._moto(environ, start_response)

    # -- what the tests read

    def puts(self, key_contains: str = "") -> list[str]:
        """The paths of the PUT requests so far (each attempt counts)."""
        return [p for m, p, _ in self.requests if m == "PUT" and key_contains in p]

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _, _ in self.requests if method is None or m == method)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.received = 0

    def wait_quiet(self, seconds: float = 0.2) -> None:
        """Let the client's last connection close (tests that count requests)."""
        time.sleep(seconds)


def _drain(environ: dict) -> None:
    """Read the request body, so the client sees our answer, not a reset."""
    stream, length = environ.get("wsgi.input"), environ.get("CONTENT_LENGTH") or "0"
    if stream is None:
        return
    remaining = int(length) if length.isdigit() else 0
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 16))
        if not chunk:
            break
        remaining -= len(chunk)


def _error(start_response: Callable[..., Any], status: int) -> list[bytes]:
    code = _CODES.get(status, "InternalError")
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>injected by the test ({status})</Message></Error>").encode()
    start_response(f"{status} {code}", [("Content-Type", "application/xml"),
                                        ("Content-Length", str(len(body)))])
    return [body]
