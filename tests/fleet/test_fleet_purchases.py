"""A webhook (and a beacon) through `fleet serve` reaches its shop's store on the right
shard: the web tier finds the shop by the webhook's secret, its purchase route hands the
order to the shop's shard as a Celery task (answered 2xx once Redis has it), and that
shard's worker writes it into the shop's inbox. And beat's `send-purchases` entry sends the
due orders from the shop's shard.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from feeds.config import ServerSettings
from feeds.fleet.beat import planned_entries
from feeds.fleet.celery_app import PURCHASES, make_celery, queue_name
from feeds.fleet.shops import ShopsFolder
from feeds.fleet.web import FleetWeb
from feeds.server.run import create_server
from feeds.storage.inbox import Inbox
from tests.fakes.ad_platforms import FakeGa4
from tests.fleetkit import FleetDir, WorkerProcess

pytestmark = pytest.mark.slow

DEAD_API = "http://127.0.0.1:9/API/1"
SECRETS = {"ACME_WEBHOOK_SECRET": "acme-webhook-secret-5d1c7a90b2",
           "BRAVO_WEBHOOK_SECRET": "bravo-webhook-secret-8e4f2a61c3"}


@pytest.fixture
def tier_url(fleet_dir: FleetDir, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    fleet = fleet_dir.load()
    web = FleetWeb(ShopsFolder(fleet, every_s=0), send=make_celery(fleet).send_task,
                   broker_ok=lambda: True)
    server = create_server(web, ServerSettings(threads=4), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=5)


def _shops(fleet_dir: FleetDir) -> None:
    for name, shard in (("acme", 0), ("bravo", 1)):
        fleet_dir.add_shop(name, DEAD_API, "k" * 20, shard=shard,
                           shop={"base_url": f"https://{name}.example"},
                           purchases={"enabled": True,
                                      "webhook_secret_env": f"{name.upper()}_WEBHOOK_SECRET"})
        fleet_dir.keys[f"{name.upper()}_WEBHOOK_SECRET"] = SECRETS[
            f"{name.upper()}_WEBHOOK_SECRET"]


def test_a_webhook_through_fleet_serve_reaches_its_shop_on_its_shard(
        fleet_dir: FleetDir, workers: list[WorkerProcess], redis, tier_url: str) -> None:
    _shops(fleet_dir)
    order = {"id": 4711, "order_number": "A-4711", "status_id": 1}
    with httpx.Client(base_url=tier_url) as client:
        wrong = client.post("/hooks/vendre/not-a-secret-of-any-shop", json=order)
        assert wrong.status_code == 404
        # No worker yet: the 2xx means the order is in Redis, on bravo's shard's queue.
        answer = client.post(f"/hooks/vendre/{SECRETS['BRAVO_WEBHOOK_SECRET']}", json=order)
        assert answer.status_code == 200, answer.text
        assert redis.llen(queue_name(1)) == 1 and redis.llen(queue_name(0)) == 0
        beacon = client.post("/t/bravo-site/seen", content=json.dumps(
            {"order": "A-4711", "consent": {"analytics_storage": True}}),
            headers={"Origin": "https://bravo.example", "Content-Type": "text/plain"})
        assert beacon.status_code == 204
    workers.append(WorkerProcess(fleet_dir, 1).start())
    bravo = Inbox.in_dir(fleet_dir.state_root / "bravo")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(bravo.webhooks()):
        time.sleep(0.2)
    stored = list(bravo.webhooks())
    assert [w.order_id for w in stored] == ["4711"]
    assert json.loads(stored[0].body) == order
    assert not (fleet_dir.state_root / "acme").exists()  # nothing reached the other shop
    log = workers[0].output()
    assert "vendre_feeds.webhook" in log and "vendre_feeds.beacon" in log
    assert SECRETS["BRAVO_WEBHOOK_SECRET"] not in log and "A-4711" not in log


def test_beat_has_each_shop_with_purchases_send_them_on_its_shard(
        fleet_dir: FleetDir, workers: list[WorkerProcess], redis) -> None:
    """What beat sends every minute (`send-purchases:<shop>`) runs on the shop's shard and
    sends the webhooks' due orders (here to a fake GA4 on loopback)."""

    with FakeGa4(api_secret="bravo-ga4-secret-0123") as ga4:
        _shops(fleet_dir)
        fleet_dir.add_shop("plain", DEAD_API, "k" * 20)
        fleet_dir.keys["BRAVO_GA4_SECRET"] = "bravo-ga4-secret-0123"
        path = fleet_dir.shops_dir / "bravo.toml"
        path.write_text(path.read_text("utf-8").replace(
            "[purchases]\n", f'[purchases]\nga4_endpoint = "{ga4.collect_url}"\n'
                             'ga4_api_secret_env = "BRAVO_GA4_SECRET"\n')
            .replace("[tracking]\n", '[tracking]\nga4_id = "G-DEMO12345"\n'), "utf-8")
        fleet = fleet_dir.load()
        planned = planned_entries(ShopsFolder(fleet, every_s=0).reload())
        assert {n: (p.task, p.shard, p.every_s) for n, p in planned.items()
                if n.startswith("send-purchases:")} == {
            "send-purchases:acme": (PURCHASES, 0, 60.0),
            "send-purchases:bravo": (PURCHASES, 1, 60.0)}
        # A webhook the shard stored a minute ago (its beacon's grace is over).
        now = datetime.now(UTC)
        order = {"id": 4711, "order_number": "A-4711", "status_id": 3, "currency": "SEK",
                 "date_added": int((now - timedelta(minutes=2)).timestamp()),
                 "products": [{"product_id": 1001, "quantity": 2, "price_each": 100,
                               "tax": 25}]}
        Inbox.in_dir(fleet_dir.state_root / "bravo").put_webhook(
            "4711", json.dumps(order).encode(), now - timedelta(minutes=1), 1000)
        make_celery(fleet).send_task(PURCHASES, args=["bravo", 1], queue=queue_name(1))
        workers.append(WorkerProcess(fleet_dir, 1).start())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not ga4.transactions():
            time.sleep(0.2)
        assert ga4.transactions() == ["A-4711"]
    assert "bravo-ga4-secret-0123" not in workers[0].output()
