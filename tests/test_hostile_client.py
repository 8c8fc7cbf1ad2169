"""`feeds.vendre.client` against a hostile shop (`tests/fakes/hostile_vendre.py`).

Every attack ends within a bounded time as one `VendreError` whose text, and the
text of everything chained to it, holds no key. Deadlines and caps are small
here; the full-size cases are measured by `bench/hostile_sync.py`.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from feeds.errors import VendreResponseError, VendreUnavailable
from feeds.vendre.client import VendreClient
from tests.fakes.hostile_vendre import CHUNK, HostileVendre
from tests.fakes.vendre_api import FakeVendre

# Unique to this file: no other test registers it as a secret, so nothing masks it for us.
KEY = "hostile-client-key-7c3e9a51"
MIB = 1024 * 1024


def products(n: int) -> list[dict]:
    return [{"id": i, "name": f"Product {i}"} for i in range(n)]


def chain(exc: BaseException | None) -> list[str]:
    """The text of `exc` and of everything chained to it, as a traceback would show."""
    texts = []
    while exc is not None:
        texts.append(str(exc))
        texts.extend(str(a) for a in exc.args)
        exc = exc.__cause__ or exc.__context__
    return texts


def page_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vendre-page")]


@pytest.fixture
def sleeps() -> list[float]:
    """What the client's backoff asked to sleep (it never really sleeps here)."""
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[Callable[..., VendreClient]]:
    clients: list[VendreClient] = []

    def make(url: str, **kwargs: object) -> VendreClient:
        kwargs.setdefault("sleep", sleeps.append)
        kwargs.setdefault("page_size", 10)
        client = VendreClient(url, KEY, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def read_all(client: VendreClient, resource: str = "products") -> list[list[dict]]:
    return list(client.iter_pages(resource))


class CountingTransport(httpx.BaseTransport):
    """httpx's transport, counting the raw body bytes the client pulls from the socket."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.body_bytes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_Counted(response.stream, self),
                              extensions=response.extensions)

    def close(self) -> None:
        self._inner.close()


class _Counted(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, counter: CountingTransport) -> None:
        self._stream = stream
        self._counter = counter

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self._counter.body_bytes += len(chunk)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class _Chunks(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


# ---------------------------------------------------------------- drip: the request deadline


def test_a_dripped_body_is_a_failed_retried_request(make_client, sleeps):
    with HostileVendre(products=products(25), api_key=KEY, mode="drip", drip_s=0.05) as shop:
        client = make_client(shop.url, timeout_s=0.4, retries=1)
        started = time.monotonic()
        with pytest.raises(VendreUnavailable) as caught:
            read_all(client)
        elapsed = time.monotonic() - started
        assert str(caught.value) == (f"{shop.url}/products?offset=0: ReadTimeout: no complete "
                                     "answer within 0.4 s (vendre.timeout_s) (gave up after "
                                     "2 tries)")
        assert [r.offset for r in shop.requests] == [0, 0]  # retried once
    assert len(sleeps) == 1
    # The body is ~500 bytes at 20 a second: a per-read timeout would wait ~25 s a try.
    # (The margin is for a loaded machine.)
    assert elapsed < 2 * 0.4 + 2.0


def test_dripped_headers_are_cut_off_by_the_same_deadline(make_client):
    with HostileVendre(products=products(25), api_key=KEY, mode="drip_headers",
                       drip_s=0.05) as shop:
        client = make_client(shop.url, timeout_s=0.4, retries=0)
        started = time.monotonic()
        with pytest.raises(VendreUnavailable, match=r"no complete answer within 0\.4 s"):
            read_all(client)
    # Headers are read by httpcore, below any check between body chunks: only the
    # transport's own deadline can cut this short (else ~100 bytes at 20 a second).
    assert time.monotonic() - started < 0.4 + 2.0


def test_the_sync_deadline_ends_requests_and_their_threads(make_client):
    # The first page is honest; the others drip, fetched by four threads at once.
    with HostileVendre(products=products(100), api_key=KEY, mode="drip", drip_s=0.05,
                       hostile_from=10) as shop:
        started = time.monotonic()
        client = make_client(shop.url, timeout_s=30, retries=5, concurrency=4,
                             sleep=time.sleep, deadline=started + 0.8)
        pages = []
        with pytest.raises(VendreUnavailable) as caught:
            pages.extend(client.iter_pages("products"))
        elapsed = time.monotonic() - started
        assert len(pages) == 1
        assert str(caught.value) == (f"{shop.url}/products?offset=10: stopped, the sync's "
                                     "deadline passed (vendre.sync_deadline_minutes)")
        assert 1 < len(shop.requests) <= 1 + 4
    assert 0.8 <= elapsed < 0.8 + 2.0  # not the 30 s of timeout_s
    assert page_threads() == []


def test_the_sync_deadline_cuts_a_backoff_wait_short(make_client):
    with FakeVendre(products=products(5), api_key=KEY) as shop:
        shop.fail("products", 0, 503, times=None, headers={"Retry-After": "100"})
        started = time.monotonic()
        client = make_client(shop.url, retries=5, sleep=time.sleep, deadline=started + 0.5)
        with pytest.raises(VendreUnavailable, match="the sync's deadline passed"):
            read_all(client)
        assert len(shop.requests) == 1  # asked to wait 100 s; the deadline came first
    assert time.monotonic() - started < 0.5 + 2.0  # not the 100 s asked for


def test_no_request_starts_after_the_sync_deadline(make_client, sleeps):
    with HostileVendre(products=products(5), api_key=KEY) as shop:
        client = make_client(shop.url, deadline=time.monotonic() - 1)
        with pytest.raises(VendreUnavailable, match="the sync's deadline passed"):
            read_all(client)
        assert shop.requests == []


# ---------------------------------------------------------------- liar


def test_a_promise_above_max_items_fails_before_paging(make_client):
    with HostileVendre(products=products(25), api_key=KEY, mode="liar",
                       liar_total=10**9) as shop:
        with pytest.raises(VendreResponseError) as caught:
            read_all(make_client(shop.url, max_items=1000))
        assert str(caught.value) == ("products: the first page promises 1000000000 items, more "
                                     "than vendre.max_products = 1000; not paging through them")
        assert [r.offset for r in shop.requests] == [0]


def test_an_empty_page_before_the_promised_total_fails_at_once(make_client):
    with HostileVendre(products=products(25), api_key=KEY, mode="liar",
                       liar_total=1_000_000) as shop:
        pages = []
        with pytest.raises(VendreResponseError) as caught:
            pages.extend(make_client(shop.url, concurrency=4).iter_pages("products"))
        assert str(caught.value) == ("products: page at offset 10 is empty although the first "
                                     "page promised 1000000 items")
        assert len(pages) == 1
        # The first page, one window of four and the page asked for as the empty one
        # was taken: not the 99,999 the lie asks for.
        assert len(shop.requests) <= 1 + 4 + 1


# ---------------------------------------------------------------- huge


def test_a_huge_body_is_cut_at_the_cap(make_client):
    counting = CountingTransport()
    with HostileVendre(products=products(25), api_key=KEY, mode="huge") as shop:
        client = make_client(shop.url, max_response_bytes=MIB, transport=counting)
        with pytest.raises(VendreResponseError) as caught:
            read_all(client)
        assert str(caught.value) == (f"{shop.url}/products?offset=0: the answer is larger than "
                                     "1 MB (vendre.max_response_mb); stopped reading it")
        assert caught.value.status is None
        assert len(shop.requests) == 1  # not retried: the next try would be as large
    assert MIB < counting.body_bytes <= MIB + CHUNK


def test_a_huge_content_length_is_refused_unread(make_client):
    counting = CountingTransport()
    with HostileVendre(products=products(25), api_key=KEY, mode="huge",
                       huge_length=True) as shop:
        client = make_client(shop.url, max_response_bytes=MIB, transport=counting)
        with pytest.raises(VendreResponseError, match=r"offset=0: the answer is 629145600 "
                                                      r"bytes, more than 1 MB \(vendre\.max_"
                                                      r"response_mb\); not read$"):
            read_all(client)
    assert counting.body_bytes == 0


def test_a_gzip_bomb_is_inflated_no_further_than_the_cap(make_client):
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    # 64 MiB of zeros, about 64 KiB once packed: one read from a socket.
    bomb = b"".join(packer.compress(bytes(MIB)) for _ in range(64)) + packer.flush()
    assert len(bomb) <= CHUNK

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"},
                              stream=_Chunks(iter([bomb])))

    client = make_client("https://shop.se/API/1", max_response_bytes=MIB,
                         transport=httpx.MockTransport(handler))
    tracemalloc.start()
    try:
        with pytest.raises(VendreResponseError, match="larger than 1 MB"):
            read_all(client)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # httpx's own decoder would inflate the whole chunk at once: 64 MB.
    assert peak < 4 * MIB


def test_gzip_is_asked_for_and_read(make_client):
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Accept-Encoding"])
        body = gzip.compress(b'{"list": [{"id": 1}], "remaining": 0}')
        return httpx.Response(200, headers={"Content-Encoding": "gzip"},
                              stream=_Chunks(iter([body[:10], body[10:]])))

    client = make_client("https://shop.se/API/1", transport=httpx.MockTransport(handler))
    assert read_all(client) == [[{"id": 1}]]
    assert seen == ["gzip"]


def test_an_encoding_not_asked_for_is_refused(make_client):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "br"},
                              stream=_Chunks(iter([b"\x1b\x00"])))

    client = make_client("https://shop.se/API/1", transport=httpx.MockTransport(handler))
    with pytest.raises(VendreResponseError, match="encoded as br, which was not asked for"):
        read_all(client)


# ---------------------------------------------------------------- nested


def test_deeply_nested_json_is_an_unreadable_page(make_client, sleeps):
    with HostileVendre(products=products(25), api_key=KEY, mode="nested") as shop:
        with pytest.raises(VendreResponseError) as caught:
            read_all(make_client(shop.url))
        assert str(caught.value) == (f"{shop.url}/products?offset=0: the answer is not the "
                                     "{list, remaining} JSON envelope (JSON nested too deeply)")
        assert caught.value.status is None
        assert len(shop.requests) == 1 and sleeps == []  # as any other garbage


def test_ids_that_cannot_be_set_members_are_kept_not_a_crash(make_client):
    items = [{"id": [1]}, {"id": {"a": 1}}, {"id": 2}]
    with HostileVendre(products=items, api_key=KEY) as shop:
        pages = read_all(make_client(shop.url))
    assert sum(pages, []) == items


# ---------------------------------------------------------------- the key echoed back


def test_an_echoed_key_is_scrubbed_from_every_message_and_log(make_client, caplog):
    caplog.set_level(logging.DEBUG)
    with HostileVendre(products=products(25), api_key=KEY, mode="reason_echo") as shop:
        with pytest.raises(VendreResponseError) as caught:
            read_all(make_client(shop.url))
        assert str(caught.value) == f"{shop.url}/products?offset=0: the shop answered HTTP 400 ***"
        assert caught.value.status == 400
        assert shop.requests[0].sent_key  # it really had the key to echo
    assert "receive_response_headers" in caplog.text  # httpcore's debug lines were captured
    assert all(KEY not in text for text in chain(caught.value))
    assert KEY not in caplog.text


def test_a_reason_phrase_cannot_forge_lines_or_escapes(make_client):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(418, extensions={
            "reason_phrase": b"\x1b[2J\rERROR forged " + KEY.encode() + b"\nline"})

    client = make_client("https://shop.se/API/1", transport=httpx.MockTransport(handler))
    with pytest.raises(VendreResponseError) as caught:
        read_all(client)
    assert str(caught.value) == ("https://shop.se/API/1/products?offset=0: the shop answered "
                                 "HTTP 418 ?[2J?ERROR forged ***?line")


# ---------------------------------------------------------------- redirect


def test_a_redirect_to_another_host_is_not_followed_and_gets_no_key(make_client, sleeps):
    with HostileVendre(products=products(25), api_key=KEY, mode="redirect") as shop:
        with pytest.raises(VendreResponseError) as caught:
            read_all(make_client(shop.url))
        elsewhere = f"http://127.0.0.1:{shop.elsewhere.port}/API/1/products"
        assert str(caught.value) == (
            f"{shop.url}/products?offset=0: the shop answered HTTP 302, a redirect to "
            f"{elsewhere}; redirects are not followed (they could carry the key elsewhere), "
            "set vendre.api_url to the final https URL")
        assert caught.value.status == 302 and sleeps == []
        assert shop.elsewhere.requests == []


# ---------------------------------------------------------------- proxies


def test_the_environments_proxy_is_still_used(make_client, monkeypatch):
    # The client now reads the proxy itself (httpx's trust_env would mount a
    # transport of its own, without the request deadline): it must still be used.
    with HostileVendre(api_key=KEY) as shop:
        proxy = shop.elsewhere  # answers 404 to anything, CONNECT included
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        client = make_client("https://shop.example/API/1", retries=0)
        with pytest.raises(VendreUnavailable, match="ProxyError"):
            read_all(client)
        assert len(proxy.requests) == 1
        assert not proxy.requests[0].sent_key  # a CONNECT; the key would travel in the tunnel
