"""`vendre-feeds demo`: the bundled demo shop through the same code path as a real one.

The demo's Vendre API is an in-process transport serving the bundled catalogue
(no network, no key); everything after the transport (client, paging, store,
build, server) is the production code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds.config import Config, load_config
from feeds.demo.transport import demo_transport

__all__ = ["DEMO_ACCESS_KEY", "DEMO_API_KEY", "demo_config", "demo_overrides", "run_demo"]

DEMO_ACCESS_KEY = "demo-access-key"
DEMO_API_KEY = "demo-api-key"
DEMO_SHOP = "https://demo.vendre-feeds.test"


def demo_overrides(data_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> dict[str, Any]:
    """The demo shop's settings, in the config file's shape."""
    return {
        "data_dir": str(data_dir),
        "vendre": {"api_url": f"{DEMO_SHOP}/API/1", "page_size": 50, "concurrency": 4},
        "shop": {"name": "Demobutiken", "base_url": DEMO_SHOP, "language": "sv",
                 "currency": "SEK", "country": "SE", "default_brand": "Demobutiken",
                 "tax_classes": {"2": 25, "3": 6, "4": 12, "5": 0}},
        "server": {"host": host, "port": port, "access_key": DEMO_ACCESS_KEY,
                   "public_url": f"http://{host}:{port}"},
        "tracking": {"site_key": "demo", "gtm_id": "GTM-DEMO123", "ga4_id": "G-DEMO12345",
                     "meta_pixel_id": "123456789012345", "criteo_account": "12345"},
        "channels": {"google": {"targets": [
            {"file": "google-no", "country": "NO", "language": "nb", "currency": "NOK",
             "rate": "0.98", "rounding": "1"}]}},
    }


def demo_config(data_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> Config:
    """The demo's Config: no file, no environment, only the demo settings."""
    return load_config(env={}, overrides=demo_overrides(data_dir, host, port), use_file=False)


def run_demo(app: Any, data_dir: Path, *, host: str, port: int, serve: bool,
             now: datetime | None = None) -> Config:
    """Sync the demo shop, build every feed, then serve them (unless `serve` is False)."""
    from feeds.cli import format_build, sync_shop
    from feeds.refresh import build_all

    now = now or datetime.now(UTC)
    cfg = demo_config(data_dir, host, port)
    # A small page cap makes the demo page through its shop like a real sync.
    record = sync_shop(app, cfg, transport=demo_transport(now, max_page_size=10),
                       api_key=DEMO_API_KEY, now=now)
    app.echo(f"demo shop synced: {record.products} products, {record.categories} categories, "
             f"{record.orders} orders")
    # --force: the demo's data dir may hold feeds of an older demo version.
    results = build_all(cfg, now=now, progress=app.progress(), force=True)
    app.echo(format_build(results))
    return cfg
