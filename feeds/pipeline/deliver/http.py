"""One request to a marketplace API: bounded, retried the way every push client needs.

Every request goes through `send`, on the same bounded path as the Vendre client
(`feeds.net`), with the channel's `Limits`:

- `timeout_s` bounds one request from connecting to its last byte (the client's own
  transport clamps every socket operation to it, so a dripped answer cannot hold a
  request longer); a late request is a failed, retried one.
- `push_deadline_minutes` bounds the whole push: no request starts and no backoff
  waits once it passed, and a request in flight ends with it.
- `max_response_mb` caps any answer, read as a stream and dropped at the cap (a gzip
  file, e.g. Amazon's processing report, is inflated under the same cap); JSON nested
  too deeply is an unreadable answer.

Timeouts, connection errors, 429 and 5xx are retried with exponential backoff and
jitter, honouring `Retry-After` (capped, so one header cannot stall a push for hours);
none of the marketplaces documents 429, so it is handled defensively. 401/403 stop at
once with one line naming the environment variables to check. A redirect is an error
(following one could hand the credentials to another host). Text the marketplace sends
back is scrubbed of every form of every credential before it is cut (`feeds.log.shown`).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import tenacity

from feeds.errors import ConfigError, FeedsError
from feeds.log import shown
from feeds.net import MIB, Deadlines, RoutingTransport, parse_json, parse_retry_after, read_body

__all__ = ["Limits", "PushAuthError", "PushHttpError", "bounded_client", "json_body", "quoted",
           "send"]

log = logging.getLogger("feeds.pipeline.deliver")

_BACKOFF = tenacity.wait_exponential_jitter(initial=1.0, max=60.0, exp_base=2.0, jitter=1.0)
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
QUOTE_MAX = 300        # characters of an error body a message quotes
ERROR_BODY_MAX = 64 * 1024  # bytes of an error body read at most (the rest is not needed)


class PushHttpError(FeedsError):
    """The API answered with an error (after retries), or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PushAuthError(ConfigError):
    """401/403: the credentials were refused (a configuration problem: exit 2)."""


@dataclass
class Limits:
    """The bounds of one push's requests (`[channels.<name>]` timeout_s,
    push_deadline_minutes, max_response_mb), and what it has sent so far.

    `deadline` is a `time.monotonic()` instant (None: none). `deadlines` is the
    transport's per-thread request deadline when the client was made by
    `bounded_client`; for another client the time is checked between chunks only.
    """

    channel: str = ""
    timeout_s: float = 60.0
    deadline: float | None = None
    max_response_bytes: int = 16 * MIB
    deadlines: Deadlines | None = None
    on_request: Callable[[int], None] | None = None
    requests: int = field(default=0, init=False)

    def setting(self, key: str) -> str:
        return f"channels.{self.channel}.{key}" if self.channel else key

    def ends(self) -> float:
        """When a request starting now must end."""
        ends = time.monotonic() + self.timeout_s
        return ends if self.deadline is None else min(ends, self.deadline)

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def too_late(self, what: str) -> PushHttpError:
        return PushHttpError(f"{what}: stopped, the push's deadline passed "
                             f"({self.setting('push_deadline_minutes')})")

    def sleep(self, sleep: Callable[[float], None]) -> Callable[[float], None]:
        """`sleep`, never past the push's deadline (the next request would be too late)."""
        def bounded(seconds: float) -> None:
            if self.deadline is not None:
                seconds = min(seconds, max(0.0, self.deadline - time.monotonic()))
            sleep(seconds)
        return bounded

    def sent(self) -> None:
        self.requests += 1
        if self.on_request is not None:
            self.on_request(self.requests)


def bounded_client(limits: Limits) -> httpx.Client:
    """An httpx client whose requests keep to `limits` (it sets `limits.deadlines`):
    no redirects, no environment besides the proxy variables (read per host)."""
    limits.deadlines = Deadlines()
    return httpx.Client(transport=RoutingTransport(limits.deadlines),
                        timeout=httpx.Timeout(limits.timeout_s, connect=min(10.0,
                                                                            limits.timeout_s)),
                        follow_redirects=False, trust_env=False)


