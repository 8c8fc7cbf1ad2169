"""Fake GA4 Measurement Protocol and Meta Conversions API, on 127.0.0.1, enforcing the rules.

Used by the tests (no pytest here)::

    with FakeGa4(api_secret="s3cret") as ga4:       # ga4.collect_url = http://127.0.0.1:P/mp/collect
        ...                                          # the client under test posts there
        ga4.events()                                 # every event it recorded, with its body
        ga4.invalid                                  # bodies /mp/collect took but would drop

    with FakeMeta(token="t0ken", pixel_id="123456789012345") as meta:
        meta.fail(429, times=2, headers={"Retry-After": "0"})
        meta.events()                                # every event recorded (one per event)

The rules (feeds/purchases/payloads.py cites their sources):

GA4 (`/mp/collect` and `/debug/mp/collect`, both `?measurement_id=&api_secret=`): a JSON
object with `client_id`, 1 to 25 `events` whose names start with a letter (letters,
digits, `_`, at most 40) and are not reserved (`_`, `firebase_`, `ga_`, `google_`), at
most 25 params each; `timestamp_micros` no older than 72 hours and not in the future;
`consent` values GRANTED/DENIED; a `value` always with a 3-letter `currency`; a
`purchase` or `refund` with a non-empty `transaction_id`; at most 200 items, each with
`item_id` or `item_name`; a body of at most 130 kB. Like the real one, `/mp/collect`
answers 204 whatever it drops (kept in `invalid`); `/debug/mp/collect` answers
`{"validationMessages": [{fieldPath, description, validationCode}]}` and records nothing.
A wrong measurement id or api secret is dropped silently too (`unauthorized`).

Meta (`/v<version>/<pixel>/events`, JSON `{data, access_token, test_event_code?}`): the
token in the body and never in the URL (else 400); a wrong token 401 with OAuthException
190; 1 to 1,000 events; any `event_time` older than 7 days (or over 10 minutes ahead)
fails the whole request (400, as Meta documents); `action_source` one of Meta's; a
`website` event needs `client_user_agent` and `event_source_url`; `user_data` must hold
a customer parameter; `em`, `ph`, `fn`, `ln`, `ct`, `zp`, `country`, `external_id` are
64 lower-case hex digits (a string or a list of them); `client_ip_address`,
`client_user_agent`, `fbp`, `fbc` are not hashed; a `Purchase` has `value` and
`currency`. A good request answers `{"events_received": n, "messages": [], "fbtrace_id"}`.

Misbehaviour on command, in the order added, each used once per request it matches:
`fail(status, times=, headers=, after_apply=)` (after_apply: recorded, then the answer is
lost), `slow(seconds, times=)`, and `hold()` / `release()`: requests wait (recorded
first) until released, so a test can kill the client with its request in flight.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
from werkzeug.wrappers import Request, Response

from tests.fakes.loopback import LoopbackFake

__all__ = ["FakeGa4", "FakeMeta", "ga4_messages", "meta_problems"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_RESERVED = ("_", "firebase_", "ga_", "google_")
_CURRENCY = re.compile(r"[A-Z]{3}")
GA4_WINDOW_S = 72 * 3600
META_WINDOW_S = 7 * 86400
ACTION_SOURCES = {"email", "website", "app", "phone_call", "chat", "physical_store",
                  "system_generated", "business_messaging", "other"}
HASHED = ("em", "ph", "fn", "ln", "ct", "zp", "country", "external_id", "ge", "db", "st")
NOT_HASHED = ("client_ip_address", "client_user_agent", "fbp", "fbc")


def _message(path: str, description: str, code: str) -> dict[str, str]:
    return {"fieldPath": path, "description": description, "validationCode": code}


def ga4_messages(body: Any, now: float) -> list[dict[str, str]]:
    """What GA4's validation server would say of a body (empty: valid)."""
    if not isinstance(body, dict):
        return [_message("", "the body is not a JSON object", "VALUE_INVALID")]
    found = []
    if not isinstance(body.get("client_id"), str) or not body["client_id"]:
        found.append(_message("client_id", "client_id is required", "VALUE_REQUIRED"))
    stamp = body.get("timestamp_micros")
    if stamp is not None:
        if type(stamp) is not int:
            found.append(_message("timestamp_micros", "not an integer", "VALUE_INVALID"))
        elif now - stamp / 1e6 > GA4_WINDOW_S:
            found.append(_message("timestamp_micros", "more than 72 hours in the past",
                                  "VALUE_OUT_OF_BOUNDS"))
        elif stamp / 1e6 > now + 60:
            found.append(_message("timestamp_micros", "in the future", "VALUE_OUT_OF_BOUNDS"))
    consent = body.get("consent", {})
    if not isinstance(consent, dict) or any(v not in ("GRANTED", "DENIED")
                                            for v in consent.values()):
        found.append(_message("consent", "GRANTED or DENIED expected", "VALUE_INVALID"))
    events = body.get("events")
    if not isinstance(events, list) or not events:
        return found + [_message("events", "events are required", "VALUE_REQUIRED")]
    if len(events) > 25:
        found.append(_message("events", "more than 25 events", "EXCEEDED_MAX_ENTITIES"))
    for n, event in enumerate(events):
        found += _ga4_event(f"events[{n}]", event)
    return found


