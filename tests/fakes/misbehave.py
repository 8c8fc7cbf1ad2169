"""Misbehaviour on command, for every fake marketplace (and any `LoopbackFake`)::

    with FakeCdon() as cdon:
        cdon.misbehave("huge", "POST /v2/articles/bulk", size=500 * MIB)
        cdon.misbehave("echo", "*", form="quote")      # every request, from now on
        cdon.misbehave("drip", "POST /v1/statuses/*", delay=1.0, times=1)
        cdon.calm()                                    # honest again

One hook, in `LoopbackFake`, in front of each fake's own WSGI app: a request that
matches a rule (checked in the order added; the first with tries left is used once)
gets the rule's answer instead of, or besides, the honest one. The fakes' own
handlers know nothing of it. A target is a path pattern (`fnmatch`, `*` crosses `/`)
below the server's root, optionally after a method: `"POST /api/v2/articles/bulk"`,
`"GET /download/*"`, `"*"`.

Modes:

- `echo`: `status` (400) whose reason phrase, `X-Echo` header and JSON body repeat
  what the request carried that could be a credential: the Authorization header
  (Basic: base64 of `id:token`), `x-amz-access-token`, and the request body (the LWA
  token request is a URL-encoded form). `form` re-encodes the echoed text first:
  `raw` (as received; JSON-escaped on the wire, as the body is JSON), `quote`,
  `quote_plus`, `json` (a JSON string inside the JSON body: escaped twice on the
  wire) or `base64`. `pad` characters come first (to put a secret across a cut).
- `huge`: `status` (200) with a body of `size` bytes, generated while it is sent
  (never held); chunked, or with its Content-Length when `length` is set.
- `gzip_bomb`: 200 with a gzip file that inflates to `size` bytes of zeros
  (`size` / 1000 on the wire), as S3 serves a report: `application/x-gzip`, no
  Content-Encoding; with `encoding=True` as `Content-Encoding: gzip` instead.
- `drip`: the honest answer (the request is carried out), its body sent one byte
  every `delay` seconds.
- `hang`: no answer at all for `delay` seconds (default: until the fake stops), then
  a 504.
- `nested`: 200 with `depth` nested JSON arrays (the parser gives up by recursion).
- `error_body`: `status` (200) with a JSON error `body` (default `{"error": "internal"}`),
  as an API answers when it fails behind a proxy that keeps the status. With
  `apply=True` the request is carried out first and only its answer is replaced.
- `partial`: the honest answer (the request is carried out) with the list at `path`
  (keys joined by dots: `"success"`, `"responses"`) cut to its first `keep` entries, or
  the number there lowered to `keep` (`"summary.messagesProcessed"`, `"lines_read"`):
  partial acceptance, some articles never acknowledged. An answer that is not JSON, or
  has nothing at `path`, is passed on as it is.
- `stuck`: the honest answer (carried out) with every value of the key `field`, at any
  depth, replaced by `value`: a feed, import or batch that never leaves processing
  (`field="processingStatus", value="IN_PROGRESS"`; `field="status", value="RUNNING"`;
  CDON's market rows: `field="status", value="pending"`).

CDON's status answers in the shapes seen before (a bare list, `{"statuses": ...}`) and
in none are `FakeCdon(status_shape=...)`, its own setting, not a mode here.

`Match` is the request matching every fake shares (these rules and the merchant
fakes' own faults): a method (or any), a path pattern, and how many more times.

Nothing is logged but which rule answered (`fake.misbehaved`); never a credential.

`leaks(text, secrets)` says which forms of which secrets a text holds (what an echo
could have left behind), for the tests and `bench/hostile_push.py`.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote, quote_plus

from werkzeug.wrappers import Request, Response

__all__ = ["FORMS", "MIB", "MODES", "Match", "Misbehaviour", "gzip_bomb", "leaks", "needles"]

MIB = 1024 * 1024
MODES = ("echo", "huge", "gzip_bomb", "drip", "hang", "nested", "error_body", "partial",
         "stuck")
FORMS = ("raw", "quote", "quote_plus", "json", "base64")
CHUNK = 64 * 1024
_ENCODE: dict[str, Callable[[str], str]] = {
    "raw": lambda text: text,
    "quote": lambda text: quote(text, safe=""),
    "quote_plus": quote_plus,
    "json": lambda text: json.dumps(text),
    "base64": lambda text: base64.b64encode(text.encode()).decode(),
}

WSGI = Callable[[dict, Callable[..., Any]], Any]


@dataclass
class Match:
    """The requests a rule answers: `method` (None: any) and a path pattern (`fnmatch`, `*`
    crosses `/`), `times` more times (None: every time)."""

    method: str | None
    pattern: str
    times: int | None

    @staticmethod
    def target(target: str) -> tuple[str | None, str]:
        """`"POST /x/*"` -> ("POST", "/x/*"); `"/x"` -> (None, "/x"); `"x"` -> (None, "/x")."""
        method, sep, rest = target.strip().partition(" ")
        if sep and method.isalpha() and method.isupper():
            target = rest.strip()
        else:
            method = ""
        if not target.startswith(("/", "*")):
            target = "/" + target
        return method or None, target

    def take(self, method: str, path: str) -> bool:
        """Whether the rule answers this request; uses up one of its times if so."""
        if self.times == 0 or self.method not in (None, method):
            return False
        if not fnmatchcase(path, self.pattern):
            return False
        if self.times is not None:
            self.times -= 1
        return True


@dataclass
class _Rule(Match):
    mode: str
    options: dict[str, Any]


class Misbehaviour:
    """The rules of one fake, and the WSGI middleware that applies them."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self.log: list[tuple[str, str, str]] = []  # (mode, method, path) of each answer given
        self.arrivals = 0  # requests that reached the fake (answered or not yet)

    def add(self, mode: str, target: str = "*", *, times: int | None = None,
            **options: Any) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (modes: {', '.join(MODES)})")
        if options.get("form", "raw") not in FORMS:
            raise ValueError(f"unknown echo form {options['form']!r}")
        method, pattern = Match.target(target)
        with self._lock:
            self._rules.append(_Rule(method, pattern, times, mode, options))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def wrap(self, app: WSGI) -> WSGI:
        @functools.wraps(app)
        def middleware(environ: dict, start_response: Callable[..., Any]) -> Any:
            method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
            with self._lock:
                self.arrivals += 1
                rule = next((r for r in self._rules if r.take(method, path)), None)
                if rule is not None:
                    self.log.append((rule.mode, method, path))
            if rule is None:
                return app(environ, start_response)
            return getattr(self, f"_{rule.mode}")(app, environ, start_response,
                                                   **rule.options)
        return middleware

    # ------------------------------------------------------------ the modes

    def _echo(self, app: WSGI, environ: dict, start_response: Callable[..., Any], *,
              status: int = 400, form: str = "raw", pad: int = 0) -> Any:
        request = Request(environ)
        carried = " ".join(filter(None, [
            request.headers.get("Authorization", ""),
            request.headers.get("x-amz-access-token", ""),
            request.get_data(cache=False).decode("utf-8", errors="replace")]))
        echoed = "." * pad + _ENCODE[form](carried)
        body = json.dumps({"error": f"invalid_request {echoed}",
                           "message": f"bad request: {echoed}",
                           "errors": [{"message": f"not accepted: {echoed}"}]})
        phrase = "".join(c if 32 <= ord(c) < 127 else "?" for c in echoed)[:2000]
        response = Response(body, status=f"{status} {phrase}", mimetype="application/json",
                            headers={"X-Echo": phrase})
        return response(environ, start_response)

    def _huge(self, app: WSGI, environ: dict, start_response: Callable[..., Any], *,
              size: int = 500 * MIB, status: int = 200, length: bool = False) -> Any:
        headers = [("Content-Type", "application/json")]
        if length:
            headers.append(("Content-Length", str(size)))
        start_response(f"{status} Whatever", headers)
        return self._stoppable(_huge_json(size))

    def _gzip_bomb(self, app: WSGI, environ: dict, start_response: Callable[..., Any], *,
                   size: int = 1000 * MIB, encoding: bool = False) -> Any:
        data = gzip_bomb(size)
        headers = [("Content-Length", str(len(data)))]
        if encoding:
            headers += [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
        else:
            headers += [("Content-Type", "application/x-gzip")]
        start_response("200 OK", headers)
        return [data]

    def _drip(self, app: WSGI, environ: dict, start_response: Callable[..., Any], *,
              delay: float = 1.0) -> Any:
        answer = Response.from_app(app, environ)
        body = answer.get_data()
        headers = [(k, v) for k, v in answer.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding")]
        headers.append(("Content-Length", str(len(body))))
        start_response(answer.status, headers)
        return self._stoppable(self._dripped(body, delay))

    def _dripped(self, body: bytes, delay: float) -> Iterator[bytes]:
        for i in range(len(body)):
            yield body[i:i + 1]
            if self._stopping.wait(delay):
                return

    def _hang(self, app: WSGI, environ: dict, start_response: Callable[..., Any], *,
              delay: float | None = None) -> Any:
        self._stopping.wait(delay)
        return Response("gave up hanging", status=504)(environ, start_response)

    def _nested(self, app: WSGI, environ: dict, start_response: Callable[..., Any], *,
                depth: int = 200_000, status: int = 200) -> Any:
        body = b"[" * depth + b"]" * depth
        start_response(f"{status} OK", [("Content-Type", "application/json"),
                                        ("Content-Length", str(len(body)))])
        return [body]

    def _error_body(self, app: WSGI, environ: dict, start_response: Callable[..., Any], *,
                    status: int = 200, body: Any = None, apply: bool = False) -> Any:
        if apply:
            Response.from_app(app, environ).close()
        text = json.dumps({"error": "internal"} if body is None else body)
        return Response(text, status=status, mimetype="application/json")(environ,
                                                                           start_response)

    def _partial(self, app: WSGI, environ: dict, start_response: Callable[..., Any], *,
                 path: str = "success", keep: int = 0) -> Any:
        def cut(answer: Any) -> Any:
            *parents, last = path.split(".")
            node = answer
            for key in parents:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(node.get(last), list):
                node[last] = node[last][:keep]
            elif isinstance(node, dict) and isinstance(node.get(last), int):
                node[last] = min(node[last], keep)
            return answer
        return self._rewritten(app, environ, start_response, cut)

    def _stuck(self, app: WSGI, environ: dict, start_response: Callable[..., Any], *,
               field: str = "processingStatus", value: Any = "IN_PROGRESS") -> Any:
        def held(answer: Any) -> Any:
            if isinstance(answer, dict):
                return {k: value if k == field else held(v) for k, v in answer.items()}
            if isinstance(answer, list):
                return [held(v) for v in answer]
            return answer
        return self._rewritten(app, environ, start_response, held)

    @staticmethod
    def _rewritten(app: WSGI, environ: dict, start_response: Callable[..., Any],
                   change: Callable[[Any], Any]) -> Any:
        """The honest answer (the request carried out), its JSON body changed by
        `change`; an answer that is not JSON passes as it is."""
        answer = Response.from_app(app, environ)
        try:
            body = json.loads(answer.get_data())
        except ValueError:
            return answer(environ, start_response)
        answer.set_data(json.dumps(change(body)))
        return answer(environ, start_response)

    def _stoppable(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if self._stopping.is_set():
                return
            yield chunk


def _huge_json(size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of a JSON object that never ends, in CHUNK-sized parts."""
    head = b'{"responses": ["'
    block = b"x" * CHUNK
    sent = 0
    first = head + block[:CHUNK - len(head)]
    while sent < size:
        chunk = (first if sent == 0 else block)[:size - sent]
        yield chunk
        sent += len(chunk)


@functools.lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """gzip of `size` zero bytes (compressed in steps: never held inflated), made once per
    size (a benchmark makes it before it measures)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(MIB)
    parts = []
    left = size
    while left > 0:
        step = min(left, MIB)
        parts.append(packer.compress(zeros[:step]))
        left -= step
    parts.append(packer.flush())
    return b"".join(parts)


# ---------------------------------------------------------------- what an echo leaves behind


def _forms(secret: str) -> set[str]:
    """The forms a secret travels in, as issue 16 lists them (and JSON-escaped or
    URL-encoded twice: an echo of a form body, URL-encoded again)."""
    once = json.dumps(secret)[1:-1]
    encoded = {quote(secret), quote(secret, safe=""), quote_plus(secret)}
    return {secret, *encoded, once, json.dumps(once)[1:-1],
            *(quote(e, safe="") for e in encoded), *(quote_plus(e) for e in encoded)}


def _runs(text: str, n: int = 16) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def _base64_runs(secret: str) -> set[str]:
    """Every 16-character run of the secret's base64, at each of the three alignments."""
    found: set[str] = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret.encode()).decode().rstrip("=")
        found |= _runs(encoded[4 if shift else 0:-4])
    return found


def needles(secrets: list[str]) -> set[str]:
    """What may not appear anywhere: every form of every secret, and every 16-character
    run of the base64 of each pair (`id:token`, as HTTP Basic auth sends it), also when
    that is base64-encoded once more."""
    found = set()
    for secret in secrets:
        found |= _forms(secret) | _base64_runs(secret)
        for other in secrets:
            if other != secret:
                pair = base64.b64encode(f"{secret}:{other}".encode()).decode()
                found |= _runs(pair) | _base64_runs(pair)
    return found


def leaks(text: str, secrets: list[str]) -> list[str]:
    """The forms of `secrets` found in `text` (none, one hopes)."""
    return sorted(n for n in needles(secrets) if n in text)