class _Again(Exception):
    def __init__(self, reason: str, status: int | None, retry_after: float | None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retry_after = reason, status, retry_after


def send(http: httpx.Client, method: str, url: str, *, what: str,
         credential_names: Iterable[str], secrets: Iterable[str] = (), retries: int = 5,
         sleep: Callable[[float], None], ok: Iterable[int] = (), limits: Limits | None = None,
         gunzip: bool = False, **kwargs: Any) -> httpx.Response:
    """`method url`, retried; the response (its body read) when its status is 2xx or in `ok`.

    :param what: names the call in errors ("CDON create batch 3").
    :param credential_names: the environment variables to name on 401/403.
    :param secrets: values scrubbed from any error text (besides the registered ones).
    :param limits: the push's bounds (default: `Limits()`, no whole-push deadline).
    :param gunzip: the answer may be a gzip file (inflated under the same cap).
    :raises PushAuthError: 401/403.
    :raises PushHttpError: another error status, an answer over the cap, no answer after
        the last try, or the push's deadline passed.
    """
    accepted = set(ok)
    hidden = tuple(s for s in secrets if s)
    limits = limits or Limits()

    def attempt() -> httpx.Response:
        if limits.past_deadline():  # not retried: no later try can be in time
            raise limits.too_late(what)
        ends = limits.ends()
        if limits.deadlines is not None:
            limits.deadlines.at = ends  # every socket operation of this thread keeps to it
        try:
            limits.sent()
            with http.stream(method, url, **kwargs) as response:
                _check_status(response, what, accepted, credential_names, hidden, limits, ends)
                body = read_body(response, cap=limits.max_response_bytes, ends=ends,
                                 where=what, setting=limits.setting("max_response_mb"),
                                 error=PushHttpError, quote=lambda t: shown(t, 60, hidden),
                                 gunzip=gunzip)
                headers = {k: v for k, v in response.headers.items()
                           if k.lower() not in ("content-encoding", "content-length",
                                                "transfer-encoding")}
                return httpx.Response(response.status_code, headers=headers,
                                      content=bytes(body), request=response.request)
        except _TRANSIENT as exc:
            if limits.past_deadline():
                raise limits.too_late(what) from None
            if time.monotonic() >= ends:
                raise _Again(f"no complete answer within {limits.timeout_s:g} s "
                             f"({limits.setting('timeout_s')})", None, None) from None
            raise _Again(type(exc).__name__, None, None) from None
        except httpx.HTTPError as exc:
            raise PushHttpError(f"{what}: {type(exc).__name__}") from None
        finally:
            if limits.deadlines is not None:
                limits.deadlines.at = None

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_Again),
        stop=tenacity.stop_after_attempt(retries + 1), wait=_wait, sleep=limits.sleep(sleep),
        before_sleep=functools.partial(_log_retry, what), reraise=True)
    try:
        return retrying(attempt)
    except _Again as exc:
        raise PushHttpError(f"{what}: {exc.reason} (gave up after {retries + 1} tries)",
                            exc.status) from None


def _check_status(response: httpx.Response, what: str, accepted: set[int],
                  credential_names: Iterable[str], hidden: tuple[str, ...], limits: Limits,
                  ends: float) -> None:
    status = response.status_code
    if status in (401, 403) and status not in accepted:
        names = " and ".join(credential_names)
        raise PushAuthError(f"{what}: the credentials were refused (HTTP {status}); "
                            f"check {names}")
    if (status == 429 or status >= 500) and status not in accepted:
        raise _Again(f"HTTP {status}", status,
                     parse_retry_after(response.headers.get("Retry-After")))
    if 300 <= status < 400:
        raise PushHttpError(f"{what}: HTTP {status}, a redirect; not followed (it could "
                            "carry the credentials elsewhere)", status)
    if status >= 400 and status not in accepted:
        start = read_body(response, cap=min(ERROR_BODY_MAX, limits.max_response_bytes),
                          ends=ends, where=what, setting=limits.setting("max_response_mb"),
                          error=PushHttpError, truncate=True)
        raise PushHttpError(f"{what}: HTTP {status}: {_error_text(response, start, hidden)}",
                            status)


def _error_text(response: httpx.Response, start: bytes | bytearray,
                hidden: tuple[str, ...]) -> str:
    """The start of an error body on one line: scrubbed, then cut."""
    text = " ".join(bytes(start).decode("utf-8", errors="replace").split())
    return shown(text or response.reason_phrase or "no body", QUOTE_MAX, hidden)


def _wait(state: tenacity.RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, _Again) and exc.retry_after is not None:
        return exc.retry_after
    return _BACKOFF(state)


def _log_retry(what: str, state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    delay = state.next_action.sleep if state.next_action is not None else 0.0
    log.info("%s failed (%s, try %d); retrying in %.1f s", what,
             getattr(exc, "reason", type(exc).__name__), state.attempt_number, delay)


def json_body(response: httpx.Response, what: str) -> Any:
    """The response's JSON, or a PushHttpError naming the call (not JSON, or nested too
    deeply to read)."""
    value, problem = parse_json(response.content)
    if problem:
        raise PushHttpError(f"{what}: the answer is not readable ({problem})",
                            response.status_code)
    return value


def quoted(value: Any, limit: int = 80) -> str:
    """The start of an answer's JSON on one line, scrubbed of every credential, for a
    message that says its shape is none the client knows."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return shown(text, limit)


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