def _ga4_event(path: str, event: Any) -> list[dict[str, str]]:
    if not isinstance(event, dict):
        return [_message(path, "not an object", "VALUE_INVALID")]
    name, params = event.get("name"), event.get("params", {})
    found = []
    if not isinstance(name, str) or not _EVENT_NAME.fullmatch(name):
        found.append(_message(f"{path}.name", f"invalid name {name!r}", "NAME_INVALID"))
    elif name.startswith(_RESERVED):
        found.append(_message(f"{path}.name", f"reserved name {name!r}", "NAME_RESERVED"))
    if not isinstance(params, dict):
        return found + [_message(f"{path}.params", "not an object", "VALUE_INVALID")]
    if len(params) > 25:
        found.append(_message(f"{path}.params", "more than 25 params", "EXCEEDED_MAX_ENTITIES"))
    if "value" in params:
        if isinstance(params["value"], bool) or not isinstance(params["value"], int | float):
            found.append(_message(f"{path}.params.value", "not a number", "VALUE_INVALID"))
        if not isinstance(params.get("currency"), str) or \
                not _CURRENCY.fullmatch(params["currency"]):
            found.append(_message(f"{path}.params.currency", "value needs a currency",
                                  "VALUE_REQUIRED"))
    if name in ("purchase", "refund") and not (isinstance(params.get("transaction_id"), str)
                                               and params["transaction_id"]):
        found.append(_message(f"{path}.params.transaction_id", "required", "VALUE_REQUIRED"))
    items = params.get("items", [])
    if not isinstance(items, list) or len(items) > 200:
        found.append(_message(f"{path}.params.items", "at most 200 items", "VALUE_INVALID"))
    else:
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not (item.get("item_id") or item.get("item_name")):
                found.append(_message(f"{path}.params.items[{i}]", "item_id or item_name "
                                      "required", "VALUE_REQUIRED"))
    return found


