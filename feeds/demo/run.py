"""`vendre-feeds demo`: the bundled demo shop through the same code path as a real one.

The demo's Vendre API is an in-process transport serving the bundled catalogue
(no network, no key); everything after the transport (client, paging, store,
build, server) is the production code. The demo writes its config file into
its data dir, so every other command can be tried on it with `--config`:
`sync`, `refresh` and the schedule recognise the demo shop by its address (a
reserved `.test` host, which no real shop can have) and read it through the
same transport (`demo_source`), offline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from feeds.config import Config, load_config
from feeds.demo.transport import demo_transport
from feeds.progress import Progress

__all__ = ["DEMO_ACCESS_KEY", "DEMO_API_KEY", "DemoSource", "demo_overrides",
           "demo_refresh_job", "demo_source", "run_demo"]

DEMO_ACCESS_KEY = "demo-feeds-access-key"
DEMO_API_KEY = "demo-api-key"
DEMO_SHOP = "https://demo.vendre-feeds.test"

_DEMO_TOML = """\
# The demo shop's settings, written by `vendre-feeds demo`.
data_dir = "{data_dir}"

[vendre]
api_url = "{shop}/API/1"
page_size = 50

[shop]
name = "Demobutiken"
base_url = "{shop}"
default_brand = "Demobutiken"
tax_classes = {{ 2 = 25, 3 = 6, 4 = 12, 5 = 0 }}

[server]
host = "{host}"
port = {port}
access_key = "{access_key}"
# public_url is left unset: the status page then names the address it was opened at

[schedule]
every_minutes = 0   # the demo shop is bundled: nothing to refresh

[tracking]
site_key = "demo"
gtm_id = "GTM-DEMO123"
ga4_id = "G-DEMO12345"
meta_pixel_id = "123456789012345"
criteo_account = "12345"
buy_button_selector = "[data-buy], .buy-button, button[name=buy]"

# Server-side purchases: each order sent once to GA4 and Meta. The demo only shows what
# `send-purchases --dry-run` would send (no API secret, no token); its customers are
# fake, and customer data is only ever shown as "hashed".
[purchases]
enabled = true
send_user_data = true

[[channels.google.targets]]
file = "google-no"
country = "NO"
language = "nb"
currency = "NOK"
rate = 0.98
rounding = 1

# The marketplaces take pushed payloads, not feed URLs: the demo builds them and shows
# what `push --dry-run` would send (a real push needs the marketplace's credentials).
# The category ids are examples; a shop looks its own up in the marketplace's list.
[channels.cdon]
enabled = true
default_category = "1124"
categories = {{ 110 = "1124", 120 = "2211", 130 = "3301", 140 = "4410" }}
shipping_time = {{ min = 1, max = 3 }}

[[channels.cdon.markets]]
market = "NO"
language = "nb"
currency = "NOK"
rate = 0.98
rounding = 1
tax_classes = {{ 2 = 25, 3 = 0, 4 = 15 }}
shipping_time = {{ min = 3, max = 7 }}

[channels.fyndiq]
enabled = true
default_category = "10"
categories = {{ 110 = "11", 120 = "12", 130 = "13", 140 = "14" }}

[[channels.fyndiq.markets]]
market = "FI"
language = "en"
rate = 0.087
tax_classes = {{ 2 = 25.5, 3 = 14, 4 = 14 }}

[channels.amazon]
enabled = true
seller_id = "ADEMOSELLER0001"
lead_time_days = 2

