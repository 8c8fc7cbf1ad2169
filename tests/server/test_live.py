"""The feed routes under a real waitress server on 127.0.0.1, with httpx as the client."""

from __future__ import annotations

import gzip
import logging
import os
import random

import httpx
import pytest

from tests.server.conftest import feed_xml, replace_file

BODY = feed_xml(200)


@pytest.fixture
def server(live, app, publisher):
    """A live server with google.xml (+ .gz) published."""
    publisher.feed("google", BODY, items=200)
    return live(app)


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_get_head_and_conditional(http, key):
    url = f"/feeds/{key}/google.xml"
    r = http.get(url, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.content == BODY
    assert r.headers["content-type"] == "application/xml; charset=utf-8"
    assert r.headers["server"] == "vendre-feeds"
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    head = http.head(url, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(BODY))
    assert http.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "identity"}
                    ).status_code == 304
    assert http.get(url, headers={"If-Modified-Since": modified}).status_code == 304


def test_gzip_and_range(http, key, publisher):
    url = f"/feeds/{key}/google.xml"
    with http.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert raw == (publisher.layout.feeds / "google.xml.gz").read_bytes()
    assert gzip.decompress(raw) == BODY
    part = http.get(url, headers={"Range": "bytes=10-19", "Accept-Encoding": "identity"})
    assert part.status_code == 206 and part.content == BODY[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(BODY)}"


def test_errors(http, key, monkeypatch):
    wrong_key = http.get("/feeds/wrong-key/google.xml")
    unknown = http.get(f"/feeds/{key}/unknown.xml")
    assert wrong_key.status_code == unknown.status_code == 404
    assert wrong_key.content == unknown.content == b"404 Not Found\n"
    drop = {"date"}
    assert {k: v for k, v in wrong_key.headers.items() if k not in drop} == \
        {k: v for k, v in unknown.headers.items() if k not in drop}
    assert http.post(f"/feeds/{key}/google.xml").status_code == 405
    assert http.get("/no/such/page").status_code == 404

    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr("feeds.server.feeds_routes._open_feed", broken)
    crash = http.get(f"/feeds/{key}/google.xml")
    assert crash.status_code == 500 and crash.content == b"500 Internal Server Error\n"


def test_feed_replaced_during_download_arrives_whole(live, app, publisher, key, tmp_path):
    """Old bytes entirely for the download under way; the new file for the next request."""
    rng = random.Random(7)
    old = rng.randbytes(24 * 1024 * 1024)  # well beyond what socket buffers hold
    new = b"<rss>new</rss>\n" * 1000
    publisher.feed("big", old, gz=False)
    server = live(app)
    url = f"{server.url}/feeds/{key}/big.xml"
    with httpx.Client(timeout=30) as client, client.stream("GET", url) as response:
        assert response.headers["content-length"] == str(len(old))
        received = bytearray()
        chunks = response.iter_raw(64 * 1024)
        while len(received) < len(old) // 2:
            received += next(chunks)
        replace_file(publisher.layout.feeds / "big.xml", new)
        for chunk in chunks:
            received += chunk
    assert len(received) == len(old)
    assert bytes(received) == old
    assert httpx.get(url, timeout=10).content == new


def _server_log(caplog) -> str:
    """What the server side logged (the httpx client logs its own URLs, key included)."""
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if r.name.split(".")[0] in {"feeds", "waitress", "werkzeug", "flask"})


def test_server_logs_never_show_the_key(live, app, publisher, key, caplog, monkeypatch):
    publisher.feed("big", os.urandom(8 * 1024 * 1024), gz=False)
    server = live(app)
    with caplog.at_level(logging.DEBUG):
        with httpx.Client(base_url=server.url, timeout=10) as client:
            with client.stream("GET", f"/feeds/{key}/big.xml") as response:
                next(response.iter_raw(1024))  # and hang up early
            client.get(f"/?key={key}")
            client.get(f"/feeds/{key}x/big.xml")
            client.get(f"/reports/{key}/big.json")
            monkeypatch.setattr("feeds.server.status_page.gather_status", _explode)
            assert client.get(f"/?key={key}").status_code == 500
        # waitress writes request paths into its own messages: they pass our filter too.
        logging.getLogger("waitress").info("Client disconnected while serving %s",
                                           f"/feeds/{key}/big.xml")
    text = _server_log(caplog)
    assert "GET /?key=*** 200" in text and "GET /feeds/***/big.xml 200" in text
    assert "Traceback" in text and "serving /feeds/***/big.xml" in text
    assert key not in text


def _explode(*args, **kwargs):
    raise RuntimeError("status page broke")
