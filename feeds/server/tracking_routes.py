"""`/t/<site_key>/loader.js` and `/t/<site_key>/index/<shard>.json`: what shop pages load.

The site key is public (it is in every page's source) and only names the shop;
it is still compared in constant time. A wrong key, an unknown shard and a
missing index give the same plain 404, with no hint which it was.

`loader.js` is rendered from `templates/tracking/loader.js` with the shop's
tracking settings and the current index version; it is cached for
`LOADER_MAX_AGE` seconds (with an ETag), so a rebuilt index or a changed
setting reaches pages within minutes.

A shard asked for with `?v=<version>` of the current or the previous index is
immutable (cached for a year: a new build gets a new version); without `v`, or
with an older version, the current shard is served with `no-cache`, so the
browser revalidates it by ETag. Shards carry `Access-Control-Allow-Origin` only
for the configured `[tracking] allowed_origins` (empty: the origin of
`[shop] base_url`), always with `Vary: Origin`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, request
from jinja2 import Environment
from markupsafe import Markup

from feeds.config import Config
from feeds.events.index import IndexState, base_path, read_index, shard_file
from feeds.events.snippets import tracking_options
from feeds.server.context import context
from feeds.server.feeds_routes import key_matches
from feeds.storage.layout import Layout
from tracking.render import render_consent
from tracking.services import enabled_services

__all__ = ["IMMUTABLE", "JS_TYPE", "LOADER_MAX_AGE", "allowed_origins", "bp", "loader_config",
           "render_loader"]

bp = Blueprint("tracking", __name__)

JS_TYPE = "application/javascript; charset=utf-8"
JSON_TYPE = "application/json"
LOADER_TEMPLATE = "tracking/loader.js"
LOADER_MAX_AGE = 300
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"
_SHARD = re.compile(r"\d{1,5}", re.ASCII)
_SCRIPT = re.compile(r"\s*<script>\n?(.*?)</script>\s*", re.DOTALL)
_DEFAULT_PORTS = {"http": "80", "https": "443"}


@bp.get("/t/<site_key>/loader.js")
def loader(site_key: str) -> Response:
    """The loader for this shop (GET and HEAD); 304 when the ETag still matches."""
    ctx = context()
    if not key_matches(site_key, ctx.cfg.tracking.site_key):
        abort(404)
    fallback = (ctx.cfg.server.public_url or request.url_root).rstrip("/")
    body = render_loader(ctx.cfg, ctx.env, read_index(ctx.layout), fallback).encode("utf-8")
    response = Response(body)
    response.headers["Content-Type"] = JS_TYPE
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.cache_control.public = True
    response.cache_control.max_age = LOADER_MAX_AGE
    # Loaded by other sites' pages; say so for shops that set Cross-Origin-Embedder-Policy.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response.make_conditional(request)


@bp.get("/t/<site_key>/index/<shard>.json")
def index_shard(site_key: str, shard: str) -> Response:
    """One shard of the product index; see the module docstring for caching and CORS."""
    ctx = context()
    if not key_matches(site_key, ctx.cfg.tracking.site_key) or not _SHARD.fullmatch(shard):
        abort(404)
    state = read_index(ctx.layout)
    if state is None:
        abort(404)
    version, immutable = _pick_version(state, request.args.get("v", ""))
    body = _read_shard(ctx.layout, version, int(shard))
    if body is None:
        abort(404)
    response = Response(body)
    response.headers["Content-Type"] = JSON_TYPE
    response.set_etag(f"{version}-{int(shard)}")
    response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    _cors(response, ctx.cfg)
    return response.make_conditional(request)


def _pick_version(state: IndexState, asked: str) -> tuple[str, bool]:
    """(the version to serve, whether its shards may be cached for good)."""
    if asked and asked in {state.version, state.previous}:
        return asked, True
    return state.version, False


def _read_shard(layout: Layout, version: str, shard: int) -> bytes | None:
    """The shard's bytes (a few kB), or None when that version has no such shard.
    The path is built from a hex version and a number: nothing else reaches it."""
    path = shard_file(layout, version, shard)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


# ---------------------------------------------------------------- CORS


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL, lower-case, default port left out;
    '' for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return ""
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6
    shown = "" if port is None or str(port) == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown}"


def allowed_origins(cfg: Config) -> frozenset[str]:
    """The origins whose pages may read the index: `[tracking] allowed_origins`, or,
    when that list is empty, the origin of `[shop] base_url` and its www twin (a shop
    is often reached both with and without `www.`)."""
    if cfg.tracking.allowed_origins:
        return frozenset(o for o in map(origin_of, cfg.tracking.allowed_origins) if o)
    own = origin_of(cfg.shop.base_url)
    return frozenset(o for o in (own, www_twin(own)) if o)


def www_twin(origin: str) -> str:
    """`https://www.shop.se` for `https://shop.se` and the other way round; '' for an
    IP address, localhost or anything that is no `scheme://host[:port]`."""
    scheme, sep, rest = origin.partition("://")
    host, colon, port = rest.partition(":")
    if not sep or not host or host.startswith("[") or "." not in host or \
            host.replace(".", "").isdigit():
        return ""
    twin = host.removeprefix("www.") if host.startswith("www.") else f"www.{host}"
    return f"{scheme}://{twin}{colon}{port}" if "." in twin else ""


def _cors(response: Response, cfg: Config) -> None:
    response.vary.add("Origin")
    origin = request.headers.get("Origin", "")
    if origin and origin_of(origin) in allowed_origins(cfg):
        response.headers["Access-Control-Allow-Origin"] = origin


# ---------------------------------------------------------------- the loader


def loader_config(cfg: Config, state: IndexState | None, fallback_base: str) -> dict[str, Any]:
    """Everything loader.js is told, as one object (it reaches JavaScript through `|js`).

    Service ids are those of the enabled services only (checked by `enabled_services`);
    `base` is where the loader fetches the index when it cannot read its own URL.
    """
    t = cfg.tracking
    options = tracking_options(cfg)
    ids = {s.code: s.configured_id(options) for s in enabled_services(options)}
    return {
        "siteKey": t.site_key,
        "base": fallback_base,
        "version": state.version if state else "",
        "shards": state.shards if state else 0,
        "languages": list(state.languages) if state else [],
        "basePath": base_path(cfg.shop.base_url),
        "cartPath": t.cart_path,
        "confirmationPath": t.confirmation_path,
        "buySelector": t.buy_button_selector,
        "consentMode": t.consent_mode,
        "vat": t.prices_include_vat,
        "metaGroups": t.meta_group_ids,
        "gtm": ids.get("gtm", ""),
        "ga4": ids.get("ga4", ""),
        "meta": ids.get("meta_pixel", ""),
        "criteo": ids.get("criteo", ""),
        "criteoSiteType": t.criteo_site_type,
        "seen": cfg.purchases.enabled,  # the purchase beacon (feeds.server.purchase_routes)
    }


def consent_code(env: Environment) -> Markup:
    """The script of templates/tracking/consent.html, without its `<script>` element,
    so the loader applies exactly the consent defaults the static snippets apply.

    :raises RuntimeError: an overriding consent.html is not one plain script element;
        no loader is better than tags that run before the consent defaults.
    """
    match = _SCRIPT.fullmatch(str(render_consent(env)))
    if match is None:
        raise RuntimeError("templates/tracking/consent.html: one <script> element expected")
    return Markup(match.group(1))


def render_loader(cfg: Config, env: Environment, state: IndexState | None,
                  fallback_base: str) -> str:
    """loader.js for `cfg` and the index `state` (None: no index yet, no lookups)."""
    config = loader_config(cfg, state, fallback_base)
    any_service = any(config[code] for code in ("gtm", "ga4", "meta", "criteo"))
    consent = consent_code(env) if cfg.tracking.consent_mode and any_service else Markup("")
    return env.get_template(LOADER_TEMPLATE).render(config=config, consent=consent)
