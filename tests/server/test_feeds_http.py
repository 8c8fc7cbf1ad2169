"""Feed and report routes through Flask's test client: caching, gzip, ranges, errors."""

from __future__ import annotations

import gzip
import logging
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.server.conftest import feed_xml

BODY = feed_xml(50)


@pytest.fixture
def google(publisher):
    """feeds/google.xml (+ .gz) published."""
    return publisher.feed("google", BODY, items=50)


def feed_url(key: str, name: str = "google.xml") -> str:
    return f"/feeds/{key}/{name}"


def test_get_serves_the_file_with_validators(client, key, google):
    r = client.get(feed_url(key))
    assert r.status_code == 200
    assert r.data == BODY
    assert r.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert r.headers["Content-Length"] == str(len(BODY))
    assert r.headers["ETag"].startswith('"') and r.headers["Last-Modified"]
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Vary"] == "Accept-Encoding"
    assert r.headers["Cache-Control"] == "no-cache"
    assert "Content-Encoding" not in r.headers
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]


def test_head_has_the_headers_and_no_body(client, key, google):
    get = client.get(feed_url(key))
    head = client.head(feed_url(key))
    assert head.status_code == 200 and head.data == b""
    for name in ("Content-Length", "ETag", "Last-Modified", "Content-Type"):
        assert head.headers[name] == get.headers[name]


