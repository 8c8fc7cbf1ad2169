"""An `httpx.MockTransport` that serves the demo catalogue as a shop's `/API/1` would.

    GET <anything>/API/1/{products|categories|orders}?page_size=&offset=
        -> 200 {"list": [...], "remaining": N}   (pages of at most `max_page_size`)
    no or empty X-Authorization header           -> 401 (any key is accepted)
    a method other than GET on those paths       -> 405
    an unreadable page_size or offset            -> 400
    any other path                               -> 404

The error body follows the Surface API's `{"errors": [...]}` (vendre-api.md §11);
the real `/API/1` error body is unknown, so clients must not depend on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from feeds.demo.catalog import demo_categories, demo_orders, demo_products

__all__ = ["MAX_PAGE_SIZE", "demo_transport"]

# Smaller than the 250 a client asks for by default, so a client must honour a
# short page and keep following `remaining`.
MAX_PAGE_SIZE = 100
_LIST_PATH = re.compile(r"/API/1/(products|categories|orders)/?$")


def demo_transport(now: datetime, *, max_page_size: int = MAX_PAGE_SIZE) -> httpx.MockTransport:
    """A transport answering the demo shop's list endpoints, with dates relative to `now`."""
    resources = {
        "products": demo_products(now),
        "categories": demo_categories(now),
        "orders": demo_orders(now),
    }

    def handle(request: httpx.Request) -> httpx.Response:
        return _respond(request, resources, max_page_size)

    return httpx.MockTransport(handle)


def _respond(request: httpx.Request, resources: Mapping[str, Sequence[Any]],
             max_page_size: int) -> httpx.Response:
    match = _LIST_PATH.search(request.url.path)
    if match is None:
        return _error(404, "Not found")
    if not request.headers.get("X-Authorization", "").strip():
        return _error(401, "Missing X-Authorization header")
    if request.method != "GET":
        return _error(405, f"{request.method} is not allowed here")
    try:
        page_size = min(_param(request, "page_size", max_page_size, minimum=1), max_page_size)
        offset = _param(request, "offset", 0, minimum=0)
    except ValueError as exc:
        return _error(400, str(exc))
    items = resources[match[1]]
    page = list(items[offset:offset + page_size])
    remaining = max(0, len(items) - offset - len(page))
    return httpx.Response(200, json={"list": page, "remaining": remaining})


def _param(request: httpx.Request, name: str, default: int, *, minimum: int) -> int:
    text = request.url.params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or int(text) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {text!r}")
    return int(text)


def _error(status: int, title: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"status": str(status), "title": title}]})
