"""A hostile fake Vendre `/API/1`: a raw HTTP/1.1 server on 127.0.0.1 that lies, drips,
floods and echoes, for the tests and `bench/hostile_sync.py` (so: no pytest here)::

    with HostileVendre(products=products(25), api_key=KEY) as shop:
        ...                                  # mode "normal": an honest shop
        shop.mode = "liar"                   # from now on, /products lies
        shop.requests, shop.elsewhere.requests, shop.bytes_sent

It is a socket server rather than a WSGI app because the attacks live below
WSGI: a reason phrase chosen byte for byte, a status line dripped one byte at a
time, a body of any size generated while it is sent. Every answer closes its
connection (`Connection: close`), so each request is one connection.

Modes (`shop.mode`, switchable while serving) apply to the resources in
`shop.targets` (default: products), from offset `shop.hostile_from` on (default
0: every page); the other requests are answered honestly:

- `normal`: `{"list": [...], "remaining": N}` pages of the given items.
- `drip`: the honest page, its body sent one byte every `drip_s` seconds.
- `drip_headers`: the honest page, its status line and headers dripped likewise.
- `liar`: the first page is honest but promises `liar_total` items in all; every
  later page is empty and still promises the rest.
- `huge`: a 200 whose body is `huge_bytes` of product JSON, generated chunk by
  chunk while it is sent (never held); chunked, or with its Content-Length when
  `huge_length` is set.
- `nested`: a 200 whose body is `nesting` nested JSON arrays.
- `reason_echo`: `HTTP/1.1 400 <the X-Authorization value received>`, and the
  same value in a header and the body.
- `redirect`: a 302 to the same path on `shop.elsewhere`, another server on
  another port, which records whether the key reached it.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

__all__ = ["MODES", "HostileVendre", "Recorder", "Seen"]

MODES = ("normal", "drip", "drip_headers", "liar", "huge", "nested", "reason_echo", "redirect")
PREFIX = "/API/1/"
CHUNK = 64 * 1024
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Seen:
    """One request as a server saw it. The key itself is not kept, only whether it came."""

    resource: str
    offset: int | None
    sent_key: bool  # an X-Authorization header equal to the shop's key
    mode: str


@dataclass(frozen=True)
class _Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names

    @property
    def resource(self) -> str:
        return self.path[len(PREFIX):] if self.path.startswith(PREFIX) else ""

    def number(self, name: str, default: int) -> int:
        value = self.query.get(name, "")
        return int(value) if value.isdigit() else default


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Base:
    """A socket server in a background thread that hands each request to `_answer`."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.stopping = threading.Event()
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> _Base:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._handle(self.request)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; answers still dripping end at their next byte."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The API base, e.g. `http://127.0.0.1:PORT/API/1`."""
        return f"http://127.0.0.1:{self.port}{PREFIX.rstrip('/')}"

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def _handle(self, conn: socket.socket) -> None:
        request = _read_request(conn)
        if request is None:
            return
        try:
            self._answer(conn, request)
        except OSError:  # the client hung up: what a hostile shop hopes for
            pass

    def _record(self, request: _Request, mode: str) -> None:
        offset = request.query.get("offset", "")
        seen = Seen(request.resource, int(offset) if offset.isdigit() else None,
                    request.headers.get("x-authorization") == self.api_key, mode)
        with self._lock:
            self._seen.append(seen)

    def _answer(self, conn: socket.socket, request: _Request) -> None:
        raise NotImplementedError


class Recorder(_Base):
    """Another host (another port): answers 404 to all, recording who sent the key."""

    def _answer(self, conn: socket.socket, request: _Request) -> None:
        self._record(request, "elsewhere")
        conn.sendall(_head(404, "Not Found", {"Content-Length": "0"}))


