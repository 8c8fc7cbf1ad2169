"""The two HTTP clients: GA4 Measurement Protocol and Meta Conversions API.

Each takes an injected `httpx.Client` (tests point it at the fakes on loopback) and a
`Budget` (how long a platform's run may go on: `refresh` gives each platform 30 s).
Requests go through the push clients' one retry policy (`feeds.pipeline.deliver.http`):
timeouts, connection errors, 429 and 5xx are retried with backoff (Retry-After
honoured); a redirect is an error. The outcomes a run acts on:

- `Refused`: the platform refused this payload (its message kept): the entry is failed.
- `PlatformStopped`: 401/403 (the credential), Meta's token and throttling errors, or
  no answer within the retries or the budget: the platform's run stops with one line,
  and its orders stay pending for the next run.

GA4's api_secret travels in the query string, as the Measurement Protocol requires; it
is registered with `feeds.log` so no log line shows it. Meta's access token goes in the
JSON body, never in the URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from feeds.errors import ConfigError, FeedsError
from feeds.log import add_secret
from feeds.pipeline.deliver.http import PushAuthError, PushHttpError, send
from feeds.purchases.payloads import wire

__all__ = ["REQUEST_TIMEOUT_S", "Budget", "Ga4Client", "MetaClient", "PlatformStopped",
           "Refused", "debug_url"]

REQUEST_TIMEOUT_S = 10.0
# Graph API error codes (developers.facebook.com/docs/graph-api/guides/error-handling):
# 190 and 102 an invalid or expired token, 10 and 200-299 a missing permission;
# 1, 2, 4, 17, 341 and 613 temporary trouble or throttling.
_META_AUTH = {102, 190, 10, *range(200, 300)}
_META_LATER = {1, 2, 4, 17, 341, 613}


class PlatformStopped(FeedsError):
    """A platform's run cannot go on (credentials, unreachable, out of time)."""


class Refused(FeedsError):
    """The platform refused a payload; the message is its own words (one line)."""


class _OutOfTime(Exception):
    pass


@dataclass
class Budget:
    """How long one platform's run may take, in seconds (None: no limit)."""

    seconds: float | None = None
    clock: Callable[[], float] = time.monotonic
    pause: Callable[[float], None] = time.sleep
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def left(self) -> float | None:
        return None if self.seconds is None else self.seconds - (self.clock() - self.started)

    def sleep(self, seconds: float) -> None:
        """A retry's wait; out of time instead when it would end past the budget."""
        left = self.left()
        if left is not None and seconds >= left:
            raise _OutOfTime
        self.pause(seconds)

    def timeout(self) -> httpx.Timeout:
        left = self.left()
        if left is not None and left <= 0:
            raise _OutOfTime
        limit = REQUEST_TIMEOUT_S if left is None else max(0.5, min(REQUEST_TIMEOUT_S, left))
        return httpx.Timeout(limit, connect=min(5.0, limit))


def _request(http: httpx.Client, url: str, body: bytes, *, what: str, names: Sequence[str],
             secrets: Sequence[str], budget: Budget, retries: int,
             ok: Sequence[int] = ()) -> httpx.Response:
    try:
        return send(http, "POST", url, what=what, credential_names=names, secrets=secrets,
                    retries=retries, sleep=budget.sleep, ok=ok, content=body,
                    headers={"Content-Type": "application/json"}, timeout=budget.timeout())
    except _OutOfTime:
        raise PlatformStopped(f"{what}: no answer within the time allowed; the orders stay "
                              "pending for the next run") from None
    except PushAuthError as exc:
        raise PlatformStopped(str(exc)) from None
    except PushHttpError as exc:
        if exc.status is None or exc.status == 429 or exc.status >= 500:
            raise PlatformStopped(f"{exc}; the orders stay pending for the next run") from None
        raise Refused(str(exc)) from None


