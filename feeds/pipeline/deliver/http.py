"""One request to a marketplace API, retried the way every push client needs.

Timeouts, connection errors, 429 and 5xx are retried with exponential backoff
and jitter, honouring `Retry-After` (capped, so one header cannot stall a push
for hours); none of the marketplaces documents 429, so it is handled
defensively. 401/403 stop at once with one line naming the environment
variables to check. A redirect is an error (following one could hand the
credentials to another host). Error texts never quote a credential.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
import tenacity

from feeds.errors import ConfigError, FeedsError
from feeds.vendre.client import parse_retry_after

__all__ = ["PushAuthError", "PushHttpError", "send"]

log = logging.getLogger("feeds.pipeline.deliver")

_BACKOFF = tenacity.wait_exponential_jitter(initial=1.0, max=60.0, exp_base=2.0, jitter=1.0)
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class PushHttpError(FeedsError):
    """The API answered with an error (after retries), or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PushAuthError(ConfigError):
    """401/403: the credentials were refused (a configuration problem: exit 2)."""


class _Again(Exception):
    def __init__(self, reason: str, status: int | None, retry_after: float | None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retry_after = reason, status, retry_after


def send(http: httpx.Client, method: str, url: str, *, what: str,
         credential_names: Iterable[str], secrets: Iterable[str] = (), retries: int = 5,
         sleep: Callable[[float], None], ok: Iterable[int] = (), **kwargs: Any
         ) -> httpx.Response:
    """`method url`, retried; the response when its status is 2xx or in `ok`.

    :param what: names the call in errors ("CDON create batch 3").
    :param credential_names: the environment variables to name on 401/403.
    :param secrets: values scrubbed from any error text.
    :raises PushAuthError: 401/403.
    :raises PushHttpError: another error status, or no answer after the last try.
    """
    accepted = set(ok)
    hidden = tuple(s for s in secrets if s)

    def attempt() -> httpx.Response:
        try:
            response = http.request(method, url, **kwargs)
        except _TRANSIENT as exc:
            raise _Again(type(exc).__name__, None, None) from None
        except httpx.HTTPError as exc:
            raise PushHttpError(f"{what}: {type(exc).__name__}") from None
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
            raise PushHttpError(f"{what}: HTTP {status}: {_scrub(_body(response), hidden)}",
                                status)
        return response

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_Again),
        stop=tenacity.stop_after_attempt(retries + 1), wait=_wait, sleep=sleep,
        before_sleep=functools.partial(_log_retry, what), reraise=True)
    try:
        return retrying(attempt)
    except _Again as exc:
        raise PushHttpError(f"{what}: {exc.reason} (gave up after {retries + 1} tries)",
                            exc.status) from None


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


def _body(response: httpx.Response, limit: int = 300) -> str:
    """The start of an error body, on one line."""
    text = " ".join(response.text[:limit].split())
    return text or response.reason_phrase or "no body"


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def json_body(response: httpx.Response, what: str) -> Any:
    """The response's JSON, or a PushHttpError naming the call."""
    try:
        return response.json()
    except ValueError:
        raise PushHttpError(f"{what}: the answer is not JSON", response.status_code) from None


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