def test_if_none_match_gives_304(client, key, google):
    etag = client.get(feed_url(key)).headers["ETag"]
    r = client.get(feed_url(key), headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.data == b""
    assert r.headers["ETag"] == etag
    assert client.get(feed_url(key), headers={"If-None-Match": '"other", ' + etag}).status_code \
        == 304
    assert client.get(feed_url(key), headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_modified_since_gives_304(client, key, google):
    last_modified = client.get(feed_url(key)).headers["Last-Modified"]
    assert client.get(feed_url(key), headers={"If-Modified-Since": last_modified}
                      ).status_code == 304
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    r = client.get(feed_url(key), headers={"If-Modified-Since": earlier})
    assert r.status_code == 200 and r.data == BODY


def test_a_replaced_feed_gets_a_new_etag(client, key, publisher, google):
    etag = client.get(feed_url(key)).headers["ETag"]
    publisher.feed("google", feed_xml(51), items=51)
    r = client.get(feed_url(key), headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.data == feed_xml(51)
    assert r.headers["ETag"] != etag


def test_gzip_serves_the_precompressed_file(client, key, publisher, google):
    plain = client.get(feed_url(key))
    r = client.get(feed_url(key), headers={"Accept-Encoding": "br, gzip;q=0.8"})
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip"
    assert r.headers["Vary"] == "Accept-Encoding"
    assert r.data == (publisher.layout.feeds / "google.xml.gz").read_bytes()
    assert gzip.decompress(r.data) == BODY
    assert r.headers["Content-Length"] == str(len(r.data))
    assert r.headers["ETag"] != plain.headers["ETag"]
    again = client.get(feed_url(key), headers={"Accept-Encoding": "gzip",
                                               "If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304
    # The identity ETag does not validate the gzip variant.
    assert client.get(feed_url(key), headers={"Accept-Encoding": "gzip",
                                              "If-None-Match": plain.headers["ETag"]}
                      ).status_code == 200


@pytest.mark.parametrize("accept", ["gzip;q=0", "identity", "deflate"])
def test_no_gzip_unless_accepted(client, key, google, accept):
    r = client.get(feed_url(key), headers={"Accept-Encoding": accept})
    assert "Content-Encoding" not in r.headers and r.data == BODY


def test_without_a_gz_file_the_feed_is_served_plain(client, key, publisher):
    publisher.feed("meta", BODY, gz=False)
    r = client.get(feed_url(key, "meta.xml"), headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.data == BODY and "Content-Encoding" not in r.headers


def test_a_stale_gz_is_not_served(client, key, publisher, google):
    gz = publisher.layout.feeds / "google.xml.gz"
    old = gz.stat().st_mtime - 3600
    os.utime(gz, (old, old))
    r = client.get(feed_url(key), headers={"Accept-Encoding": "gzip"})
    assert r.data == BODY and "Content-Encoding" not in r.headers


def test_range_requests_get_206(client, key, google):
    r = client.get(feed_url(key), headers={"Range": "bytes=0-9"})
    assert r.status_code == 206
    assert r.data == BODY[:10]
    assert r.headers["Content-Range"] == f"bytes 0-9/{len(BODY)}"
    assert r.headers["Content-Length"] == "10"
    tail = client.get(feed_url(key), headers={"Range": "bytes=-7"})
    assert tail.status_code == 206 and tail.data == BODY[-7:]
    middle = client.get(feed_url(key), headers={"Range": f"bytes=100-{len(BODY) - 1}"})
    assert middle.data == BODY[100:]


def test_range_on_the_gzip_variant(client, key, publisher, google):
    gz = (publisher.layout.feeds / "google.xml.gz").read_bytes()
    r = client.get(feed_url(key), headers={"Range": "bytes=0-1", "Accept-Encoding": "gzip"})
    assert r.status_code == 206 and r.data == gz[:2] == b"\x1f\x8b"


def test_an_unsatisfiable_range_is_416_without_details(client, key, google):
    r = client.get(feed_url(key), headers={"Range": f"bytes={len(BODY) + 10}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(BODY)}"
    assert r.data == b"416 Requested Range Not Satisfiable\n"


def test_if_range_with_an_old_etag_sends_the_whole_file(client, key, google):
    r = client.get(feed_url(key), headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert r.status_code == 200 and r.data == BODY


@pytest.mark.parametrize(("ext", "content_type"), [
    ("json", "application/json"), ("csv", "text/csv; charset=utf-8")])
def test_content_types(client, key, publisher, ext, content_type):
    publisher.feed("other", b"a,b\n1,2\n" if ext == "csv" else b"[]\n", ext=ext)
    r = client.get(feed_url(key, f"other.{ext}"))
    assert r.status_code == 200 and r.headers["Content-Type"] == content_type


def _comparable(response):
    headers = {k: v for k, v in response.headers.items() if k != "Date"}
    return response.status_code, response.data, headers


def test_wrong_key_and_unknown_file_answer_the_same_404(client, key, google):
    wrong_key = _comparable(client.get(feed_url("not-the-key")))
    also_wrong = _comparable(client.get(feed_url(key[:-1])))
    unknown_file = _comparable(client.get(feed_url(key, "nothing.xml")))
    assert wrong_key[0] == 404
    assert wrong_key == also_wrong == unknown_file
    assert wrong_key[1] == b"404 Not Found\n"


@pytest.mark.parametrize("name", [
    "google.xml.gz", ".google.xml", "google", "GOOGLE.XML", "google.exe", "..%2Fstate",
    "..%2Fcatalog.sqlite3", "%2e%2e"])
def test_only_published_feed_names_are_served(client, key, google, name):
    r = client.get(feed_url(key, name))
    assert r.status_code == 404 and r.data == b"404 Not Found\n"


def test_state_and_store_are_not_reachable(client, key, publisher, google):
    publisher.sync_ok()
    for path in (f"/feeds/{key}/../state/feeds/google.json", f"/feeds/{key}/../catalog.sqlite3",
                 f"/feeds/{key}/%2E%2E/catalog.sqlite3", "/catalog.sqlite3"):
        assert client.get(path).status_code == 404


def test_a_symlink_in_feeds_is_not_followed(client, key, publisher, google):
    (publisher.layout.feeds / "secret.xml").symlink_to(publisher.layout.feed_state("google"))
    assert client.get(feed_url(key, "secret.xml")).status_code == 404


def test_wrong_method_is_405(client, key, google):
    r = client.post(feed_url(key))
    assert r.status_code == 405
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
    assert r.data == b"405 Method Not Allowed\n"
    assert client.delete("/health").status_code == 405
    assert client.post("/").status_code == 405


@pytest.mark.parametrize("path", ["/nope", "/feeds", "/feeds/", "/feeds/x", "/reports/x",
                                  "/static/x.css", "/favicon.ico"])
def test_unknown_paths_are_404(client, path):
    r = client.get(path)
    assert r.status_code == 404 and r.data == b"404 Not Found\n"


def test_report_is_served_as_json(client, key, publisher, google):
    data = publisher.report("google", errors={"missing_gtin": 2})
    r = client.get(f"/reports/{key}/google.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.get_json() == data
    assert client.get(f"/reports/{key}/meta.json").status_code == 404
    assert _comparable(client.get("/reports/wrong/google.json")) == \
        _comparable(client.get(f"/reports/{key}/meta.json"))


def test_a_crash_shows_no_traceback_and_logs_no_key(client, key, google, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError(f"boom while reading /feeds/{key}/google.xml")

    monkeypatch.setattr("feeds.server.feeds_routes._open_feed", broken)
    with caplog.at_level(logging.INFO):
        r = client.get(feed_url(key) + f"?key={key}")
    assert r.status_code == 500
    assert r.data == b"500 Internal Server Error\n"
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "boom" in caplog.text and "Traceback" in caplog.text  # logged for the operator
    assert key not in caplog.text


def test_an_unreadable_store_is_not_a_500(client, key, publisher, google):
    publisher.layout.store.write_bytes(b"this is not sqlite" * 100)
    assert client.get(f"/?key={key}").status_code == 200
    assert client.get("/health").status_code == 200


def test_no_descriptor_is_leaked(client, key, google):
    fds = len(os.listdir("/proc/self/fd"))
    for headers in ({}, {"Accept-Encoding": "gzip"}, {"Range": "bytes=0-3"},
                    {"Range": "bytes=999999-"}, {"If-None-Match": "*"}):
        for _ in range(20):
            client.get(feed_url(key), headers=headers).close()
            client.head(feed_url(key), headers=headers).close()
    assert len(os.listdir("/proc/self/fd")) <= fds + 2


def test_access_log_masks_the_key(client, key, google, caplog):
    with caplog.at_level(logging.INFO, logger="feeds.server.access"):
        client.get(feed_url(key))
        client.get(feed_url("a-wrong-guess"))
        client.get(f"/?key={key}")
        client.get(f"/reports/{key}/google.json")
    lines = [r.getMessage() for r in caplog.records if r.name == "feeds.server.access"]
    assert len(lines) == 4
    assert "GET /feeds/***/google.xml 200" in lines[0]
    assert "a-wrong-guess" not in caplog.text and key not in caplog.text
    assert "GET /?key=*** 200" in lines[2]
