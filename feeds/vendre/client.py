"""The reader of a Vendre shop's admin API, `/API/1`.

`VendreClient.iter_pages(resource)` yields a resource's items page by page, in
offset order:

- Every request is `GET {api_url}/{resource}?page_size=N&offset=K` with the raw
  key in the `X-Authorization` header; every answer is the envelope
  `{"list": [...], "remaining": R}`, where R counts the items after that page.
- The first page (offset 0) fixes the total (`len(list) + remaining`) and the step
  between offsets (its actual length: the shop may answer with fewer than
  `page_size` items, and its maximum page size is unknown).
- The other pages are fetched by up to `concurrency` threads in a sliding window
  and yielded strictly in offset order, so a sync is deterministic.
- Items are de-duplicated by `key(item)`. After the last page, the number of
  distinct items must equal the total the first page promised, else
  `IncompleteSync`. That check runs after the last page was yielded: callers must
  treat the pages as provisional until the iterator ends without an exception.

Timeouts, connection errors, 429 and 5xx are retried (tenacity, exponential
backoff with jitter, `Retry-After` honoured). Every failure is a
`feeds.errors.VendreError`. The API key travels only in the header: it is never
in a URL, an exception message, a log line or a repr; text the shop sends back
(a reason phrase, a `Location`) is scrubbed of it before it enters a message,
in case the shop echoes the header.

A shop is not trusted to be honest or quick:

- `timeout_s` bounds one request from connect to last byte. The client's own
  transport clamps every socket operation to what is left of that deadline, so
  neither headers nor a body dripped a byte at a time can hold a request longer
  (httpx's own timeouts apply per read). A late request is a failed, retried one.
- `deadline` (a `time.monotonic()` instant, the whole sync's) ends every request
  and backoff wait when it passes; the pages then fail with `VendreUnavailable`.
- A first page promising more than `max_items` items fails before paging, and
  an empty page before the promised total fails at once (`VendreResponseError`).
- One response may hold at most `max_response_bytes` (decoded): a larger
  Content-Length is refused unread, and the body is read as a stream and
  dropped as soon as it passes the cap (so at most the cap plus one chunk is
  read; gzip is inflated in bounded steps for the same reason).
- JSON nested too deeply to parse is an unreadable page, like any other body
  that is not the envelope.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from feeds.errors import (
    ConfigError,
    IncompleteSync,
    VendreAuthError,
    VendreError,
    VendreResponseError,
    VendreUnavailable,
)
from feeds.net import (
    LOOPBACK,
    MAX_RETRY_AFTER_S,
    MIB,
    Deadlines,
    DeadlineTransport,
    env_proxy,
    parse_json,
    parse_retry_after,
    read_body,
)

__all__ = ["MAX_RETRY_AFTER_S", "PageInfo", "VendreClient", "default_key", "parse_retry_after"]

log = logging.getLogger("feeds.vendre")

_BACKOFF = tenacity.wait_exponential_jitter(initial=1.0, max=60.0, exp_base=2.0, jitter=1.0)
# Failures of the network rather than of the request: worth another try.
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_RESOURCE = re.compile(r"[a-z0-9_]+(/[a-z0-9_]+)*")
# Printable ASCII without spaces: anything else would be rejected by the HTTP
# library with an error that quotes the header value, i.e. the key.
_KEY = re.compile(r"[\x21-\x7e]+")
# What a message may quote of text the shop sent (a reason phrase, a Location):
# no control characters (a forged line, a terminal escape), and not much of it.
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_QUOTE_MAX = 200
# The loggers of httpx and httpcore: at debug level they print reason phrases and
# response headers, which a hostile shop can make echo the key.
_HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2",
                 "httpcore.proxy", "httpcore.socks")


def default_key(item: dict) -> object:
    """The identity of an item for de-duplication: its `id` (None = never a duplicate)."""
    return item.get("id")


@dataclass(frozen=True)
class PageInfo:
    """Progress, passed to `on_page` after each page was yielded.

    `offset` is the page's offset, `items` the number of items yielded from it
    (after de-duplication, so the `items` of all pages add up to `total` when the
    sync is complete), `total` the count the first page promised.
    """

    resource: str
    offset: int
    items: int
    total: int


@dataclass(frozen=True)
class _Page:
    offset: int
    items: list[dict]
    remaining: int


class _KeyFilter(logging.Filter):
    """Masks one key in log records (set on the loggers of httpx and httpcore).

    A logger's filters act before every handler, ours (which mask secrets anyway,
    `feeds.log`) and any other. They run only for records that pass the level.
    """

    def __init__(self, key: str) -> None:
        super().__init__()
        self._key = key

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._key in message:
            record.msg, record.args = message.replace(self._key, "***"), None
        return True


class _Transient(Exception):
    """A failure worth retrying; becomes the public error after the last try."""

    def __init__(self, reason: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class _Distinct:
    """Counts distinct items by key; an item whose key is None is always new."""

    def __init__(self, key: Callable[[dict], object]) -> None:
        self._key = key
        self._seen: set[object] = set()
        self._unkeyed = 0

    def fresh(self, items: Iterable[dict]) -> list[dict]:
        """The items not seen before, in their order; remembers them."""
        out = []
        for item in items:
            k = _hashable_or_none(self._key(item))
            if k is None:
                self._unkeyed += 1
            elif k in self._seen:
                continue
            else:
                self._seen.add(k)
            out.append(item)
        return out

    @property
    def count(self) -> int:
        return len(self._seen) + self._unkeyed


def _hashable_or_none(key: object) -> object:
    """`key`, or None when it cannot be a set member (a shop sent `"id": [1]`)."""
    try:
        hash(key)
    except TypeError:
        return None
    return key


class VendreClient:
    """Reads paged resources (`products`, `categories`, `orders`, ...) of one shop.

    :param api_url: e.g. `https://shop.se/API/1`; must be https (plain http only
        for 127.0.0.1/localhost), else `ConfigError`.
    :param api_key: sent raw in `X-Authorization`, nowhere else.
    :param page_size: items asked for per page; the shop may answer with fewer.
    :param concurrency: pages in flight at once after the first (1 = sequential).
    :param timeout_s: the deadline of one request, connect to last byte (seconds).
    :param retries: extra tries of one request after a timeout, connection error,
        429 or 5xx (0 = one try only).
    :param max_items: the most items one resource may have; a first page that
        promises more fails before paging (`vendre.max_products`).
    :param max_response_bytes: the most (decoded) bytes one answer may hold.
    :param deadline: a `time.monotonic()` instant after which no request runs and
        no backoff waits (the whole sync's deadline); None = none.
    :param transport: an httpx transport (tests use `httpx.MockTransport`); the
        request deadline is then checked between body chunks only.
    :param sleep: how backoff waits; tests inject a recorder.
    :param on_page: called with a `PageInfo` after each page was yielded.

    Thread-safe: one instance may read several resources at once. Close it (or use
    it as a context manager) to release the connections.
    """

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        page_size: int = 250,
        concurrency: int = 4,
        timeout_s: float = 30.0,
        retries: int = 5,
        max_items: int = 5_000_000,
        max_response_bytes: int = 64 * MIB,
        deadline: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_page: Callable[[PageInfo], None] | None = None,
    ) -> None:
        self.api_url = _checked_api_url(api_url)
        _check_key(api_key)
        _check_number("vendre.page_size", page_size, minimum=1)
        _check_number("vendre.concurrency", concurrency, minimum=1)
        _check_number("vendre.retries", retries, minimum=0)
        _check_number("vendre.max_products", max_items, minimum=1)
        _check_number("vendre.max_response_mb", max_response_bytes, minimum=1)
        if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s < math.inf):
            raise ConfigError(f"vendre.timeout_s: must be a finite number greater than 0, got "
                              f"{timeout_s!r}")
        self.page_size = page_size
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_items = max_items
        self.max_response_bytes = max_response_bytes
        self._deadline = deadline
        self._sleep = sleep
        self._on_page = on_page
        self._deadlines = Deadlines()
        loopback = urlsplit(self.api_url).hostname in LOOPBACK
        if transport is None:
            # Proxy variables must not divert the tests' loopback traffic.
            transport = DeadlineTransport(self._deadlines, trust_env=not loopback,
                                          proxy=None if loopback else env_proxy(self.api_url))
        self._http = httpx.Client(
            # gzip only: the body is inflated here, in bounded steps (feeds.net.read_body).
            headers={"X-Authorization": api_key, "Accept": "application/json",
                     "Accept-Encoding": "gzip"},
            timeout=timeout_s,
            # A redirect is an error: following one to another host would hand
            # that host the key header.
            follow_redirects=False,
            transport=transport,
            # The environment's proxy is the transport's (above); nothing else
            # of the environment (.netrc) applies.
            trust_env=False,
        )
        # Before any request: the HTTP libraries log reason phrases and headers at
        # debug level, and a hostile shop can make those echo the key.
        self._log_filter = _KeyFilter(api_key)
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)

    def __repr__(self) -> str:
        return (f"VendreClient(api_url={self.api_url!r}, page_size={self.page_size}, "
                f"concurrency={self.concurrency})")

    def __enter__(self) -> VendreClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP connections; the client cannot be used afterwards."""
        self._http.close()
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).removeFilter(self._log_filter)

    # ------------------------------------------------------------ paging

    def iter_pages(self, resource: str, *,
                   key: Callable[[dict], object] = default_key) -> Iterator[list[dict]]:
        """Yield the items of `resource` page by page, in offset order, without duplicates.

        Every fetched page is yielded (possibly empty once duplicates are removed);
        an empty resource yields one empty page. `key` must return a hashable
        value, or None for items that cannot be de-duplicated (kept and counted).

        :raises VendreAuthError: 401/403, at once.
        :raises VendreResponseError: another error status (`.status` set; 404 for a
            missing resource), a retried 429/5xx after the last try, a body that is
            not the envelope or too large (`.status` None), a first page promising
            more than `max_items`, or an empty page before the promised total.
        :raises VendreUnavailable: timeouts or connection errors after the last try,
            or any request once `deadline` has passed.
        :raises IncompleteSync: after the last page, when the distinct items read
            differ from the total the first page promised.
        """
        resource = _checked_resource(resource)
        try:
            yield from self._pages(resource, key)
        except VendreError as exc:
            # The one place every failure passes: whatever text of the shop's a
            # message quotes, the key is gone before anyone can store or print it.
            exc.args = tuple(self._scrub(a) if isinstance(a, str) else a for a in exc.args)
            raise

    def _pages(self, resource: str, key: Callable[[dict], object]) -> Iterator[list[dict]]:
        first = self._fetch(resource, 0, threading.Event())
        total = len(first.items) + first.remaining
        if total > self.max_items:
            raise VendreResponseError(
                f"{resource}: the first page promises {total} items, more than "
                f"vendre.max_products = {self.max_items}; not paging through them")
        if not first.items and first.remaining:
            raise VendreResponseError(
                f"{self._where(resource, 0)}: the first page is empty but says "
                f"{first.remaining} more items follow")
        # The step is what the shop actually served, not what we asked for: a shop
        # that clamps page_size would otherwise make us skip items.
        offsets = range(len(first.items), total, max(len(first.items), 1))
        distinct = _Distinct(key)
        rest = self._fetch_in_order(resource, offsets)
        try:
            for page in itertools.chain([first], rest):
                if not page.items and page is not first:
                    # Every offset asked for is below the promised total. Paging on
                    # would make as many requests as the lie is large.
                    raise VendreResponseError(
                        f"{resource}: page at offset {page.offset} is empty although the "
                        f"first page promised {total} items")
                items = distinct.fresh(page.items)
                yield items
                if self._on_page is not None:
                    self._on_page(PageInfo(resource, page.offset, len(items), total))
        finally:
            rest.close()  # on an error or an early `break` too: stops the worker threads now
        log.debug("%s: %d distinct items of %d promised", resource, distinct.count, total)
        if distinct.count != total:
            raise IncompleteSync(
                f"{resource}: read {distinct.count} of {total} promised items; the catalogue "
                "may have changed during the sync, run it again")

    def _fetch_in_order(self, resource: str, offsets: range) -> Iterator[_Page]:
        """The pages at `offsets`, fetched `concurrency` at a time, yielded in order.

        A sliding window: the next page is submitted only when the oldest was
        taken, so at most `concurrency` pages are in flight or waiting however
        large the resource (memory stays flat).
        """
        if not offsets:
            return
        pending = iter(offsets)
        window: deque[Future[_Page]] = deque()
        abandon = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.concurrency,
                                  thread_name_prefix="vendre-page")
        try:
            for offset in itertools.islice(pending, self.concurrency):
                window.append(pool.submit(self._fetch, resource, offset, abandon))
            while window:
                page = window.popleft().result()
                for offset in itertools.islice(pending, 1):
                    window.append(pool.submit(self._fetch, resource, offset, abandon))
                yield page
        finally:
            # On an error or an early `break`, stop the other pages' retries and
            # wait only for requests already on the wire (at most timeout_s).
            abandon.set()
            pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ one page

    def _fetch(self, resource: str, offset: int, abandon: threading.Event) -> _Page:
        """One page, retried by the tenacity policy; raises the public errors."""
        where = self._where(resource, offset)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(
                lambda exc: isinstance(exc, _Transient) and not abandon.is_set()),
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=_wait,
            sleep=functools.partial(self._pause, abandon),
            before_sleep=functools.partial(_log_retry, where),
            reraise=True,
        )

        def attempt() -> _Page:
            if self._past_deadline():  # not retried: no later try can be in time
                raise self._too_late(where)
            if abandon.is_set():  # woken from a backoff wait because the sync was abandoned
                raise _Transient("abandoned")
            return self._get_page(resource, offset)

        try:
            return retrying(attempt)
        except _Transient as exc:
            raise self._gave_up(where, exc) from exc

    def _get_page(self, resource: str, offset: int) -> _Page:
        """One try at one page: streamed, within the request's deadline and size cap."""
        url = f"{self.api_url}/{resource}"
        where = self._where(resource, offset)
        ends = time.monotonic() + self.timeout_s
        if self._deadline is not None:
            ends = min(ends, self._deadline)
        self._deadlines.at = ends  # every socket operation of this thread keeps to it
        try:
            with self._http.stream("GET", url, params={"page_size": self.page_size,
                                                       "offset": offset}) as response:
                log.debug("GET %s -> HTTP %d", where, response.status_code)
                self._check_status(response, url, where)
                body = self._read_body(response, where, ends)
        except _TRANSIENT_ERRORS as exc:
            log.debug("GET %s -> %s", where, type(exc).__name__)
            exc.args = tuple(self._scrub(str(a)) for a in exc.args)  # it is chained below
            if self._past_deadline():
                raise self._too_late(where) from None
            if time.monotonic() >= ends:
                raise _Transient(f"{type(exc).__name__}: no complete answer within "
                                 f"{self.timeout_s:g} s (vendre.timeout_s)") from exc
            raise _Transient(self._scrub(_describe(exc))) from exc
        except httpx.HTTPError as exc:
            # Not a network hiccup (e.g. a malformed request): retrying cannot help.
            raise VendreUnavailable(f"{where}: {type(exc).__name__}") from None
        finally:
            self._deadlines.at = None
        return _parse_page(body, where, offset)

    def _read_body(self, response: httpx.Response, where: str, ends: float) -> bytearray:
        """The whole body, or `VendreResponseError` as soon as it is over the cap."""
        return read_body(response, cap=self.max_response_bytes, ends=ends, where=where,
                         setting="vendre.max_response_mb", error=VendreResponseError,
                         quote=self._quote)

    def _check_status(self, response: httpx.Response, url: str, where: str) -> None:
        status = response.status_code
        if status in (401, 403):
            raise VendreAuthError(f"the API key was refused (HTTP {status}) by {url}")
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status}", status,
                             parse_retry_after(response.headers.get("Retry-After")))
        if 300 <= status < 400:
            location = self._quote(response.headers.get("Location", "?"))
            raise VendreResponseError(
                f"{where}: the shop answered HTTP {status}, a redirect to {location}; "
                "redirects are not followed (they could carry the key elsewhere), set "
                "vendre.api_url to the final https URL", status=status)
        if not response.is_success:
            raise VendreResponseError(
                f"{where}: the shop answered HTTP {status} "
                f"{self._quote(response.reason_phrase)}".rstrip(), status=status)

    def _gave_up(self, where: str, exc: _Transient) -> VendreResponseError | VendreUnavailable:
        tries = self.retries + 1
        if exc.status is None:
            return VendreUnavailable(f"{where}: {exc.reason} (gave up after {tries} tries)")
        return VendreResponseError(f"{where}: the shop answered {exc.reason} "
                                   f"(gave up after {tries} tries)", status=exc.status)

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    @staticmethod
    def _too_late(where: str) -> VendreUnavailable:
        return VendreUnavailable(f"{where}: stopped, the sync's deadline passed "
                                 "(vendre.sync_deadline_minutes)")

    def _pause(self, abandon: threading.Event, seconds: float) -> None:
        if self._deadline is not None:  # the try after the wait would be too late anyway
            seconds = min(seconds, max(0.0, self._deadline - time.monotonic()))
        if self._sleep is time.sleep:
            # Same wait, but an abandoned sync stops waiting at once.
            abandon.wait(seconds)
        else:
            self._sleep(seconds)

    def _where(self, resource: str, offset: int) -> str:
        """The page's URL as messages show it: no page_size, and never the key."""
        return f"{self.api_url}/{resource}?offset={offset}"

    def _scrub(self, text: str) -> str:
        """`text` from elsewhere (an exception, a header) with the key masked, to be sure."""
        # The key is kept only in the client's headers, not in an attribute of its own.
        return text.replace(self._http.headers["X-Authorization"], "***")

    def _quote(self, text: str) -> str:
        """Text the shop sent, fit for a one-line message: no key, no control characters."""
        return _UNPRINTABLE.sub("?", self._scrub(text))[:_QUOTE_MAX]


