"""A fake Vendre `/API/1`, served over real HTTP on 127.0.0.1 in a background thread.

Used by the tests and the benchmarks (so: no pytest here)::

    with FakeVendre(products=[{"id": 1}, {"id": 2}], max_page_size=100) as shop:
        shop.fail("products", 0, 503)          # one 503, then the page is served
        client = VendreClient(shop.url, shop.api_key)
        ...
        shop.requests                          # what was asked, with the answer's status

A resource is a sequence of items (read at request time, so a test may change
it mid-sync) or a callable `(offset, limit) -> list` with a `total`, so that a
benchmark can serve 100,000 generated products without holding them. Each page
answers `{"list": [...], "remaining": N}` like Vendre; `max_page_size` clamps
the asked `page_size` as a shop with an unknown maximum would.

Faults are rules, checked in the order added; the first matching rule that has
tries left is used once: `fail` (an error status, e.g. 500 or 429 with
Retry-After), `broken_json` (a 200 whose body is not JSON), `delay` (a slow
answer, for timeouts), `missing` (404). A wrong or absent key gets 401.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.loopback import LoopbackFake

__all__ = ["DEFAULT_API_KEY", "FakeVendre", "LoggedRequest"]

DEFAULT_API_KEY = "fake-vendre-key-9f2c4e7a1b"
PREFIX = "/API/1/"
DEFAULT_PAGE_SIZE = 100

Items = Sequence[dict] | Callable[[int, int], list[dict]]


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the fake saw it. The key itself is not kept, only whether it matched."""

    path: str
    resource: str
    query: Mapping[str, str]
    authorized: bool  # X-Authorization held exactly the fake's key
    accept: str | None
    status: int

    @property
    def offset(self) -> int | None:
        value = self.query.get("offset")
        return int(value) if value is not None and value.isdigit() else None


@dataclass
class _Rule:
    resource: str
    offset: int | None  # None = every offset
    times: int | None  # None = forever
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    broken: bool = False
    delay: float = 0.0

    def take(self, resource: str, offset: int) -> bool:
        """Whether the rule applies to this request; uses up one try if so."""
        if resource != self.resource or self.offset not in (None, offset) or self.times == 0:
            return False
        if self.times is not None:
            self.times -= 1
        return True


@dataclass
class _Source:
    fetch: Callable[[int, int], list[dict]]
    total: Callable[[], int]


