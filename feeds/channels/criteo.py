"""Criteo: the Google Shopping RSS form, with Criteo's id rules.

Spec: https://help.criteo.com/kb/guide/en/product-feed-specifications (support
articles 207571095 and 360001395365): a Google Shopping feed can be reused; ids
are ASCII without quotation marks, at most 240 characters, and equal the ids
sent in OneTag events; titles start with a letter or digit; images are PNG, GIF or
JPEG (judged by the URL path's extension; an image is never fetched).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from feeds.channels import Channel, ItemContext, google
from feeds.core.model import Derived
from feeds.core.validation import Rule, Severity

__all__ = ["CHANNEL"]


def _criteo_id(v: Any, _item: Any) -> str | None:
    if not v:
        return None
    if not v.isascii() or '"' in v or "'" in v:
        return f"id {v!r} must be ASCII without quotation marks"
    return f"{len(v)} characters, more than 240" if len(v) > 240 else None


_IMAGE_TYPES = (".png", ".gif", ".jpg", ".jpeg")


def _accepted_image(url: str) -> bool:
    """Whether the URL's path (as `urlsplit` reads it) ends with a PNG, GIF or JPEG
    extension, in any case."""
    return _PLAIN_IMAGE.match(url) is not None or \
        _url_path(url).lower().endswith(_IMAGE_TYPES)


# An http(s) URL with a plain ASCII host and a path without tab, CR or LF (every image URL
# the parser makes): its path is read here, three times cheaper than `urlsplit`, which
# gives the same path for these; any other URL goes through `urlsplit`.
_PLAIN_URL = re.compile(r"https?://[^/?#\[\]\x00-\x20\x7f-\U0010ffff]*(?=[/?#]|\Z)"
                        r"([^?#\t\r\n]*)(?=[?#]|\Z)")


# A plain URL (as `_PLAIN_URL` above) whose path ends with an accepted extension, in one
# match: the common case, judged without reading the path out (a third less time). A
# match is a path that `_url_path` reads and accepts too; anything else goes to it.
_PLAIN_IMAGE = re.compile(r"https?://[^/?#\[\]\x00-\x20\x7f-\U0010ffff]*(?=[/?#]|\Z)"
                          r"[^?#\t\r\n]*\.(?:[pP][nN][gG]|[gG][iI][fF]|[jJ][pP][eE]?[gG])"
                          r"(?=[?#]|\Z)")


def _url_path(url: str) -> str:
    """`urlsplit(url).path` ('' where urlsplit refuses the URL)."""
    plain = _PLAIN_URL.match(url)
    if plain is not None:
        return plain.group(1)
    try:
        return urlsplit(url).path
    except ValueError:  # e.g. an unclosed IPv6 bracket: no path worth judging
        return ""


def _image_type(v: Any, item: Any) -> str | None:
    if v and item.get("_image_refused"):
        return "no PNG, GIF or JPEG image (Criteo takes only those): the first image is sent"
    return None


def _title_start(v: Any, item: Any) -> str | None:
    return "title did not start with a letter or digit; leading marks removed" \
        if item.get("_title_trimmed") else None


# Google's id rule (50 characters) is Google's; Criteo's own id rule replaces it.
RULES: tuple[Rule, ...] = tuple(r for r in google.RULES if r.name != "id_max_length") + (
    Rule("criteo_id", "id", Severity.ERROR, _criteo_id),
    Rule("title_start", "title", Severity.WARNING, _title_start, when="_title_trimmed"),
    Rule("image_type", "image_link", Severity.WARNING, _image_type, when="_image_refused"),
)


def to_item(derived: Derived, ctx: ItemContext) -> dict[str, Any]:
    item = google.to_item(derived, ctx)
    title = item["title"]
    start = 0 if title[:1].isalnum() else \
        next((i for i, ch in enumerate(title) if ch.isalnum()), len(title))
    item["_title_trimmed"] = start > 0
    item["title"] = title[start:]
    images = derived.primary.images
    accepted = [url for url in images if _accepted_image(url)]
    item["_image_refused"] = not accepted
    if accepted:
        item["image_link"] = accepted[0]
        item["additional_image_links"] = accepted[1:1 + google.MAX_IMAGES]
    return item


CHANNEL = Channel(
    code="criteo",
    title="Criteo",
    spec_url="https://help.criteo.com/kb/guide/en/product-feed-specifications",
    to_item=to_item,
    rules=RULES,
    limits={"title": 150, "description": 5000},
    format=google.rss("feeds/criteo.xml"),
    paste_into=("Criteo: the product feed URL in Criteo's onboarding (or send it to your "
                "Criteo contact)"),
)
