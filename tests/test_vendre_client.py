"""`feeds.vendre.client` against a fake Vendre on loopback (and a few MockTransport units)."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from feeds.errors import (
    ConfigError,
    IncompleteSync,
    VendreAuthError,
    VendreResponseError,
    VendreUnavailable,
)
from feeds.vendre.client import MAX_RETRY_AFTER_S, PageInfo, VendreClient, parse_retry_after
from tests.fakes.vendre_api import FakeVendre

KEY = "test-secret-key-5d1e8c"


def products(n: int) -> list[dict]:
    return [{"id": i, "name": f"Product {i}"} for i in range(n)]


def ids(pages: list[list[dict]]) -> list[list[object]]:
    return [[item.get("id") for item in page] for page in pages]


@pytest.fixture
def shop() -> Iterator[FakeVendre]:
    with FakeVendre(products=products(23), api_key=KEY) as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    """What the client's backoff asked to sleep (it never really sleeps here)."""
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[Callable[..., VendreClient]]:
    clients: list[VendreClient] = []

    def make(url: str, key: str = KEY, **kwargs: object) -> VendreClient:
        kwargs.setdefault("sleep", sleeps.append)
        client = VendreClient(url, key, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def mock_client(handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float],
                **kwargs: object) -> VendreClient:
    return VendreClient("https://shop.se/API/1", KEY, transport=httpx.MockTransport(handler),
                        sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- paging


def test_pages_follow_remaining_and_send_the_key_header(shop, make_client):
    client = make_client(shop.url, page_size=10)
    pages = list(client.iter_pages("products"))
    assert ids(pages) == [list(range(0, 10)), list(range(10, 20)), list(range(20, 23))]
    assert shop.offsets("products") == [0, 10, 20]
    for request in shop.requests:
        assert request.authorized
        assert request.accept == "application/json"
        assert request.query["page_size"] == "10"


def test_the_step_comes_from_the_first_page_when_the_shop_clamps_page_size(make_client):
    with FakeVendre(products=products(30), api_key=KEY, max_page_size=7) as shop:
        pages = list(make_client(shop.url, page_size=250).iter_pages("products"))
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert sum(ids(pages), []) == list(range(30))
    assert shop.offsets("products") == [0, 7, 14, 21, 28]


def test_an_empty_resource_yields_one_empty_page(shop, make_client):
    seen: list[PageInfo] = []
    client = make_client(shop.url, on_page=seen.append)
    assert list(client.iter_pages("orders")) == [[]]
    assert seen == [PageInfo("orders", 0, 0, 0)]


def test_on_page_reports_each_page_after_it_was_yielded(shop, make_client):
    seen: list[PageInfo] = []
    client = make_client(shop.url, page_size=10, on_page=seen.append)
    pages = client.iter_pages("products")
    next(pages)
    assert seen == []  # not before the consumer comes back for more
    list(pages)
    assert seen == [PageInfo("products", 0, 10, 23), PageInfo("products", 10, 10, 23),
                    PageInfo("products", 20, 3, 23)]


def test_order_is_deterministic_with_concurrency_and_random_latency(make_client):
    with FakeVendre(products=products(240), api_key=KEY, max_page_size=10,
                    latency=(0.0, 0.02), seed=7) as shop:
        client = make_client(shop.url, concurrency=4)
        for _ in range(2):
            pages = list(client.iter_pages("products"))
            assert sum(ids(pages), []) == list(range(240))
            assert [len(p) for p in pages] == [10] * 24


def test_concurrent_pages_overlap_but_stay_within_the_limit(make_client):
    with FakeVendre(products=products(120), api_key=KEY, max_page_size=10,
                    latency=0.03) as shop:
        list(make_client(shop.url, concurrency=4).iter_pages("products"))
        assert 1 < shop.max_in_flight <= 4


def test_concurrency_one_is_sequential(make_client):
    with FakeVendre(products=products(50), api_key=KEY, max_page_size=10,
                    latency=0.01) as shop:
        pages = list(make_client(shop.url, concurrency=1).iter_pages("products"))
        assert sum(ids(pages), []) == list(range(50))
        assert shop.max_in_flight == 1


def test_the_window_never_runs_ahead_of_the_consumer(make_client):
    concurrency = 2
    with FakeVendre(products=products(100), api_key=KEY, max_page_size=10) as shop:
        client = make_client(shop.url, concurrency=concurrency)
        for i, _page in enumerate(client.iter_pages("products")):
            time.sleep(0.02)  # a slow consumer: the workers could run far ahead
            assert len(shop.requests) <= i + 1 + concurrency


def test_breaking_off_early_stops_fetching(make_client):
    with FakeVendre(products=products(1000), api_key=KEY, max_page_size=10,
                    latency=0.01) as shop:
        client = make_client(shop.url, concurrency=4)
        for _page in client.iter_pages("products"):
            break
        asked = len(shop.requests)
        time.sleep(0.05)
        assert len(shop.requests) == asked <= 1 + 4


def test_a_generated_catalogue_is_served_without_a_list(make_client):
    def generate(offset: int, limit: int) -> list[dict]:
        return [{"id": i} for i in range(offset, offset + limit)]

    with FakeVendre(products=generate, totals={"products": 1234}, api_key=KEY,
                    max_page_size=250) as shop:
        pages = list(make_client(shop.url, page_size=500).iter_pages("products"))
    assert [len(p) for p in pages] == [250, 250, 250, 250, 234]
    assert sum(ids(pages), []) == list(range(1234))


# ---------------------------------------------------------------- de-duplication


def test_duplicates_are_dropped_and_the_shortfall_is_incomplete(make_client):
    items = [{"id": 1}, {"id": 2}, {"id": 2}, {"id": 3}]
    pages: list[list[dict]] = []
    with FakeVendre(products=items, api_key=KEY, max_page_size=2) as shop:
        with pytest.raises(IncompleteSync) as caught:
            pages.extend(make_client(shop.url).iter_pages("products"))
    assert ids(pages) == [[1, 2], [3]]
    assert str(caught.value) == ("products: read 3 of 4 promised items; the catalogue may have "
                                 "changed during the sync, run it again")


def test_a_catalogue_that_shifts_during_the_sync_is_incomplete(make_client):
    items = products(6)
    pages: list[list[dict]] = []
    with FakeVendre(products=items, api_key=KEY, max_page_size=3) as shop:
        client = make_client(shop.url, concurrency=1)
        with pytest.raises(IncompleteSync, match="read 5 of 6 promised"):
            for page in client.iter_pages("products"):
                pages.append(page)
                items.insert(0, {"id": 99})  # a product added while we read
    # The last item of page 1 moved into page 2: dropped, not yielded twice.
    assert ids(pages) == [[0, 1, 2], [3, 4]]


def test_items_without_a_key_are_kept_and_counted(make_client):
    items = [{"name": "a"}, {"name": "b"}, {"id": None}, {"id": 1}, {"name": "c"}]
    with FakeVendre(products=items, api_key=KEY, max_page_size=2) as shop:
        pages = list(make_client(shop.url).iter_pages("products"))
    assert sum(len(p) for p in pages) == 5


def test_a_custom_key_de_duplicates(make_client):
    items = [{"sku": "A"}, {"sku": "B"}, {"sku": "A"}]
    with FakeVendre(products=items, api_key=KEY) as shop:
        client = make_client(shop.url)
        with pytest.raises(IncompleteSync, match="read 2 of 3"):
            list(client.iter_pages("products", key=lambda item: item["sku"]))


def test_an_empty_first_page_that_promises_more_is_an_error(sleeps):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"list": [], "remaining": 5})

    with mock_client(handler, sleeps) as client:
        with pytest.raises(VendreResponseError, match=r"products\?offset=0: the first page is "
                                                      "empty but says 5 more items follow"):
            list(client.iter_pages("products"))


