"""Smoke test of bench/slow_clients.py: its clients do what it says, its report reads
right (no timing assertions; the numbers come from running the bench)."""

from __future__ import annotations

import time

from bench import slow_clients
from bench.common import machine_info
from tests.conftest import make_config
from tests.server.conftest import ACCESS_KEY, feed_xml

BODY = feed_xml(20_000)  # about 1.3 MB: more than the socket buffers hold


def test_tricklers_readers_and_fetch_against_the_server(tmp_path, live, app, publisher):
    publisher.feed("big", BODY, gz=False)
    publisher.sync_ok()
    server = live(app, settings=make_config(tmp_path, server={"access_key": ACCESS_KEY}).server)
    port = int(server.server.effective_port)
    tricklers = slow_clients.Tricklers(port, 5, every=0.2)
    readers = slow_clients.SlowReaders(port, 3, f"/feeds/{ACCESS_KEY}/big.xml")
    try:
        deadline = time.monotonic() + 5
        while not all(readers.received) and time.monotonic() < deadline:
            time.sleep(0.05)
        status, length = slow_clients.fetch(port, "/health", 5)
        assert status == 200 and length > 0
        assert slow_clients.fetch(port, f"/feeds/{ACCESS_KEY}/big.xml", 5) == (200, len(BODY))
        assert slow_clients.fetch(port, "/no/such", 5) == (404, len(b"404 Not Found\n"))
        assert tricklers.alive() == 5
        assert readers.alive(len(BODY)) == 3  # answered 200, still connected, not done
    finally:
        tricklers.close()
        readers.close()


def test_report_is_a_markdown_section():
    phases = [slow_clients.Phase("baseline: no other client", [2.0, 3.0, 4.0], 0, 0.1, "",
                                 "", 40.0),
              slow_clients.Phase("300 connections trickling headers, old limit (100)",
                                 [], 2, None, "timed out", "300/300 tricklers connected", 42.0)]
    facts = {**machine_info(), "command": "python -m bench.slow_clients", "waitress": "3",
             "threads": "8", "limit": "1000", "timeout_s": "30", "big": "50.0 MB",
             "big_bytes": 50_000_000, "items": "77,212", "trickle_every": "5", "hold": "10",
             "timeout": "5"}
    section = slow_clients.report(phases, facts)
    assert section.startswith("## Slow clients") and "<!--" not in section
    assert "| baseline: no other client | 3/3 | 3.0 ms | 4.0 ms | 4.0 ms | 0.10 s (500 MB/s) |" \
        in section
    assert "| 0/2 | – | – | – | failed (timed out) | 300/300 tricklers connected | 42 MB |" \
        in section