def debug_url(endpoint: str) -> str:
    """GA4's validation server for a collect endpoint: `/mp/collect` -> `/debug/mp/collect`."""
    head, sep, tail = endpoint.rpartition("/mp/collect")
    if not sep:
        raise ConfigError(f"purchases.ga4_endpoint: {endpoint!r} does not end in /mp/collect")
    return f"{head}/debug/mp/collect{tail}"


class Ga4Client:
    """`POST {endpoint}?measurement_id=...&api_secret=...`, one order per request."""

    def __init__(self, http: httpx.Client, endpoint: str, measurement_id: str,
                 api_secret: str, *, secret_name: str, budget: Budget,
                 retries: int = 5) -> None:
        add_secret(api_secret)
        self.http, self.endpoint, self.budget, self.retries = http, endpoint, budget, retries
        self._query = urlencode({"measurement_id": measurement_id, "api_secret": api_secret})
        self._secret, self._names = api_secret, (secret_name,)

    def send(self, payload: dict[str, Any], what: str) -> None:
        """Send one body; returns on 2xx (GA4 answers 2xx even for what it drops: the
        payloads are checked against its validation server in the tests)."""
        _request(self.http, f"{self.endpoint}?{self._query}", wire(payload), what=what,
                 names=self._names, secrets=(self._secret,), budget=self.budget,
                 retries=self.retries)

    def validate(self, payload: dict[str, Any], what: str) -> list[str]:
        """GA4's validation messages for one body ([] when valid), from /debug/mp/collect."""
        response = _request(self.http, f"{debug_url(self.endpoint)}?{self._query}",
                            wire(payload), what=what, names=self._names,
                            secrets=(self._secret,), budget=self.budget, retries=self.retries)
        try:
            messages = response.json().get("validationMessages") or []
        except (ValueError, AttributeError):
            raise Refused(f"{what}: the validation server's answer is not JSON") from None
        return [f"{m.get('validationCode', '?')} {m.get('fieldPath', '')}: "
                f"{m.get('description', '')}".strip() for m in messages if isinstance(m, dict)]


class MetaClient:
    """`POST {endpoint}/v{version}/{pixel id}/events` with `{data, access_token}`."""

    def __init__(self, http: httpx.Client, endpoint: str, version: str, pixel_id: str,
                 token: str, *, token_name: str, budget: Budget, test_event_code: str = "",
                 retries: int = 5) -> None:
        add_secret(token)
        self.http, self.budget, self.retries = http, budget, retries
        self.url = f"{endpoint.rstrip('/')}/v{version}/{pixel_id}/events"
        self._token, self._names, self._test = token, (token_name,), test_event_code

    def send(self, events: list[dict[str, Any]], what: str) -> int:
        """Send up to 1,000 events in one request; the number Meta says it received."""
        body: dict[str, Any] = {"data": events, "access_token": self._token}
        if self._test:
            body["test_event_code"] = self._test
        response = _request(self.http, self.url, wire(body), what=what, names=self._names,
                            secrets=(self._token,), budget=self.budget, retries=self.retries,
                            ok=(400,))
        if response.status_code == 400:
            self._refusal(response, what)
        try:
            received = response.json().get("events_received")
        except (ValueError, AttributeError):
            received = None
        return received if type(received) is int else len(events)

    def _refusal(self, response: httpx.Response, what: str) -> None:
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        code = error.get("code") if isinstance(error, dict) else None
        message = " ".join(str(error.get("message", "") if isinstance(error, dict) else "")
                           .split())[:300].replace(self._token, "***") or "no message"
        if code in _META_AUTH:
            raise PlatformStopped(f"{what}: the access token was refused ({message}); check "
                                  f"{self._names[0]}")
        if code in _META_LATER:
            raise PlatformStopped(f"{what}: Meta asks to try later ({message}); the orders "
                                  "stay pending for the next run")
        raise Refused(f"{what}: HTTP 400: {message}")
