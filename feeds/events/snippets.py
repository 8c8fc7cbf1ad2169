"""`vendre-feeds snippet`: the one loader tag, and every service's code for previews."""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup

from feeds.config import Config, require
from feeds.errors import ConfigError, NotFound
from feeds.events.source import EventSource
from feeds.formats.templates import make_env
from feeds.storage.store import Store
from tracking.errors import InvalidNonce
from tracking.events import EVENT_TYPES, Event, ViewItem
from tracking.options import TrackingOptions
from tracking.render import render_all
from tracking.services import Service, enabled_services, get_service

__all__ = ["SERVICE_ALIASES", "loader_tag", "loader_url", "preview", "status_snippets",
           "tracking_options"]

SERVICE_ALIASES = {"meta": "meta_pixel", "pixel": "meta_pixel"}


def tracking_options(cfg: Config) -> TrackingOptions:
    """The tracking switches and ids (load_config has already checked the ids)."""
    return TrackingOptions.from_settings(cfg.tracking)


def loader_url(cfg: Config, base: str | None = None) -> str:
    """The loader's URL: on the CDN when `[publish] public_url` is set, else under
    `[server] public_url`, else under `base` (the address a request came to), else under
    [server] host and port (`Config.public_base`)."""
    key = require(cfg.tracking.site_key, "tracking.site_key",
                  "run `vendre-feeds init` to generate one")
    root = cfg.publish.public_url.rstrip("/") or cfg.public_base(base)
    return f"{root}/t/{key}/loader.js"


def loader_tag(cfg: Config, base: str | None = None) -> str:
    """The one static tag a shop pastes into its global <head>."""
    return f'<script async src="{Markup.escape(loader_url(cfg, base))}"></script>'


def _services(cfg: Config, code: str) -> list[Service]:
    options = tracking_options(cfg)
    if code == "all":
        return enabled_services(options)
    service = get_service(SERVICE_ALIASES.get(code, code))
    if not service.configured_id(options):
        raise ConfigError(f"tracking.{service.id_setting}: not set, so {service.title} is off")
    return [service]


def _event(cfg: Config, name: str, *, product: str | None, order: str | None,
           category: int | None, now: datetime) -> Event:
    if name not in EVENT_TYPES:
        raise NotFound(f"unknown event {name!r} (events: {', '.join(EVENT_TYPES)})")
    source = EventSource(cfg, Store.in_dir(cfg.data_dir), now)
    cls = EVENT_TYPES[name]
    if name == "purchase":
        return source.purchase(_needed(order, "--order"))
    if name == "view_item_list":
        return source.category_list(int(_needed(category, "--category")))
    if name in {"page_view", "view_home"}:
        return cls()
    from feeds.events.source import event_item

    item = event_item(source.product(_needed(product, "--product")))
    return ViewItem(item) if cls is ViewItem else cls((item,))


def _needed(value: object, option: str) -> str:
    if value in (None, ""):
        raise NotFound(f"this event needs {option}")
    return str(value)


def preview(cfg: Config, service: str, *, event: str | None, placement: str,
            product: str | None = None, order: str | None = None,
            category: int | None = None, nonce: str = "", now: datetime) -> str:
    """The HTML one service (or `all`) puts in `placement`, with one event when asked."""
    if service == "loader":
        return loader_tag(cfg)
    services = _services(cfg, service)
    events = [] if event is None else [_event(cfg, event, product=product, order=order,
                                              category=category, now=now)]
    try:
        return str(render_all(make_env(cfg.build.templates_dir or None), services,
                              tracking_options(cfg), placement, events, nonce=nonce))
    except InvalidNonce as exc:
        raise ConfigError(f"--nonce: {exc}") from None


def status_snippets(cfg: Config, now: datetime | None = None) -> list[tuple[str, str]]:
    """The status page's previews of what the loader sends on a product page and for the
    latest order, for every configured service (the loader tag itself is `loader_tag`)."""
    from datetime import UTC

    now = now or datetime.now(UTC)
    found: list[tuple[str, str]] = []
    if not enabled_services(tracking_options(cfg)):
        return found
    source = EventSource(cfg, Store.in_dir(cfg.data_dir), now)
    for title, event, ref in _previews(cfg, source):
        try:
            code = preview(cfg, "all", event=event, placement="head", now=now, **ref)
        except (NotFound, ConfigError):
            continue
        found.append((title, code))
    return found


def _previews(cfg: Config, source: EventSource) -> list[tuple[str, str, dict[str, str]]]:
    """Preview events for the first sellable product and the newest stored order."""
    previews = []
    store = source.store
    if not store.exists():
        return previews
    for raw, _parent in store.iter_products():
        try:
            product = source.product(str(raw["id"]))
        except NotFound:
            continue
        previews.append((f"Preview: a product page ({product.title})", "view_item",
                         {"product": str(product.vendre_id)}))
        break
    orders = store.raw_orders()
    if orders:
        from feeds.vendre.parse import order_key

        newest = str(order_key(orders[-1]))
        previews.append((f"Preview: an order confirmation (order {newest})", "purchase",
                         {"order": newest}))
    return previews