[channels.afound]
enabled = true
"""


@dataclass(frozen=True)
class DemoSource:
    """How a sync reads the bundled demo shop: its transport and a key it accepts."""

    transport: httpx.MockTransport
    api_key: str = DEMO_API_KEY


def demo_source(cfg: Config, now: datetime | None = None, *,
                max_page_size: int = 10) -> DemoSource | None:
    """The bundled shop's transport when `cfg` reads the demo shop (its `[vendre]
    api_url` is the demo's, on a reserved `.test` host no real shop has), else None.

    A small page cap makes the demo page through its shop like a real sync.
    """
    if urlsplit(cfg.vendre.api_url).hostname != urlsplit(DEMO_SHOP).hostname:
        return None
    return DemoSource(demo_transport(now or datetime.now(UTC), max_page_size=max_page_size))


def demo_refresh_job(cfg: Config) -> Callable[[Config], Any] | None:
    """The refresh job of the bundled demo shop when `cfg` reads it (see `demo_source`),
    else None (the ordinary refresh). `refresh`, the schedule of `serve` and `worker`,
    and a fleet's workers all take it from here."""
    return _demo_refresh if demo_source(cfg) is not None else None


def _demo_refresh(cfg: Config) -> Any:
    import dataclasses

    from feeds.jobs.refresh import run_refresh

    demo = demo_source(cfg)
    assert demo is not None
    # Offline means offline: the demo's orders never go to GA4 or Meta
    # (`send-purchases --dry-run` shows what would be sent).
    offline = dataclasses.replace(cfg, purchases=dataclasses.replace(cfg.purchases,
                                                                      enabled=False))
    return run_refresh(offline, transport=demo.transport, api_key=demo.api_key)


def demo_toml(data_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> str:
    return _DEMO_TOML.format(data_dir=str(data_dir).replace("\\", "/"), shop=DEMO_SHOP,
                             host=host, port=port, access_key=DEMO_ACCESS_KEY)


def demo_overrides(data_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> dict[str, Any]:
    """The demo shop's settings, in the config file's shape."""
    import tomllib

    return tomllib.loads(demo_toml(data_dir, host, port))


def run_demo(data_dir: Path, *, host: str, port: int, serve: bool,
             echo: Callable[[str], None], progress: Progress,
             now: datetime | None = None) -> Config:
    """Sync the demo shop, build every feed and marketplace payload, show what a push
    would send to each marketplace, then serve them (unless `serve` is False)."""
    from feeds.jobs.refresh import build_all
    from feeds.jobs.status import format_build
    from feeds.jobs.sync import sync_shop

    now = now or datetime.now(UTC)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config_file = data_dir / "vendre-feeds.toml"
    config_file.write_text(demo_toml(data_dir, host, port), encoding="utf-8")
    cfg = load_config(config_file, env={})
    source = demo_source(cfg, now)
    assert source is not None
    record = sync_shop(cfg, progress, transport=source.transport, api_key=source.api_key,
                       now=now)
    echo(f"demo shop synced: {record.products} products, {record.categories} categories, "
         f"{record.orders} orders")
    # --force: the demo's data dir may hold feeds of an older demo version.
    results = build_all(cfg, now=now, progress=progress, force=True)
    echo(format_build(results))
    echo(_marketplaces(cfg, now))
    echo(_purchases(cfg, now))
    echo(_where(cfg, config_file))
    if serve:
        from feeds.server.run import run_server

        run_server(cfg, host, port, schedule=False, echo=echo)
    return cfg


def _marketplaces(cfg: Config, now: datetime) -> str:
    """What `push --dry-run` shows for each marketplace: sent nowhere, no credentials."""
    from feeds.errors import FeedsError
    from feeds.pipeline import deliver

    lines = ["", "The marketplaces take pushed payloads; `vendre-feeds push <name> --dry-run` "
                 "says what would be sent:"]
    for name in deliver.pushed_channels(cfg):
        try:
            report = deliver.push(cfg, name, dry_run=True, now=now)
        except FeedsError as exc:
            lines.append(f"  {name}: {exc}")
            continue
        lines.append(f"  {report.summary()}")
        lines += [f"    dropped {sku}: {why}" for sku, why in sorted(report.left_out.items())]
    return "\n".join(lines)


def _purchases(cfg: Config, now: datetime) -> str:
    """What `send-purchases --dry-run` shows for the demo's orders: sent nowhere."""
    from feeds.errors import FeedsError
    from feeds.purchases.run import send_purchases

    lines = ["", "Server-side purchases (GA4 Measurement Protocol, Meta Conversions API); "
                 "`vendre-feeds send-purchases --dry-run` says what would be sent:"]
    try:
        report = send_purchases(cfg, dry_run=True, now=now, env={})
    except FeedsError as exc:
        return "\n".join(lines + [f"  {exc}"])
    lines += [f"  {line}" for line in report.lines()]
    return "\n".join(lines + [f"  {report.summary()}"])


def _where(cfg: Config, config_file: Path) -> str:
    from feeds.events.snippets import loader_tag
    from feeds.server.run import feed_urls

    lines = ["", *feed_urls(cfg)]
    lines += ["", f"Tracking: paste this one tag into the shop's global <head>: {loader_tag(cfg)}",
              "", f"Try the other commands on the demo shop (sync and refresh read the "
                  f"bundled shop, offline): vendre-feeds --config {config_file} status"]
    return "\n".join(lines)
