"""The multi-tenant web tier (`fleet serve`) under waitress: each shop's pages by its keys,
the shops folder reloaded without a restart, duplicate keys refused, /health."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from feeds.config import ServerSettings
from feeds.fleet.celery_app import make_celery
from feeds.fleet.shops import KeyKind, ShopsFolder
from feeds.fleet.web import FleetWeb, route_key
from feeds.server.run import create_server
from tests.fleetkit import FleetDir
from tests.server.conftest import Publisher, feed_xml

DEAD_API = "http://127.0.0.1:9/API/1"


@dataclass
class Tier:
    url: str
    folder: ShopsFolder
    broker: list[bool]


@pytest.fixture
def tier(fleet_dir: FleetDir) -> Iterator[Tier]:
    """`fleet serve`'s app under waitress on 127.0.0.1, the shops folder looked at on
    every request (every_s=0)."""
    fleet = fleet_dir.load()
    folder = ShopsFolder(fleet, every_s=0)
    broker = [True]
    web = FleetWeb(folder, send=make_celery(fleet).send_task, broker_ok=lambda: broker[0])
    server = create_server(web, ServerSettings(threads=4), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield Tier(f"http://127.0.0.1:{server.effective_port}", folder, broker)
    finally:
        server.close()
        thread.join(timeout=5)


def _shop(fleet_dir: FleetDir, name: str, **tables) -> None:
    fleet_dir.add_shop(name, DEAD_API, "k" * 20, **tables)
    cfg = fleet_dir.load().load_shop(name)
    Publisher(cfg).feed("google", feed_xml(3))


def test_each_shop_is_served_under_its_own_keys(fleet_dir: FleetDir, tier: Tier) -> None:
    _shop(fleet_dir, "acme", shop={"name": "Acme Spel"})
    _shop(fleet_dir, "bravo", shop={"name": "Bravo Böcker"})
    with httpx.Client(base_url=tier.url) as client:
        page = client.get("/", params={"key": "acme-access-key-0123456789"})
        assert page.status_code == 200
        assert "Acme Spel" in page.text and "Bravo" not in page.text
        page = client.get("/", params={"key": "bravo-access-key-0123456789"})
        assert page.status_code == 200 and "Bravo Böcker" in page.text
        feed = client.get("/feeds/bravo-access-key-0123456789/google.xml")
        assert feed.status_code == 200 and feed.content == feed_xml(3)
        loader = client.get("/t/acme-site/loader.js")
        assert loader.status_code == 200 and "javascript" in loader.headers["content-type"]
        # Keys no shop has: answered as a single shop answers a wrong key.
        assert client.get("/feeds/nobody-access-key-0123456/google.xml").status_code == 404
        assert client.get("/", params={"key": "nobody-access-key"}).status_code == 403
        assert client.get("/t/nobody/loader.js").status_code == 404
        assert client.get("/").status_code == 200  # the key form
        assert "Acme" not in client.get("/").text


def test_the_shops_folder_is_reloaded_without_a_restart(fleet_dir: FleetDir,
                                                        tier: Tier) -> None:
    _shop(fleet_dir, "acme")
    with httpx.Client(base_url=tier.url) as client:
        assert client.get("/feeds/cirrus-access-key-0123456789/google.xml").status_code == 404
        _shop(fleet_dir, "cirrus")
        assert client.get("/feeds/cirrus-access-key-0123456789/google.xml").status_code == 200
        # A new key replaces the old one at once.
        text = (fleet_dir.shops_dir / "cirrus.toml").read_text("utf-8")
        (fleet_dir.shops_dir / "cirrus.toml").write_text(
            text.replace("cirrus-access-key-0123456789", "cirrus-new-key-0123456789"), "utf-8")
        assert client.get("/feeds/cirrus-access-key-0123456789/google.xml").status_code == 404
        assert client.get("/feeds/cirrus-new-key-0123456789/google.xml").status_code == 200
        # A file that stops loading keeps its last good config; the error is reported.
        (fleet_dir.shops_dir / "cirrus.toml").write_text("[shop\n", encoding="utf-8")
        assert client.get("/feeds/cirrus-new-key-0123456789/google.xml").status_code == 200
        health = client.get("/health").json()
        assert health == {"status": "degraded", "shops": 2, "shops_with_errors": 1,
                          "shops_folder": "ok", "broker": "ok"}
        # A removed file is a removed shop.
        (fleet_dir.shops_dir / "cirrus.toml").unlink()
        assert client.get("/feeds/cirrus-new-key-0123456789/google.xml").status_code == 404


def test_two_shops_with_one_key_are_refused_naming_both(fleet_dir: FleetDir,
                                                        tier: Tier, caplog) -> None:
    _shop(fleet_dir, "acme")
    with httpx.Client(base_url=tier.url) as client:
        assert client.get("/feeds/acme-access-key-0123456789/google.xml").status_code == 200
        _shop(fleet_dir, "bravo", tracking={"site_key": "acme-site"})
        # The whole reload is refused: the previous folder stays, bravo is not served.
        assert client.get("/feeds/acme-access-key-0123456789/google.xml").status_code == 200
        assert client.get("/feeds/bravo-access-key-0123456789/google.xml").status_code == 404
        assert client.get("/health").json()["shops_folder"] == "refused"
    assert tier.folder.current().refused == ("shops acme and bravo have the same "
                                             "tracking.site_key; each shop needs its own")
    assert "acme-site" not in caplog.text


def test_health_says_when_the_broker_is_unreachable(fleet_dir: FleetDir, tier: Tier) -> None:
    _shop(fleet_dir, "acme")
    with httpx.Client(base_url=tier.url) as client:
        assert client.get("/health").json()["status"] == "ok"
        tier.broker[0] = False
        time.sleep(2.1)  # the broker's answer is kept two seconds
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["broker"] == "unreachable"
        assert health.json()["status"] == "degraded"


def test_requests_name_their_shop_by_the_key_in_their_path() -> None:
    assert route_key("/feeds/K/google.xml", "") == (KeyKind.ACCESS, "K")
    assert route_key("/reports/K/google.json", "") == (KeyKind.ACCESS, "K")
    assert route_key("/", "key=K&x=1") == (KeyKind.ACCESS, "K")
    assert route_key("/t/S/loader.js", "") == (KeyKind.SITE, "S")
    assert route_key("/t/S/index/3.json", "v=1") == (KeyKind.SITE, "S")
    assert route_key("/t/S/seen", "") == (KeyKind.SITE, "S")
    assert route_key("/hooks/vendre/SECRET", "") == (KeyKind.WEBHOOK, "SECRET")
    assert route_key("/", "") is None
    assert route_key("/feeds/K", "") is None
    assert route_key("/other", "key=K") is None


def test_a_feed_url_redirects_to_object_storage_when_the_shop_has_a_public_url(
        fleet_dir: FleetDir, tier: Tier) -> None:
    _shop(fleet_dir, "acme", publish={"target": "s3://bucket/shops/acme",
                                      "public_url": "https://cdn.example/shops/acme/"})
    _shop(fleet_dir, "local")
    with httpx.Client(base_url=tier.url) as client:
        moved = client.get("/feeds/acme-access-key-0123456789/google.xml")
        assert moved.status_code == 302
        assert moved.headers["location"] == ("https://cdn.example/shops/acme/feeds/"
                                             "acme-access-key-0123456789/google.xml")
        assert moved.headers["cache-control"] == "no-store"
        assert client.head("/feeds/acme-access-key-0123456789/google.xml").status_code == 302
        # The live pages stay here; a shop without a public URL serves its feeds itself.
        assert client.get("/t/acme-site/loader.js").status_code == 200
        assert client.get("/", params={"key": "acme-access-key-0123456789"}).status_code == 200
        assert client.get("/feeds/local-access-key-0123456789/google.xml").status_code == 200