# ---------------------------------------------------------------- helpers


def _wait(state: tenacity.RetryCallState) -> float:
    """Tenacity wait: the shop's Retry-After when it sent one, else backoff + jitter."""
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, _Transient) and exc.retry_after is not None:
        return exc.retry_after
    return _BACKOFF(state)


def _log_retry(where: str, state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    delay = state.next_action.sleep if state.next_action is not None else 0.0
    log.info("GET %s failed (%s, try %d); retrying in %.1f s",
             where, getattr(exc, "reason", type(exc).__name__), state.attempt_number, delay)


def _parse_page(body: bytearray, where: str, offset: int) -> _Page:
    parsed, problem = parse_json(body)
    problem = problem or _envelope_problem(parsed)
    if problem:
        raise VendreResponseError(
            f"{where}: the answer is not the {{list, remaining}} JSON envelope ({problem})")
    return _Page(offset, parsed["list"], parsed["remaining"])


def _envelope_problem(body: Any) -> str:
    """What is wrong with `body` as a `{list, remaining}` envelope; "" when nothing."""
    if not isinstance(body, dict):
        return f"a JSON {type(body).__name__}, not an object"
    items, remaining = body.get("list"), body.get("remaining")
    if not isinstance(items, list):
        return '"list" is missing or not an array'
    if not isinstance(remaining, int) or isinstance(remaining, bool) or remaining < 0:
        return '"remaining" is missing or not a non-negative integer'
    if not all(isinstance(item, dict) for item in items):
        return '"list" holds something that is not an object'
    return ""


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {text[0]}" if text else name


def _checked_api_url(api_url: str) -> str:
    url = (api_url or "").strip()
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or not (parts.scheme == "https"
                        or (parts.scheme == "http" and host in LOOPBACK)):
        raise ConfigError("vendre.api_url: must be https")
    if parts.username or parts.password:
        raise ConfigError("vendre.api_url: must not contain a user name or password")
    if parts.query or parts.fragment:
        raise ConfigError("vendre.api_url: must not contain a query or fragment")
    return url.rstrip("/")


def _check_key(api_key: str) -> None:
    # The message never quotes the key, not even a bad one.
    if not isinstance(api_key, str) or not _KEY.fullmatch(api_key):
        raise ConfigError("vendre.api_key_env: the API key is empty or contains spaces or "
                          "control characters")


def _check_number(dotted: str, value: int, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{dotted}: must be an integer of at least {minimum}, got {value!r}")


def _checked_resource(resource: str) -> str:
    name = resource.strip("/")
    if not _RESOURCE.fullmatch(name):
        raise ValueError(f"not a Vendre resource name: {resource!r}")
    return name