# ---------------------------------------------------------------- retries


def test_a_500_recovers_on_retry(shop, make_client, sleeps):
    shop.fail("products", 10, 500)
    pages = list(make_client(shop.url, page_size=10).iter_pages("products"))
    assert sum(ids(pages), []) == list(range(23))
    assert shop.offsets("products") == [0, 10, 10, 20]
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 2.0  # first backoff step + jitter


def test_a_429_honours_retry_after_seconds(shop, make_client, sleeps):
    shop.fail("products", 0, 429, headers={"Retry-After": "7"})
    list(make_client(shop.url, page_size=10).iter_pages("products"))
    assert sleeps == [7.0]


def test_a_429_honours_retry_after_as_an_http_date(shop, make_client, sleeps):
    when = datetime.now(UTC) + timedelta(seconds=30)
    shop.fail("products", 0, 429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    list(make_client(shop.url, page_size=10).iter_pages("products"))
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


@pytest.mark.parametrize(("header", "seconds"), [
    ("7", 7.0), (" 0 ", 0.0), ("3600", MAX_RETRY_AFTER_S), ("-5", 0.0),
    ("Sun, 01 Jan 2023 00:01:00 GMT", 60.0), ("Sat, 31 Dec 2022 23:00:00 GMT", 0.0),
    ("Sun, 01 Jan 2023 09:00:00 GMT", MAX_RETRY_AFTER_S),
    ("", None), (None, None), ("soon", None), ("nan", None),
])
def test_parse_retry_after(header, seconds):
    now = datetime(2023, 1, 1, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_retries_exhausted_on_5xx(shop, make_client, sleeps):
    shop.fail("products", 10, 503, times=None)
    client = make_client(shop.url, page_size=10, retries=3)
    with pytest.raises(VendreResponseError) as caught:
        list(client.iter_pages("products"))
    assert caught.value.status == 503
    assert str(caught.value) == (f"{shop.url}/products?offset=10: the shop answered HTTP 503 "
                                 "(gave up after 4 tries)")
    assert shop.offsets("products").count(10) == 4
    assert len(sleeps) == 3
    assert sleeps == sorted(sleeps)  # exponential, growing


def test_retries_zero_means_one_try(shop, make_client, sleeps):
    shop.fail("products", 0, 502, times=None)
    with pytest.raises(VendreResponseError, match="gave up after 1 tries"):
        list(make_client(shop.url, retries=0).iter_pages("products"))
    assert sleeps == []


def test_a_timeout_is_retried_then_unavailable(shop, make_client, sleeps):
    shop.delay("products", 0, 5.0)
    client = make_client(shop.url, timeout_s=0.2, retries=2)
    started = time.monotonic()
    with pytest.raises(VendreUnavailable) as caught:
        list(client.iter_pages("products"))
    assert time.monotonic() - started < 2.0
    assert len(sleeps) == 2
    message = str(caught.value)
    assert message.startswith(f"{shop.url}/products?offset=0: ReadTimeout")
    assert message.endswith("(gave up after 3 tries)")


def test_a_timeout_that_clears_recovers(shop, make_client, sleeps):
    shop.delay("products", 10, 5.0, times=1)
    pages = list(make_client(shop.url, page_size=10, timeout_s=0.2).iter_pages("products"))
    assert sum(ids(pages), []) == list(range(23))
    assert len(sleeps) == 1


def test_a_refused_connection_is_unavailable(make_client, sleeps):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/API/1", retries=2)
    with pytest.raises(VendreUnavailable, match=r"ConnectError.*\(gave up after 3 tries\)"):
        list(client.iter_pages("products"))
    assert len(sleeps) == 2


def test_a_failing_page_stops_the_others_quickly(make_client, sleeps):
    with FakeVendre(products=products(200), api_key=KEY, max_page_size=10) as shop:
        shop.fail("products", 30, 500, times=None)
        client = make_client(shop.url, concurrency=4, retries=2)
        with pytest.raises(VendreResponseError, match="offset=30"):
            list(client.iter_pages("products"))
        assert max(o for o in shop.offsets("products") if o is not None) <= 30 + 4 * 10


# ---------------------------------------------------------------- errors that are not retried


def test_a_wrong_key_is_refused_at_once(shop, make_client, sleeps):
    client = make_client(shop.url, key="not-the-right-key")
    with pytest.raises(VendreAuthError) as caught:
        list(client.iter_pages("products"))
    assert str(caught.value) == f"the API key was refused (HTTP 401) by {shop.url}/products"
    assert len(shop.requests) == 1 and sleeps == []


def test_a_403_is_an_auth_error(sleeps):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(403)

    with mock_client(handler, sleeps) as client:
        with pytest.raises(VendreAuthError, match=r"\(HTTP 403\) by https://shop.se/API/1/orders"):
            list(client.iter_pages("orders"))
    assert len(calls) == 1
    assert calls[0].headers["X-Authorization"] == KEY  # raw, no "Bearer"
    assert "Authorization" not in calls[0].headers


def test_a_missing_resource_is_a_404(shop, make_client, sleeps):
    shop.missing("orders")
    with pytest.raises(VendreResponseError) as caught:
        list(make_client(shop.url).iter_pages("orders"))
    assert caught.value.status == 404
    assert str(caught.value) == f"{shop.url}/orders?offset=0: the shop answered HTTP 404 NOT FOUND"
    assert sleeps == []


def test_another_4xx_is_not_retried(sleeps):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400)

    with mock_client(handler, sleeps) as client:
        with pytest.raises(VendreResponseError) as caught:
            list(client.iter_pages("products"))
    assert caught.value.status == 400 and sleeps == []


def test_a_redirect_is_not_followed(sleeps):
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(302, headers={"Location": "https://elsewhere.example/API/1"})

    with mock_client(handler, sleeps) as client:
        with pytest.raises(VendreResponseError, match="redirect to https://elsewhere") as caught:
            list(client.iter_pages("products"))
    assert caught.value.status == 302
    assert hosts == ["shop.se"]


def test_broken_json_names_the_url_and_offset(shop, make_client, sleeps):
    shop.broken_json("products", 10)
    client = make_client(shop.url, page_size=10)
    with pytest.raises(VendreResponseError) as caught:
        list(client.iter_pages("products"))
    assert str(caught.value) == (f"{shop.url}/products?offset=10: the answer is not the "
                                 "{list, remaining} JSON envelope (not JSON)")
    assert caught.value.status is None
    assert shop.offsets("products").count(10) == 1 and sleeps == []


@pytest.mark.parametrize("body", [
    [], {"list": {}, "remaining": 0}, {"list": []}, {"list": [], "remaining": "0"},
    {"list": [], "remaining": True}, {"list": [], "remaining": -1}, {"list": [1], "remaining": 0},
    {"items": [], "remaining": 0}, None,
])
def test_a_body_that_is_not_the_envelope_is_an_error(body, sleeps):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(body).encode())

    expected = r"^https://shop.se/API/1/products\?offset=0: the answer is not the \{list, rem"
    with mock_client(handler, sleeps) as client:
        with pytest.raises(VendreResponseError, match=expected):
            list(client.iter_pages("products"))


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("url", ["http://shop.se/API/1", "ftp://shop.se/API/1", "shop.se/API/1",
                                 "", "https://"])
