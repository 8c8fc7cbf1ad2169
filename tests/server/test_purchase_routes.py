"""The webhook and beacon routes (issue 18): secrets, caps, hostile bodies, origins, the
client's IP behind the proxy, and no secret in any log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from flask import Flask

from feeds.purchases.intake import client_ip
from feeds.server import create_app
from feeds.server.run import MAX_REQUEST_BODY_BYTES, feed_urls
from feeds.storage.inbox import Inbox
from tests.conftest import make_config

SECRET = "hook-secret-Vq7uP2xL9nB4"
SHOP = "https://shop.example"
GRANTED = {"ad_storage": "granted", "analytics_storage": "granted", "ad_user_data": "granted",
           "ad_personalization": "granted"}


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("VENDRE_FEEDS_WEBHOOK_SECRET", SECRET)
    return make_config(tmp_path, server={"access_key": "test-access-key-Zq81vNw3"},
                       tracking={"site_key": "site1", "ga4_id": "G-ABCD1234"},
                       purchases={"enabled": True, "max_beacons": 3})


@pytest.fixture
def web(cfg) -> Flask:
    app = create_app(cfg)
    return app.test_client()


def stored(cfg) -> list[str]:
    return [h.order_id for h in Inbox.in_dir(cfg.data_dir).webhooks()]


def beacons(cfg, number: str = "5006") -> list[dict[str, Any]]:
    return [b.data for b in Inbox.in_dir(cfg.data_dir).beacons_for([number]).get(number, [])]


# ---------------------------------------------------------------- webhooks


def test_a_webhook_is_stored_once_and_repeats_are_idempotent(cfg, web):
    body = json.dumps({"id": 5006, "status_id": 3, "products": []})
    first = web.post(f"/hooks/vendre/{SECRET}", data=body)
    assert (first.status_code, first.text) == (200, "order 5006 stored\n")
    again = web.post(f"/hooks/vendre/{SECRET}", data=body)
    assert (again.status_code, again.text) == (200, "order 5006 was stored already\n")
    assert stored(cfg) == ["5006"]
    assert Inbox.in_dir(cfg.data_dir).open_count() == 1


@pytest.mark.parametrize("path", [f"/hooks/vendre/{SECRET}x", "/hooks/vendre/", "/hooks/vendre/x",
                                  f"/hooks/vendre/{SECRET[:-1]}"])
def test_a_wrong_secret_is_refused_and_nothing_is_kept(cfg, web, path):
    response = web.post(path, data=json.dumps({"id": 1}))
    assert response.status_code == 404
    assert SECRET not in response.text
    assert stored(cfg) == []


def test_without_the_secret_in_the_environment_there_is_no_webhook_url(cfg, monkeypatch):
    monkeypatch.delenv("VENDRE_FEEDS_WEBHOOK_SECRET")
    web = create_app(cfg).test_client()
    assert web.post("/hooks/vendre/", data="{}").status_code == 404
    assert web.post(f"/hooks/vendre/{SECRET}", data='{"id": 1}').status_code == 404
    assert any("set the environment variable VENDRE_FEEDS_WEBHOOK_SECRET" in line
               for line in feed_urls(cfg))


def test_urls_prints_the_webhook_url(cfg):
    (line,) = [x for x in feed_urls(cfg) if "order webhooks" in x]
    assert line.endswith(f"/hooks/vendre/{SECRET}")


@pytest.mark.parametrize(("body", "status", "text"), [
    (b"x" * (2 * 1024 * 1024), 413, "the body is larger than 1 MB"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "the body is not a JSON object"),
    (b'{"id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "the body is not a JSON object"),
    (b"this is not JSON", 400, "the body is not a JSON object"),
    (b"", 400, "the body is empty"),
    (b"[1, 2]", 400, "the body is not a JSON object"),
    (b'{"note": "no id", "products": []}', 400, "the order has no readable id"),
    (b'{"id": {"nested": 1}}', 400, "the order has no readable id"),
])
def test_hostile_webhooks_get_one_line_and_are_kept_nowhere(cfg, web, body, status, text):
    response = web.post(f"/hooks/vendre/{SECRET}", data=body)
    assert response.status_code == status
    assert response.text.startswith(text) and response.text.count("\n") == 1
    assert stored(cfg) == []


def test_the_server_takes_1_mb_bodies_at_most_under_waitress(cfg, live):
    server = live(create_app(cfg), settings=cfg.server)
    big = b'{"id": 7, "pad": "' + b"x" * (MAX_REQUEST_BODY_BYTES - 40) + b'"}'
    assert len(big) < MAX_REQUEST_BODY_BYTES
    assert httpx.post(f"{server.url}/hooks/vendre/{SECRET}", content=big).status_code == 200
    huge = b"x" * (2 * 1024 * 1024)
    assert httpx.post(f"{server.url}/hooks/vendre/{SECRET}", content=huge).status_code == 413
    assert stored(cfg) == ["7"]
    # A route that takes no body still answers as before with one.
    assert httpx.post(f"{server.url}/health", content=b"x" * 1000).status_code == 405


def test_the_purchases_benchmark_runs(tmp_path, monkeypatch):
    """bench/purchases_bench.py measures the answers (no timing assertion here)."""
    from bench import purchases_bench

    monkeypatch.setenv("VENDRE_FEEDS_WEBHOOK_SECRET", "restored-after-the-test")
    answers = purchases_bench.measure_answers(5, tmp_path)
    full = purchases_bench.measure_answers(2, tmp_path, waiting=50, only=("webhook",))
    run = purchases_bench.measure_run(5, tmp_path)
    assert set(answers) == {"webhook", "beacon", "health"} and run["orders"] == 5
    assert set(full) == {"webhook"}
    assert Inbox.in_dir(tmp_path / "answers-50").open_count() == 52  # 50 filled, 2 sent
    assert run["ga4_requests"] == 5 and run["meta_requests"] == 1
    text = purchases_bench.section(answers, run, 5, full, 50)
    assert "| `POST /hooks/vendre/<secret>`" in text and "with 50 orders waiting" in text


def test_too_many_waiting_webhooks_get_503(cfg, monkeypatch):
    from feeds.purchases import intake

    inbox = Inbox.in_dir(cfg.data_dir)
    for n in range(3):
        assert intake.receive_webhook(json.dumps({"id": n}).encode(), inbox, _now(),
                                      max_open=3).status == 200
    full = intake.receive_webhook(b'{"id": 99}', inbox, _now(), max_open=3)
    assert full.status == 503 and ("Retry-After", "60") in full.headers
    # A changed body of an order already waiting is still taken.
    assert intake.receive_webhook(b'{"id": 1, "status_id": 2}', inbox, _now(),
                                  max_open=3).status == 200


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


# ---------------------------------------------------------------- beacons


def post_beacon(web, body: Any, *, origin: str = SHOP, kind: str = "text/plain;charset=UTF-8",
                key: str = "site1", **headers: str):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return web.post(f"/t/{key}/seen", data=data,
                    headers={"Origin": origin, "Content-Type": kind,
                             "User-Agent": "Mozilla/5.0 Test", **headers})


def test_a_consented_beacon_is_kept_and_answered_without_data(cfg, web):
    body = {"order": "5006", "ga_client_id": "123.456", "ga_session_id": "1700000000",
            "fbp": "fb.1.1700000000000.123", "fbc": "fb.1.1700000000000.IwAR1",
            "page_url": f"{SHOP}/tack?order=5006&email=x%40y.se", "consent": GRANTED}
    response = post_beacon(web, body)
    assert response.status_code == 204 and response.data == b""
    (kept,) = beacons(cfg)
    assert kept["ga_client_id"] == "123.456" and kept["fbc"] == "fb.1.1700000000000.IwAR1"
    assert kept["page_url"] == f"{SHOP}/tack"  # no query: it may hold an e-mail
    assert kept["user_agent"] == "Mozilla/5.0 Test" and kept["ip"] == "127.0.0.1"
    assert post_beacon(web, body, kind="application/json").status_code == 204


def test_a_beacon_keeps_only_what_consent_allows(cfg, web):
    body = {"order": "5006", "ga_client_id": "123.456", "fbp": "fb.1.1700000000000.123",
            "page_url": f"{SHOP}/tack", "consent": {**GRANTED, "ad_storage": "denied",
                                                    "analytics_storage": "denied"}}
    assert post_beacon(web, body).status_code == 204
    (kept,) = beacons(cfg)
    assert set(kept) == {"consent"}  # no ids, no UA, no IP, no URL
    assert kept["consent"]["ad_storage"] == "denied"


@pytest.mark.parametrize(("kw", "status"), [
    ({"origin": "https://evil.example"}, 403),
    ({"origin": ""}, 403),
    ({"origin": "http://shop.example"}, 403),
    ({"kind": "application/x-www-form-urlencoded"}, 415),
    ({"key": "other-site"}, 404),
])
def test_beacons_from_elsewhere_are_refused(cfg, web, kw, status):
    response = post_beacon(web, {"order": "5006", "consent": GRANTED}, **kw)
    assert response.status_code == status and response.data == b""
    assert beacons(cfg) == []


@pytest.mark.parametrize("body", [b"x" * 5000, b"[" * 3000, b"not json", b'{"consent": {}}',
                                  b'{"order": ""}', b'{"order": {"a": 1}}', b"[]"])
def test_hostile_beacons_are_refused_without_data(cfg, web, body):
    response = post_beacon(web, body)
    assert response.status_code in (400, 413) and response.data == b""
    assert beacons(cfg) == []


def test_beacons_are_capped_the_oldest_going_first(cfg, web):
    for n in range(5):
        assert post_beacon(web, {"order": str(n), "consent": GRANTED}).status_code == 204
    assert Inbox.in_dir(cfg.data_dir).beacon_count() == 3
    assert beacons(cfg, "0") == [] and beacons(cfg, "4") != []


def test_the_preflight_of_a_json_beacon(cfg, web):
    ok = web.options("/t/site1/seen", headers={"Origin": SHOP})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == SHOP
    assert web.options("/t/site1/seen",
                       headers={"Origin": "https://evil.example"}).status_code == 403


# ---------------------------------------------------------------- the client's IP


@pytest.mark.parametrize(("peer", "forwarded", "want"), [
    ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
    ("127.0.0.1", "1.1.1.1, 203.0.113.9", "203.0.113.9"),    # the one nginx appended
    ("198.51.100.4", "203.0.113.9", "198.51.100.4"),           # not our proxy: ignored
    ("127.0.0.1", "", "127.0.0.1"),
    ("127.0.0.1", "garbage", ""),
    ("::1", "2001:db8::1", "2001:db8::1"),
])
def test_the_client_ip_comes_from_the_proxy_only_when_it_is_ours(peer, forwarded, want):
    assert client_ip(peer, forwarded, ["127.0.0.1", "::1"]) == want


def test_a_spoofed_forwarded_for_from_outside_is_ignored(cfg, web):
    body = {"order": "5006", "consent": GRANTED}
    post_beacon(web, body, **{"X-Forwarded-For": "6.6.6.6"})
    web.post("/t/site1/seen", data=json.dumps(body).encode(),
             headers={"Origin": SHOP, "Content-Type": "text/plain",
                      "X-Forwarded-For": "6.6.6.6"},
             environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert [b["ip"] for b in beacons(cfg)] == ["6.6.6.6", "198.51.100.4"]


# ---------------------------------------------------------------- logs


def test_the_webhook_secret_never_reaches_a_log_line(cfg, web, caplog):
    with caplog.at_level(logging.INFO):
        web.post(f"/hooks/vendre/{SECRET}", data=b'{"id": 1}')
        web.post(f"/hooks/vendre/{SECRET}", data=b"not json")
        web.post(f"/hooks/vendre/{SECRET}zz", data=b'{"id": 1}')
    text = caplog.text
    assert "/hooks/vendre/***" in text
    assert SECRET not in text


def test_the_webhook_counts_are_read_from_the_index_alone(cfg):
    """A webhook's capacity check and the poller's look run on every request and every
    few seconds: each is answered from an index, never from the table rows, whose bodies
    (up to 1 MB each) stand before processed_at. The index that left processed_at out
    read every waiting body for one count: 1 s a webhook at 99,000 waiting orders."""
    import sqlite3

    from feeds.storage import inbox as inbox_module

    inbox = Inbox.in_dir(cfg.data_dir)
    inbox.put_webhook("1", b'{"id": 1}', _now(), 10)
    with sqlite3.connect(inbox.path) as conn:
        for sql, args in ((inbox_module.COUNT_WAITING, ()),
                          (inbox_module.COUNT_WAITING + inbox_module.RECEIVED_BEFORE, (0,))):
            plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
            assert "COVERING INDEX" in plan, (sql, plan)
