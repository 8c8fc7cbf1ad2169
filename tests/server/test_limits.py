"""waitress's connection limits under clients that hold connections open.

A real server on 127.0.0.1, built as `serve` builds it (`create_server` with
`[server] connection_limit` and `channel_timeout_s`), and raw sockets that
either trickle header lines (never idle, never done) or send nothing at all.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from feeds.config import ServerSettings
from feeds.errors import ConfigError
from feeds.server.run import (
    CLEANUP_INTERVAL_S,
    MAX_REQUEST_BODY_BYTES,
    SEND_BUFFER_BYTES,
    create_server,
)
from tests.conftest import make_config
from tests.server.conftest import ACCESS_KEY, feed_xml

HEADER_START = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def settings(tmp_path, **server) -> ServerSettings:
    """`[server]` as the config loader builds it from `server`."""
    return make_config(tmp_path, server={"access_key": ACCESS_KEY, **server}).server


def accepted(live_server) -> int:
    """Client connections waitress holds open right now."""
    return len(live_server.server.active_channels)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


@contextmanager
def connections(live_server, count: int, *, trickle_every: float | None) -> Iterator[list]:
    """`count` connections that sent the start of a header; with `trickle_every`, each
    sends one more header line that often (so none is ever idle), else nothing more."""
    port = live_server.server.effective_port
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(trickle_every):
            for sock in socks:
                try:
                    sock.send(b"X-Trickle: 1\r\n")
                except OSError:
                    pass  # closed by the server: `accepted` shows it

    thread = threading.Thread(target=trickle, daemon=True)
    try:
        for sock in socks:
            sock.sendall(HEADER_START if trickle_every else b"")
        if trickle_every:
            thread.start()
        yield socks
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(5)
        for sock in socks:
            sock.close()


@pytest.fixture
def healthy(publisher):
    """A fresh feed and a good sync: /health answers 200."""
    publisher.feed("google", feed_xml(3))
    publisher.sync_ok()


def test_waitress_gets_the_configured_limits(tmp_path, app):
    cfg = settings(tmp_path, threads=3, connection_limit=321, channel_timeout_s=2)
    server = create_server(app, cfg, "127.0.0.1", 0)
    try:
        adj = server.adj
        assert (adj.threads, adj.connection_limit, adj.channel_timeout) == (3, 321, 2)
        assert adj.cleanup_interval == 2  # never longer than the timeout it enforces
        assert adj.max_request_body_size == MAX_REQUEST_BODY_BYTES
        assert adj.asyncore_use_poll  # select() fails beyond 1024 descriptors
    finally:
        server.close()
    defaults = create_server(app, ServerSettings(), "127.0.0.1", 0)
    try:
        assert (defaults.adj.connection_limit, defaults.adj.channel_timeout) == (1000, 30)
        assert defaults.adj.cleanup_interval == CLEANUP_INTERVAL_S
    finally:
        defaults.close()


def test_connections_get_the_small_send_buffer(tmp_path, live, app):
    """Set on the listener, inherited by each accepted connection (not autotuned to 4 MB)."""
    server = live(app, settings=settings(tmp_path))
    with socket.create_connection(("127.0.0.1", server.server.effective_port)):
        wait_until(lambda: accepted(server) == 1, 5, "the connection is accepted")
        [channel] = server.server.active_channels.values()
        size = channel.socket.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    assert SEND_BUFFER_BYTES <= size <= 2 * SEND_BUFFER_BYTES  # Linux doubles what is set


@pytest.mark.parametrize(("name", "value"), [
    ("connection_limit", 0), ("connection_limit", 100_001),
    ("channel_timeout_s", 0), ("channel_timeout_s", 3601),
])
def test_limits_out_of_range_are_config_errors(tmp_path, name, value):
    with pytest.raises(ConfigError, match=rf"^server\.{name}: must be from 1 to"):
        settings(tmp_path, **{name: value})


def test_limits_from_the_environment(tmp_path):
    from feeds.config import load_config

    cfg = load_config(env={"VENDRE_FEEDS_SERVER_CONNECTION_LIMIT": "5000",
                           "VENDRE_FEEDS_SERVER_CHANNEL_TIMEOUT_S": "60",
                           "VENDRE_FEEDS_SHOP_BASE_URL": "https://shop.example"},
                      use_file=False)
    assert (cfg.server.connection_limit, cfg.server.channel_timeout_s) == (5000, 60)


def test_health_answers_while_150_connections_trickle_headers(tmp_path, live, app, healthy):
    """The attack of the issue, scaled down: with room above them, tricklers hold
    their connections (trickled bytes are activity) and /health still answers."""
    server = live(app, settings=settings(tmp_path, connection_limit=200, channel_timeout_s=1))
    with connections(server, 150, trickle_every=0.25):
        wait_until(lambda: accepted(server) == 150, 10, "waitress holds 150 connections")
        time.sleep(2.5)  # past channel_timeout + cleanup: not one trickler was idle
        assert accepted(server) == 150, "the tricklers were dropped; the test proves nothing"
        # Without room above the tricklers this waits in the listen queue and times out.
        response = httpx.get(f"{server.url}/health", timeout=3)
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_past_the_limit_clients_wait_until_idle_connections_are_reaped(tmp_path, live, app,
                                                                        healthy):
    """At the limit nobody else gets in (what 100 tricklers did to the old defaults),
    and idle connections are closed within channel_timeout + cleanup interval."""
    server = live(app, settings=settings(tmp_path, connection_limit=50, channel_timeout_s=1))
    with connections(server, 60, trickle_every=None):
        wait_until(lambda: accepted(server) >= 45, 10, "waitress reached its limit")
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):  # connected (backlog), never answered
            httpx.get(f"{server.url}/health", timeout=httpx.Timeout(5, read=0.5))
        response = httpx.get(f"{server.url}/health", timeout=10)
        took = time.monotonic() - started
    assert response.status_code == 200
    # Idle for channel_timeout (1 s), found within the cleanup interval (1 s) and a tick
    # of waitress's loop (1 s); waitress's own defaults would take 120 s + up to 30 s.
    assert took < 8
