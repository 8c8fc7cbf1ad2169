"""The status page masks the configured API key in stored text: the second line of
defence behind the reader, which scrubs the key before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime

from feeds.storage.layout import write_json_atomic
from tests.server.conftest import ACCESS_KEY

# A key no reader in this process was given, so no registered secret masks it.
KEY = "never-registered-page-key-3b7c"


def test_the_status_page_masks_the_api_key_in_stored_text(client, publisher, monkeypatch):
    monkeypatch.setenv("VENDRE_API_KEY", KEY)  # where `[vendre] api_key_env` says it is
    publisher.sync_ok()
    publisher.sync_failed(f"the shop answered HTTP 400 {KEY}")
    now = datetime.now(UTC).isoformat()
    write_json_atomic(publisher.layout.refresh_state, {
        "started_at": now, "finished_at": now, "ok": False,
        "error": f"the shop answered HTTP 400 {KEY}",
        "summary": {"sync": {"warnings": [f"orders: HTTP 400 {KEY}"]}}})
    body = client.get(f"/?key={ACCESS_KEY}").data.decode()
    # the banner (one line: the refresh failed in its sync), the sync and the refresh
    assert body.count("the shop answered HTTP 400 ***") == 3
    assert "orders: HTTP 400 ***" in body
    assert KEY not in body
