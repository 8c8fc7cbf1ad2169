"""Bounded HTTP: what every client of a remote API (the Vendre shop, the marketplaces) uses
so that no answer can hang a run, bloat it, or make it follow someone elsewhere.

- A request has a wall-clock deadline from connecting to its last byte. httpx's own
  timeouts apply per socket operation, so a peer that drips one byte just before each
  expires is never cut off; `DeadlineTransport` clamps every connect, TLS handshake,
  write and read to what is left of the calling thread's `Deadlines.at` instead.
- An answer is read as a stream under a size cap (`read_body`): a larger
  Content-Length is refused unread, and the body is dropped as soon as it passes the
  cap, so at most the cap plus one chunk is ever read or held. gzip (the transfer
  encoding, or a gzip file served as it is, as S3 does) is inflated in bounded steps:
  64 KiB of gzip can hold 64 MB.
- JSON nested too deeply to parse is an unreadable answer (`parse_json`), not a crash.
- Redirects are never followed (the clients build their httpx clients so); a URL with
  a user name or password in it is refused before anything is sent (`plain_url`).

Pure mechanism: the callers pass the error to raise (`error`), so each keeps its own
exception class and names its own settings in messages.
"""

from __future__ import annotations

import email.utils
import json
import math
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

__all__ = ["LOOPBACK", "MAX_RETRY_AFTER_S", "MIB", "DeadlineTransport", "Deadlines",
           "RoutingTransport", "env_proxy", "parse_json", "parse_retry_after", "plain_url",
           "read_body", "size_text"]

MIB = 1024 * 1024
# Plain http is allowed only here (the tests' fakes); anywhere else a credential would
# cross the network in clear text.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# A server asking us to wait longer than this is treated as asking for this long: a run
# should fail in minutes, not hang for hours on one header.
MAX_RETRY_AFTER_S = 120.0
_GZIP_MAGIC = b"\x1f\x8b"

Error = Callable[[str], Exception]


# ---------------------------------------------------------------- the deadline of one request