def test_only_https_is_accepted(url):
    with pytest.raises(ConfigError, match=r"^vendre.api_url: must be https$"):
        VendreClient(url, KEY)


@pytest.mark.parametrize("url", ["https://shop.se/API/1/", "http://127.0.0.1:9/API/1",
                                 "http://localhost:9/API/1"])
def test_https_and_loopback_http_are_accepted(url):
    with VendreClient(url, KEY) as client:
        assert client.api_url == url.rstrip("/")


def test_a_url_with_credentials_is_refused():
    with pytest.raises(ConfigError, match="user name or password"):
        VendreClient("https://user:pw@shop.se/API/1", KEY)


@pytest.mark.parametrize("kwargs", [{"page_size": 0}, {"concurrency": 0}, {"retries": -1},
                                    {"timeout_s": 0}])
def test_bad_numbers_are_config_errors(kwargs):
    with pytest.raises(ConfigError, match=r"^vendre\."):
        VendreClient("https://shop.se/API/1", KEY, **kwargs)


@pytest.mark.parametrize("key", ["", "has space", "line\nbreak"])
def test_a_malformed_key_is_refused_without_quoting_it(key):
    with pytest.raises(ConfigError) as caught:
        VendreClient("https://shop.se/API/1", key)
    assert key not in str(caught.value) or key == ""


# ---------------------------------------------------------------- the key never leaks


def test_the_key_never_appears_in_messages_logs_or_repr(shop, make_client, caplog, sleeps):
    caplog.set_level(logging.DEBUG)
    shop.fail("products", 10, 500, times=None)
    shop.broken_json("categories", 0)
    shop.delay("orders", 0, 5.0)
    client = make_client(shop.url, page_size=10, retries=1, timeout_s=0.2)
    messages = [repr(client), str(client)]
    for resource in ("products", "categories", "orders"):
        with pytest.raises(Exception) as caught:  # noqa: B017 - any error; its text matters
            list(client.iter_pages(resource))
        exc: BaseException | None = caught.value
        while exc is not None:  # the whole chain, as a traceback would show it
            messages.append(str(exc))
            exc = exc.__cause__ or exc.__context__
    wrong = make_client(shop.url, key="wrong-key")
    with pytest.raises(VendreAuthError) as caught:
        list(wrong.iter_pages("products"))
    messages.append(str(caught.value))
    assert caplog.records  # the debug lines were captured
    assert all(KEY not in m for m in messages)
    assert KEY not in caplog.text
    assert all(KEY not in repr(v) for v in vars(client).values())
    assert all(KEY not in repr(r) for r in shop.requests)
