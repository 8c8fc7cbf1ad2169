"""Range requests as RFC 9110 section 14 has them.

One `bytes` range is served: 206 with that part, or 416 when it lies wholly
past the end. A Range with another unit must be ignored; several ranges and a
malformed or invalid spec may be, and are: the answer is the whole feed, 200.
"""

from __future__ import annotations

import httpx
import pytest

from tests.server.conftest import feed_xml

BODY = feed_xml(50)
N = len(BODY)


@pytest.fixture
def url(publisher, key):
    publisher.feed("google", BODY, items=50)
    return f"/feeds/{key}/google.xml"


def get(client, url, range_: str, **headers: str):
    return client.get(url, headers={"Range": range_, "Accept-Encoding": "identity", **headers})


@pytest.mark.parametrize("range_", [
    "items=0-5",  # a unit we do not know: MUST be ignored (14.2)
    "lines=1-2",
    "bytes=0-1,5-9",  # several ranges: no multipart, the whole feed
    "bytes=0-1, -5",
    "bytes=-5,0-1",
    "bytes=abc",  # malformed
    "bytes=",
    "bytes",
    "bytes=1-2-3",
    "bytes=--5",
    "bytes=+1-2",
    "bytes=0x10-",
    "bytes=1.5-2",
    "bytes=-",
    "bytes 0-5",
    "=0-5",
    "bytes=9-3",  # last before first: invalid (14.1.1), not unsatisfiable
    f"bytes={N + 9}-{N + 3}",
    "bytes=٣-٥",  # Arabic-Indic digits are digits to int(), not to the RFC
])
def test_a_range_we_do_not_serve_is_ignored(client, url, range_):
    r = get(client, url, range_)
    assert r.status_code == 200, range_
    assert r.data == BODY
    assert "Content-Range" not in r.headers
    assert r.headers["Content-Length"] == str(N)
    assert r.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(("range_", "first", "last"), [
    ("bytes=0-9", 0, 9),
    ("BYTES=0-9", 0, 9),  # the unit is case-insensitive
    ("Bytes=10-", 10, N - 1),
    (f"bytes=0-{N + 1000}", 0, N - 1),  # a last position past the end: up to the end
    ("bytes=0-" + "9" * 40, 0, N - 1),
    ("bytes=-7", N - 7, N - 1),
    (f"bytes=-{N + 1000}", 0, N - 1),  # a suffix longer than the feed: all of it
    ("bytes=-" + "9" * 40, 0, N - 1),
    (f"bytes={N - 1}-", N - 1, N - 1),
    ("bytes=007-009", 7, 9),
    (" bytes=3-4 ", 3, 4),
])
def test_one_satisfiable_bytes_range_is_206(client, url, range_, first, last):
    r = get(client, url, range_)
    assert r.status_code == 206, range_
    assert r.data == BODY[first:last + 1]
    assert r.headers["Content-Range"] == f"bytes {first}-{last}/{N}"
    assert r.headers["Content-Length"] == str(last - first + 1)


@pytest.mark.parametrize("range_", [
    f"bytes={N}-", f"bytes={N + 10}-", f"bytes={N}-{N + 10}", "bytes=-0",
    "bytes=" + "9" * 5000 + "-",
])
def test_one_unsatisfiable_bytes_range_is_416(client, url, range_):
    r = get(client, url, range_)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{N}"
    assert r.data == b"416 Requested Range Not Satisfiable\n"


def test_if_range_still_decides_first(client, url):
    etag = client.get(url, headers={"Accept-Encoding": "identity"}).headers["ETag"]
    assert get(client, url, "bytes=0-9", **{"If-Range": etag}).status_code == 206
    assert get(client, url, "bytes=0-9", **{"If-Range": '"old"'}).status_code == 200
    assert get(client, url, "items=0-5", **{"If-Range": etag}).status_code == 200


def test_head_answers_like_get(client, url):
    r = client.head(url, headers={"Range": "items=0-5", "Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.headers["Content-Length"] == str(N)
    r = client.head(url, headers={"Range": "bytes=0-9", "Accept-Encoding": "identity"})
    assert r.status_code == 206 and r.headers["Content-Range"] == f"bytes 0-9/{N}"


def test_ranges_through_waitress(live, app, url):
    server = live(app)
    with httpx.Client(base_url=server.url, timeout=10,
                      headers={"Accept-Encoding": "identity"}) as http:
        whole = http.get(url, headers={"Range": "items=0-5"})
        several = http.get(url, headers={"Range": "bytes=0-1,4-5"})
        part = http.get(url, headers={"Range": "bytes=-5"})
        beyond = http.get(url, headers={"Range": f"bytes={N}-"})
    assert (whole.status_code, whole.content) == (200, BODY)
    assert (several.status_code, several.content) == (200, BODY)
    assert (part.status_code, part.content) == (206, BODY[-5:])
    assert beyond.status_code == 416