def _hashed(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return bool(values) and all(isinstance(v, str) and _HEX64.fullmatch(v) for v in values)


def meta_problems(body: Any, now: float) -> list[str]:
    """Why Meta would refuse a request body (empty: accepted)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return ["data: a list of events is required"]
    events = body["data"]
    if not 1 <= len(events) <= 1000:
        return [f"data: 1 to 1000 events expected, got {len(events)}"]
    found = []
    for n, event in enumerate(events):
        found += [f"data[{n}].{p}" for p in _meta_event(event, now)]
    return found


def _meta_event(event: Any, now: float) -> list[str]:
    if not isinstance(event, dict):
        return ["not an object"]
    found = []
    if not isinstance(event.get("event_name"), str) or not event["event_name"]:
        found.append("event_name: required")
    stamp = event.get("event_time")
    if type(stamp) is not int:
        found.append("event_time: a unix time in seconds is required")
    elif now - stamp > META_WINDOW_S:
        found.append("event_time: more than 7 days in the past")
    elif stamp > now + 600:
        found.append("event_time: in the future")
    source = event.get("action_source")
    if source not in ACTION_SOURCES:
        found.append(f"action_source: {source!r} is not one of Meta's")
    user = event.get("user_data")
    if not isinstance(user, dict) or not any(k in user for k in (*HASHED, *NOT_HASHED)):
        found.append("user_data: a customer information parameter is required")
        user = {}
    if source == "website":
        for key in ("client_user_agent",):
            if not user.get(key):
                found.append(f"user_data.{key}: required for website events")
        if not event.get("event_source_url"):
            found.append("event_source_url: required for website events")
    for key in HASHED:
        if key in user and not _hashed(user[key]):
            found.append(f"user_data.{key}: must be a SHA-256 hash (64 lower-case hex)")
    for key in NOT_HASHED:
        if key in user and (not isinstance(user[key], str) or _HEX64.fullmatch(user[key])):
            found.append(f"user_data.{key}: must not be hashed")
    custom = event.get("custom_data", {})
    if event.get("event_name") == "Purchase":
        value = custom.get("value") if isinstance(custom, dict) else None
        currency = custom.get("currency") if isinstance(custom, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            found.append("custom_data.value: required for Purchase")
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency.upper()):
            found.append("custom_data.currency: required with value")
    return found


# ---------------------------------------------------------------- serving


@dataclass
class _Fault:
    status: int | None        # None: a delay only
    times: int | None
    headers: dict[str, str] = field(default_factory=dict)
    after_apply: bool = False
    delay: float = 0.0
    body: bytes = b""


class _Fake(LoopbackFake):
    """Faults, the hold gate, and the request log both fakes share."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._gate = threading.Event()
        self._gate.set()
        self.arrived = threading.Event()  # set when a request reaches the gate
        self.requests: list[tuple[str, str, bytes]] = []  # (method, full URL, body)
        self._init_server()

    def fail(self, status: int, *, times: int | None = 1,
             headers: Mapping[str, str] | None = None, after_apply: bool = False,
             body: bytes = b"") -> Self:
        with self._lock:
            self._faults.append(_Fault(status, times, dict(headers or {}), after_apply,
                                       body=body))
        return self

    def slow(self, seconds: float, *, times: int | None = 1) -> Self:
        with self._lock:
            self._faults.append(_Fault(None, times, delay=seconds))
        return self

    def hold(self) -> None:
        self.arrived.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def _take(self) -> list[_Fault]:
        taken = []
        with self._lock:
            for fault in self._faults:
                if fault.times == 0:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                taken.append(fault)
                if fault.status is not None:
                    break
        return taken

    def _wsgi(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        data = request.get_data(cache=False)
        with self._lock:
            self.requests.append((request.method, request.url, data))
        faults = self._take()
        for fault in faults:
            if fault.delay:
                self._stopping.wait(fault.delay)
        if not self._gate.is_set():
            self.arrived.set()
            self._gate.wait(30)
        failing = next((f for f in faults if f.status is not None), None)
        if failing is not None and not failing.after_apply:
            return self._fault_response(failing)(environ, start_response)
        response = self._serve(request, data)
        if failing is not None:
            response = self._fault_response(failing)
        return response(environ, start_response)

    @staticmethod
    def _fault_response(fault: _Fault) -> Response:
        return Response(fault.body or b'{"error": "injected"}', status=fault.status,
                        headers=fault.headers, mimetype="application/json")

    def _serve(self, request: Request, data: bytes) -> Response:
        raise NotImplementedError


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")


class FakeGa4(_Fake):
    thread_name = "fake-ga4"

    def __init__(self, *, measurement_id: str = "G-DEMO12345", api_secret: str = "ga4-secret",
                 clock: Callable[[], float] = time.time) -> None:
        self.measurement_id, self.api_secret, self.clock = measurement_id, api_secret, clock
        self.accepted: list[dict[str, Any]] = []   # valid bodies /mp/collect recorded
        self.invalid: list[tuple[Any, list[dict[str, str]]]] = []
        self.unauthorized = 0
        self.validated = 0
        super().__init__()

    @property
    def collect_url(self) -> str:
        return f"{self.base_url}/mp/collect"

    def events(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(body, event) of every event recorded, in order."""
        with self._lock:
            return [(body, event) for body in self.accepted for event in body["events"]]

    def transactions(self, name: str = "purchase") -> list[str]:
        return [e["params"]["transaction_id"] for _, e in self.events() if e["name"] == name]

    def _serve(self, request: Request, data: bytes) -> Response:
        if request.method != "POST" or request.path not in ("/mp/collect", "/debug/mp/collect"):
            return Response(status=404)
        try:
            body = orjson.loads(data) if len(data) <= 130 * 1024 else None
        except orjson.JSONDecodeError:
            body = None
        messages = ga4_messages(body, self.clock())
        if request.path == "/debug/mp/collect":
            with self._lock:
                self.validated += 1
            return _json({"validationMessages": messages})
        with self._lock:
            if request.args.get("measurement_id") != self.measurement_id or \
                    request.args.get("api_secret") != self.api_secret:
                self.unauthorized += 1
            elif messages:
                self.invalid.append((body, messages))
            else:
                self.accepted.append(body)
        return Response(status=204)


class FakeMeta(_Fake):
    thread_name = "fake-meta"

    def __init__(self, *, token: str = "meta-token", pixel_id: str = "123456789012345",
                 version: str = "25.0", clock: Callable[[], float] = time.time) -> None:
        self.token, self.pixel_id, self.version, self.clock = token, pixel_id, version, clock
        self.batches: list[list[dict[str, Any]]] = []
        self.refused: list[list[str]] = []
        super().__init__()

    @property
    def url(self) -> str:
        return self.base_url

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event for batch in self.batches for event in batch]

    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.events()]

    def _serve(self, request: Request, data: bytes) -> Response:
        if request.method != "POST" or \
                request.path != f"/v{self.version}/{self.pixel_id}/events":
            return _json({"error": {"message": "Unknown path", "code": 803}}, 404)
        if "access_token" in request.args:
            return _json({"error": {"message": "the access token belongs in the body here",
                                    "type": "FakeRule", "code": 100}}, 400)
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            return _json({"error": {"message": "Invalid JSON", "code": 100}}, 400)
        if not isinstance(body, dict) or body.get("access_token") != self.token:
            return _json({"error": {"message": "Invalid OAuth access token.",
                                    "type": "OAuthException", "code": 190}}, 401)
        problems = meta_problems(body, self.clock())
        if problems:
            with self._lock:
                self.refused.append(problems)
            return _json({"error": {"message": "; ".join(problems), "type": "OAuthException",
                                    "code": 100, "error_subcode": 2804003}}, 400)
        with self._lock:
            self.batches.append(body["data"])
        return _json({"events_received": len(body["data"]), "messages": [],
                      "fbtrace_id": "FAKEtrace"})