class FakeVendre(LoopbackFake):
    """A small Vendre shop: `products`, `categories` and `orders`, plus fault rules.

    :param latency: seconds added to every answer, or `(low, high)` for a random
        delay per request (seeded by `seed`, so runs repeat).
    :param max_page_size: the most items one page holds, whatever was asked.
    :param totals: the item count of each resource given as a callable.
    """

    thread_name = "fake-vendre"

    def __init__(
        self,
        *,
        products: Items = (),
        categories: Items = (),
        orders: Items = (),
        totals: Mapping[str, int] | None = None,
        api_key: str = DEFAULT_API_KEY,
        max_page_size: int | None = None,
        latency: float | tuple[float, float] = 0.0,
        seed: int = 0,
    ) -> None:
        self.api_key = api_key
        self.max_page_size = max_page_size
        self.latency = latency
        self._random = random.Random(seed)
        self._sources: dict[str, _Source] = {}
        self._rules: list[_Rule] = []
        self._missing: set[str] = set()
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0
        self._init_server()
        totals = totals or {}
        for name, items in (("products", products), ("categories", categories),
                            ("orders", orders)):
            self.serve(name, items, total=totals.get(name))

    # ------------------------------------------------------------ set-up

    def serve(self, resource: str, items: Items, *, total: int | None = None) -> FakeVendre:
        """Serve `resource` from a sequence, or from `items(offset, limit)` with `total`."""
        if callable(items):
            if total is None:
                raise ValueError(f"{resource}: a callable source needs its total")
            self._sources[resource] = _Source(_clamped(items, total), lambda: total)
        else:
            seq = items
            self._sources[resource] = _Source(lambda o, n: list(seq[o:o + n]), lambda: len(seq))
        self._missing.discard(resource)
        return self

    def fail(self, resource: str, offset: int | None, status: int, *, times: int | None = 1,
             headers: Mapping[str, str] | None = None) -> FakeVendre:
        """Answer `status` (with `headers`, e.g. Retry-After) `times` times, then recover."""
        return self._add(_Rule(resource, offset, times, status=status, headers=dict(headers or {})))

    def broken_json(self, resource: str, offset: int | None = None, *,
                    times: int | None = None) -> FakeVendre:
        """Answer 200 with a truncated, non-JSON body."""
        return self._add(_Rule(resource, offset, times, broken=True))

    def delay(self, resource: str, offset: int | None, seconds: float, *,
              times: int | None = None) -> FakeVendre:
        """Wait `seconds` before answering normally (a client with a shorter timeout gives up)."""
        return self._add(_Rule(resource, offset, times, delay=seconds))

    def missing(self, resource: str) -> FakeVendre:
        """Answer 404 for `resource`, as a shop without that endpoint would."""
        self._missing.add(resource)
        return self

    def _add(self, rule: _Rule) -> FakeVendre:
        with self._lock:
            self._rules.append(rule)
        return self

    # ------------------------------------------------------------ running

    @property
    def url(self) -> str:
        """The API base, e.g. `http://127.0.0.1:PORT/API/1`."""
        return f"{self.base_url}{PREFIX.rstrip('/')}"

    # ------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request so far, in the order the answers were finished."""
        with self._lock:
            return list(self._log)

    def offsets(self, resource: str) -> list[int | None]:
        """The offsets asked of `resource`, sorted (retries appear once per try)."""
        return sorted((r.offset for r in self.requests if r.resource == resource),
                      key=lambda o: -1 if o is None else o)

    def reset(self) -> None:
        """Forget the requests, the rules and the concurrency high-water mark."""
        with self._lock:
            self._log.clear()
            self._rules.clear()
            self.max_in_flight = 0

    # ------------------------------------------------------------ serving

    def _wsgi(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            response = self._answer(request)
        finally:
            with self._lock:
                self._in_flight -= 1
        self._record(request, response.status_code)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if request.headers.get("X-Authorization") != self.api_key:
            return _error(401, "Unauthorized")
        resource = request.path[len(PREFIX):] if request.path.startswith(PREFIX) else ""
        source = self._sources.get(resource)
        if source is None or resource in self._missing:
            return _error(404, "Not Found")
        try:
            offset = int(request.args.get("offset", "0"))
            page_size = int(request.args.get("page_size", DEFAULT_PAGE_SIZE))
        except ValueError:
            return _error(400, "offset and page_size must be integers")
        self._stopping.wait(self._latency())
        rule = self._rule(resource, offset)
        if rule is not None:
            self._stopping.wait(rule.delay)
            if rule.status != 200:
                return _error(rule.status, "injected failure", rule.headers)
            if rule.broken:
                return Response('{"list": [{"id": 1', mimetype="application/json")
        limit = min(page_size, self.max_page_size or page_size)
        items = source.fetch(offset, limit)
        remaining = max(0, source.total() - offset - len(items))
        return Response(json.dumps({"list": items, "remaining": remaining}),
                        mimetype="application/json")

    def _rule(self, resource: str, offset: int) -> _Rule | None:
        with self._lock:
            return next((r for r in self._rules if r.take(resource, offset)), None)

    def _latency(self) -> float:
        if isinstance(self.latency, tuple):
            with self._lock:
                return self._random.uniform(*self.latency)
        return self.latency

    def _record(self, request: Request, status: int) -> None:
        path = request.path
        entry = LoggedRequest(
            path=path,
            resource=path[len(PREFIX):] if path.startswith(PREFIX) else "",
            query=request.args.to_dict(),
            authorized=request.headers.get("X-Authorization") == self.api_key,
            accept=request.headers.get("Accept"),
            status=status,
        )
        with self._lock:
            self._log.append(entry)


def _clamped(fetch: Callable[[int, int], list[dict]],
             total: int) -> Callable[[int, int], list[dict]]:
    """`fetch`, never asked for items past `total` (so a generator need not check)."""
    return lambda offset, limit: fetch(offset, max(0, min(limit, total - offset)))


def _error(status: int, title: str, headers: Mapping[str, str] | None = None) -> Response:
    # The Surface API's error shape; /API/1's is unknown, the client must not rely on it.
    body = json.dumps({"errors": [{"status": str(status), "title": title}]})
    return Response(body, status=status, headers=dict(headers or {}),
                    mimetype="application/json")