class Deadlines(threading.local):
    """Per thread: the `time.monotonic()` instant by which its current request must end.

    A sync httpx client does its I/O in the calling thread, which makes a thread-local
    the right place for "the current request". None: no deadline (httpx's timeouts only).
    """

    at: float | None = None

    def left(self, timeout: float | None, late: type[Exception]) -> float | None:
        """`timeout`, shortened to what is left; raises `late` when nothing is."""
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            raise late("the request's deadline passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the calling thread's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadlines: Deadlines) -> None:
        self._stream = stream
        self._deadlines = deadlines

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadlines.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadlines.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(ssl_context, server_hostname,
                                        self._deadlines.left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(stream, self._deadlines)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Opens connections that keep to the calling thread's deadline."""

    def __init__(self, backend: httpcore.NetworkBackend, deadlines: Deadlines) -> None:
        self._backend = backend
        self._deadlines = deadlines

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, self._deadlines.left(timeout, httpcore.ConnectTimeout), local_address,
            socket_options)
        return _DeadlineStream(stream, self._deadlines)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(
            path, self._deadlines.left(timeout, httpcore.ConnectTimeout), socket_options)
        return _DeadlineStream(stream, self._deadlines)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport, its connections opened by a `_DeadlineBackend`.

    httpx takes no network backend, so the one of its httpcore pool is wrapped in
    place. Should a later httpx or httpcore rename those attributes, this fails at
    once here rather than silently dropping the deadline.
    """

    def __init__(self, deadlines: Deadlines, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = getattr(self, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.NetworkBackend):
            raise RuntimeError("this httpx/httpcore version hides its network backend; the "
                               "request deadline (timeout_s) cannot be enforced")
        pool._network_backend = _DeadlineBackend(backend, deadlines)  # type: ignore[union-attr]


class RoutingTransport(httpx.BaseTransport):
    """A `DeadlineTransport` per proxy, chosen per request from the environment.

    For a client that talks to several hosts (Amazon: the token host, the API and the
    document store): httpx's own `trust_env` would mount transports of its own for
    proxies, ones without the deadline. Loopback never goes through a proxy.
    """

    def __init__(self, deadlines: Deadlines) -> None:
        self._deadlines = deadlines
        self._transports: dict[str | None, DeadlineTransport] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        proxy = env_proxy(url)
        with self._lock:
            transport = self._transports.get(proxy)
            if transport is None:
                transport = self._transports[proxy] = DeadlineTransport(
                    self._deadlines, trust_env=urlsplit(url).hostname not in LOOPBACK,
                    proxy=proxy)
        return transport.handle_request(request)

    def close(self) -> None:
        with self._lock:
            transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            transport.close()


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (http(s)_proxy, all_proxy, no_proxy).

    Read here rather than by httpx (`trust_env`), because httpx would mount a
    transport of its own for it, one without the request deadline.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in LOOPBACK or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


# ---------------------------------------------------------------- reading an answer


class _Inflater:
    """Inflates gzip chunk by chunk, never producing more than asked for."""

    def __init__(self, where: str, error: Error) -> None:
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._where, self._error = where, error

    def __call__(self, chunk: bytes, room: int) -> bytes:
        """`chunk` inflated: all of it, or `room` bytes when it holds more (room >= 1)."""
        try:
            return self._zlib.decompress(chunk, room)
        except zlib.error:
            raise self._error(f"{self._where}: the gzip-compressed answer is corrupt"
                              ) from None


def _content_inflater(encoding: str | None, where: str, error: Error,
                      quote: Callable[[str], str]) -> _Inflater | None:
    """The inflater of a Content-Encoding: None for identity. Only gzip is accepted (all
    our clients ask for): httpx's own decoders inflate a whole chunk at once."""
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return None
    if name in ("gzip", "x-gzip"):
        return _Inflater(where, error)
    raise error(f"{where}: the answer is encoded as {quote(name)}, which was not asked for "
                "(only gzip)")


def read_body(response: httpx.Response, *, cap: int, ends: float, where: str, setting: str,
              error: Error, quote: Callable[[str], str] = lambda text: text,
              gunzip: bool = False, truncate: bool = False) -> bytearray:
    """The whole (decoded) body, or `error` as soon as it is over `cap` bytes.

    Reads raw chunks (httpcore's, 64 KiB at most) and decodes them here, so at most the
    cap plus one chunk is ever read or held. The wall clock (`ends`, a monotonic instant)
    is checked between chunks too, for transports that are not ours.

    :param setting: the setting that sets the cap, named in the error.
    :param gunzip: also inflate a body that is itself a gzip file (it starts with the
        gzip magic), under the same cap: a processing report served by S3.
    :param truncate: return the first `cap` bytes instead of failing (error texts).
    """
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > cap and not truncate:
        raise error(f"{where}: the answer is {int(declared)} bytes, more than "
                    f"{size_text(cap)} ({setting}); not read")
    if response.is_stream_consumed:
        # A transport that hands over a body already read and decoded
        # (httpx.MockTransport): only the cap is left to check.
        chunks: Iterator[bytes] = iter([response.content])
        stages: list[_Inflater | None] = [None]
    else:
        chunks = response.iter_raw()
        stages = [_content_inflater(response.headers.get("Content-Encoding"), where, error,
                                    quote)]
    body = bytearray()
    started = False
    for chunk in chunks:
        if time.monotonic() >= ends:
            raise httpx.ReadTimeout("the request's deadline passed", request=response.request)
        for stage in stages:
            if stage is not None and chunk:
                chunk = stage(chunk, cap + 1 - len(body))
        if gunzip and not started and chunk:
            started = True
            if chunk[:2] == _GZIP_MAGIC:
                stages.append(_Inflater(where, error))
                chunk = stages[-1](chunk, cap + 1 - len(body))  # type: ignore[misc]
        body += chunk
        if len(body) > cap:
            if truncate:
                del body[cap:]
                return body
            raise error(f"{where}: the answer is larger than {size_text(cap)} ({setting}); "
                        "stopped reading it")
    return body


def parse_json(body: bytes | bytearray) -> tuple[Any, str]:
    """(the JSON value, "") or (None, what is wrong with it): not UTF-8 JSON, or nested too
    deeply to parse (200,000 nested arrays make the parser give up by recursion depth)."""
    try:
        return json.loads(body), ""
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError:  # also UnicodeDecodeError
        return None, "not JSON"


def size_text(limit: int) -> str:
    return f"{limit // MIB} MB" if limit % MIB == 0 else f"{limit} bytes"


# ---------------------------------------------------------------- URLs and headers


def plain_url(url: str) -> str:
    """`url` without a user name or password in it (to quote a URL in a message)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query,
                       parts.fragment))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date).

    Capped at `MAX_RETRY_AFTER_S`, never negative; None when absent or unreadable.
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