class HostileVendre(_Base):
    """A Vendre shop that turns hostile on demand (see the module docstring)."""

    def __init__(self, *, products: Sequence[dict] = (), categories: Sequence[dict] = (),
                 orders: Sequence[dict] = (), api_key: str, mode: str = "normal",
                 targets: Sequence[str] = ("products",), hostile_from: int = 0,
                 max_page_size: int = 10,
                 drip_s: float = 0.05, liar_total: int = 10**9, huge_bytes: int = 600 * 2**20,
                 huge_length: bool = False, nesting: int = 200_000) -> None:
        super().__init__(api_key)
        self.items = {"products": products, "categories": categories, "orders": orders}
        self.mode = mode
        self.targets = tuple(targets)
        self.hostile_from = hostile_from
        self.max_page_size = max_page_size
        self.drip_s = drip_s
        self.liar_total = liar_total
        self.huge_bytes = huge_bytes
        self.huge_length = huge_length
        self.nesting = nesting
        self.elsewhere = Recorder(api_key)
        self._sent = 0

    def start(self) -> HostileVendre:
        self.elsewhere.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.elsewhere.stop()

    def __enter__(self) -> HostileVendre:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def bytes_sent(self) -> int:
        """Body bytes handed to the sockets so far (the kernel may still hold some)."""
        with self._lock:
            return self._sent

    # ------------------------------------------------------------ answering

    def _answer(self, conn: socket.socket, request: _Request) -> None:
        if request.resource not in self.items:
            conn.sendall(_head(404, "Not Found", {"Content-Length": "0"}))
            return
        hostile = request.resource in self.targets \
            and request.number("offset", 0) >= self.hostile_from
        mode = self.mode if hostile else "normal"
        self._record(request, mode)
        if mode == "reason_echo":
            self._echo(conn, request)
        elif request.headers.get("x-authorization") != self.api_key:
            conn.sendall(_head(401, "Unauthorized", {"Content-Length": "0"}))
        elif mode == "redirect":
            target = f"http://127.0.0.1:{self.elsewhere.port}{request.path}"
            conn.sendall(_head(302, "Found", {"Location": target, "Content-Length": "0"}))
        elif mode == "huge":
            self._huge(conn)
        elif mode == "nested":
            body = b"[" * self.nesting + b"]" * self.nesting
            self._send(conn, _head(200, "OK", _json_length(body)), body)
        else:
            body = self._page(request, liar=mode == "liar")
            head = _head(200, "OK", _json_length(body))
            if mode == "drip_headers":
                self._drip(conn, head)
                self._send(conn, b"", body)
            elif mode == "drip":
                conn.sendall(head)
                self._drip(conn, body)
            else:
                self._send(conn, head, body)

    def _page(self, request: _Request, *, liar: bool) -> bytes:
        items = self.items[request.resource]
        offset = request.number("offset", 0)
        size = min(request.number("page_size", 100), self.max_page_size)
        total = len(items)
        if liar:
            page = list(items[:size]) if offset == 0 else []
            total = self.liar_total
        else:
            page = list(items[offset:offset + size])
        remaining = max(0, total - offset - len(page))
        return json.dumps({"list": page, "remaining": remaining}).encode()

    def _echo(self, conn: socket.socket, request: _Request) -> None:
        echoed = request.headers.get("x-authorization", "")
        body = json.dumps({"errors": [{"title": f"bad key {echoed}"}]}).encode()
        conn.sendall(_head(400, echoed, {**_json_length(body), "X-Echo": echoed}) + body)

    def _huge(self, conn: socket.socket) -> None:
        headers = {"Content-Type": "application/json"}
        if self.huge_length:
            headers["Content-Length"] = str(self.huge_bytes)
        else:
            headers["Transfer-Encoding"] = "chunked"
        conn.sendall(_head(200, "OK", headers))
        for chunk in _huge_body(self.huge_bytes):
            if self.stopping.is_set():
                return
            framed = chunk if self.huge_length else b"%x\r\n%s\r\n" % (len(chunk), chunk)
            self._send(conn, b"", framed)
        if not self.huge_length:
            conn.sendall(b"0\r\n\r\n")

    def _drip(self, conn: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if self.stopping.is_set():
                return
            self._send(conn, b"", data[i:i + 1])
            time.sleep(self.drip_s)

    def _send(self, conn: socket.socket, head: bytes, body: bytes) -> None:
        conn.sendall(head + body)
        with self._lock:
            self._sent += len(body)


# ---------------------------------------------------------------- HTTP by hand


def _read_request(conn: socket.socket) -> _Request | None:
    """The request line and headers (a GET has no body), or None if the peer gave up."""
    conn.settimeout(10)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk or len(data) > _MAX_HEAD:
                return None
            data += chunk
    except OSError:
        return None
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    url = urlsplit(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    return _Request(url.path, query, headers)


def _head(status: int, reason: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _json_length(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "Content-Length": str(len(body))}


def _huge_body(size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of a `{"list": [...]}` that never ends, in CHUNK-sized parts."""
    item = json.dumps({"id": 1, "name": {"sv": "x" * 200}}).encode() + b","
    block = b'{"list": [' + item * (CHUNK // len(item))
    sent = 0
    while sent < size:
        chunk = block[:size - sent]
        yield chunk
        sent += len(chunk)
        block = item * (CHUNK // len(item))
