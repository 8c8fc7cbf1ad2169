"""`vendre-feeds send-purchases` as a user runs it, in child processes: a kill between
pending and sent resends once, a rerun sends nothing, and no secret reaches any output,
log line, file or the status page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feeds.config import load_config
from feeds.purchases.run import ledger_of
from feeds.server import create_app
from feeds.storage.inbox import Inbox
from feeds.storage.ledger import SendState
from tests.fakes.ad_platforms import FakeGa4, FakeMeta
from tests.feedkit import fill

GA4_SECRET = "ga4-api-secret-CLI-7d1e3b"
META_TOKEN = "meta-token-CLI-EAAJ55q8"
HOOK_SECRET = "hook-secret-CLI-pQ4rT8sW"
ACCESS_KEY = "cli-access-key-8Hn2Lq5R"


def order(oid: int, age: timedelta, now: datetime) -> dict:
    return {"id": oid, "date_added": int((now - age).timestamp()), "status_id": 3,
            "currency": "SEK", "customer": {"id": oid, "email": f"kund{oid}@example.com",
                                            "phone": "070-123 45 67"},
            "products": [{"product_id": 1001, "quantity": 1, "price_each": 100, "tax": 25}]}


def write_config(tmp_path: Path, ga4: FakeGa4, meta: FakeMeta | None) -> Path:
    path = tmp_path / "vendre-feeds.toml"
    meta_id = '"123456789012345"' if meta else '""'
    path.write_text(f"""
data_dir = "data"
[shop]
base_url = "https://demo.vendre-feeds.test"
[server]
access_key = "{ACCESS_KEY}"
[tracking]
site_key = "demo"
ga4_id = "G-DEMO12345"
meta_pixel_id = {meta_id}
[purchases]
enabled = true
send_user_data = true
ga4_endpoint = "{ga4.collect_url}"
meta_endpoint = "{meta.url if meta else 'https://graph.facebook.com'}"
""", encoding="utf-8")
    return path


def env() -> dict[str, str]:
    return {**os.environ, "VENDRE_FEEDS_GA4_API_SECRET": GA4_SECRET,
            "VENDRE_FEEDS_META_ACCESS_TOKEN": META_TOKEN,
            "VENDRE_FEEDS_WEBHOOK_SECRET": HOOK_SECRET, "VENDRE_FEEDS_CONFIG": ""}


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "feeds", "--config", str(config), *args],
                          env=env(), capture_output=True, text=True, timeout=120)


def test_a_kill_between_pending_and_sent_resends_once(tmp_path):
    now = datetime.now(UTC)
    with FakeGa4(api_secret=GA4_SECRET) as ga4:
        config = write_config(tmp_path, ga4, None)
        cfg = load_config(config, env={})
        fill(cfg, now, orders=[order(71001, timedelta(hours=1), now)])
        ga4.hold()
        child = subprocess.Popen([sys.executable, "-m", "feeds", "--config", str(config),
                                  "send-purchases"], env=env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            assert ga4.arrived.wait(60), "the request never reached the fake"
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            ga4.release()
        ledger = ledger_of(cfg)
        (entry,) = ledger.entries("ga4").values()
        assert entry.state is SendState.PENDING  # the kill came between pending and sent
        first = cli(config, "send-purchases")
        assert first.returncode == 0, first.stderr
        assert ledger.entries("ga4")[("ga4", "71001", "purchase")].state is SendState.SENT
        # GA4 saw it twice (it deduplicates by transaction_id); a rerun sends nothing.
        assert ga4.transactions() == ["71001", "71001"]
        again = cli(config, "send-purchases")
        assert again.returncode == 0 and ga4.transactions() == ["71001", "71001"]
        assert "ga4: sent nothing" in again.stdout


def test_no_secret_in_any_output_log_file_or_page(tmp_path):
    now = datetime.now(UTC)
    with FakeGa4(api_secret=GA4_SECRET) as ga4, FakeMeta(token=META_TOKEN) as meta:
        config = write_config(tmp_path, ga4, meta)
        cfg = load_config(config, env={})
        fill(cfg, now, orders=[order(72001, timedelta(hours=1), now),
                               order(72002, timedelta(days=9), now)])
        Inbox.in_dir(cfg.data_dir).put_webhook("72003", json.dumps(
            order(72003, timedelta(minutes=5), now)).encode(), now, 10)
        meta.fail(401, times=1, body=json.dumps({"error": {
            "message": f"bad token {META_TOKEN}", "code": 190}}).encode())
        outputs = [cli(config, "-vv", "send-purchases"), cli(config, "-vv", "send-purchases"),
                   cli(config, "-vv", "send-purchases", "--dry-run"),
                   cli(config, "-vv", "send-purchases", "--validate"), cli(config, "status")]
        assert outputs[0].returncode == 1 and "refused" in outputs[0].stderr
        assert outputs[1].returncode == 0, outputs[1].stderr
        assert "HTTP Request" in outputs[0].stderr  # the debug log ran, with the URLs
        assert len(ga4.transactions()) == 2 and len(meta.event_ids()) == 2
        with monkey_env():
            app = create_app(cfg)
        page = app.test_client().get(f"/?key={ACCESS_KEY}").text
        assert 'data-platform="meta"' in page and "attributed" in page
        files = b"".join(p.read_bytes() for p in Path(cfg.data_dir).rglob("*") if p.is_file())
        texts = [o.stdout + o.stderr for o in outputs] + [page]
        for secret in (GA4_SECRET, META_TOKEN, HOOK_SECRET):
            assert not any(secret in text for text in texts), secret
            assert secret.encode() not in files, secret
        # Nor the customer's data, plain: only its hashes went out.
        assert not any("kund72001@example.com" in text for text in texts)
        assert b"kund72001@example.com" not in b"".join(r[2] for r in meta.requests)


class monkey_env:
    """The webhook secret in os.environ while the app is created (as `serve` has it)."""

    def __enter__(self) -> None:
        os.environ["VENDRE_FEEDS_WEBHOOK_SECRET"] = HOOK_SECRET

    def __exit__(self, *exc: object) -> None:
        os.environ.pop("VENDRE_FEEDS_WEBHOOK_SECRET", None)


@pytest.mark.parametrize("args", [("send-purchases",), ("send-purchases", "--dry-run")])
def test_purchases_off_is_one_line(tmp_path, args):
    config = tmp_path / "vendre-feeds.toml"
    config.write_text('data_dir = "data"\n[tracking]\nga4_id = "G-DEMO12345"\n'
                      '[shop]\nbase_url = "https://shop.example"\n', encoding="utf-8")
    result = cli(config, *args)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: purchases.enabled: is false; set it to true to "
                                     "send orders")
