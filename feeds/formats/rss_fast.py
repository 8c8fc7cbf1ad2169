"""The built-in RSS template, compiled by hand: the same bytes as Jinja, several times faster.

`templates/feeds/_rss.xml` (which google.xml, meta.xml and criteo.xml extend)
places the item's values in a fixed order, each escaped as Jinja's autoescape
does (markupsafe: `& < > ' "`). Rendered item by item through Jinja it was the
build's largest cost (BENCHMARKS.md); this module writes the same text with
plain string operations, so that a batch of items becomes one string wherever
the items are made (the build's child process included).

It applies only where it cannot differ from Jinja (`renders_builtin`): the
template a build would load is the built-in `_rss.xml` itself, or a template
that does nothing but extend it, and `_rss.xml` is byte for byte the version
this module was written for (`TEMPLATE_SHA256`). A shop's own template in
`[build] templates_dir` is never compiled: it renders through Jinja. If the
built-in template changes, the fast path switches itself off and a test says
so; the golden files and a property test over fuzzed items prove the two equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2
import markupsafe
from jinja2 import nodes

from feeds.errors import BuildError

__all__ = ["BASE_TEMPLATE", "TAIL", "TEMPLATE_SHA256", "escape", "head", "render_items",
           "renders_builtin"]

BASE_TEMPLATE = "feeds/_rss.xml"
# SHA-256 of the _rss.xml this module reproduces (`sha256sum templates/feeds/_rss.xml`).
TEMPLATE_SHA256 = "0d6b5f359f7fdffbeba140a9a69165285407a274c34ff63caaaf5e3efbf0c14f"
TAIL = "</channel>\n</rss>\n"
# The fields the template writes only when they are truthy, in its order, after
# <g:condition> (`render_items` writes each out; the tests draw items with these).
_OPTIONAL = ("brand", "gtin", "mpn", "identifier_exists", "item_group_id", "color", "size",
             "material", "pattern", "product_type", "google_product_category",
             "shipping_weight")


def _escape_text(value: str) -> str:
    """markupsafe's five replacements, each only where needed."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "'" in value:
        value = value.replace("'", "&#39;")
    if '"' in value:
        value = value.replace('"', "&#34;")
    return value


# markupsafe's own C function for text, the one its `escape` (and so Jinja) calls; our
# equal Python version where a markupsafe release no longer has it.
_escape_str = getattr(markupsafe, "_escape_inner", _escape_text)


def escape(value: Any) -> str:
    """`value` as Jinja's autoescape writes it (markupsafe's `& < > ' "` replacements)."""
    if type(value) is str:
        return _escape_str(value)
    return str(markupsafe.escape(value))  # numbers, None, objects with __html__


def head(feed: Mapping[str, Any]) -> str:
    """The document up to the first item."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">\n<channel>\n'
            f"<title>{escape(feed['title'])}</title>\n<link>{escape(feed['link'])}</link>\n"
            f"<description>{escape(feed['description'])}</description>\n")


def render_items(items: Iterable[Mapping[str, Any]]) -> str:
    """The `<item>` elements of `items`, as the template's item loop writes them.

    :raises BuildError: an item lacks a field the template reads.
    """
    parts: list[str] = []
    add = parts.append
    e = escape
    try:
        for item in items:
            add(f"<item>\n<g:id>{e(item['id'])}</g:id>\n<title>{e(item['title'])}</title>\n")
            value = item["description"]
            if value:
                add(f"<description>{e(value)}</description>\n")
            add(f"<link>{e(item['link'])}</link>\n"
                f"<g:image_link>{e(item['image_link'])}</g:image_link>\n")
            for url in item["additional_image_links"]:
                add(f"<g:additional_image_link>{e(url)}</g:additional_image_link>\n")
            add(f"<g:availability>{e(item['availability'])}</g:availability>\n")
            value = item["availability_date"]
            if value:
                add(f"<g:availability_date>{e(value)}</g:availability_date>\n")
            add(f"<g:price>{e(item['price'])}</g:price>\n")
            value = item["sale_price"]
            if value:
                add(f"<g:sale_price>{e(value)}</g:sale_price>\n")
                value = item["sale_price_effective_date"]
                if value:
                    add(f"<g:sale_price_effective_date>{e(value)}"
                        "</g:sale_price_effective_date>\n")
            add(f"<g:condition>{e(item['condition'])}</g:condition>\n")
            # The optional fields written out, not looped over (a tenth of the time).
            value = item["brand"]
            if value:
                add(f"<g:brand>{e(value)}</g:brand>\n")
            value = item["gtin"]
            if value:
                add(f"<g:gtin>{e(value)}</g:gtin>\n")
            value = item["mpn"]
            if value:
                add(f"<g:mpn>{e(value)}</g:mpn>\n")
            value = item["identifier_exists"]
            if value:
                add(f"<g:identifier_exists>{e(value)}</g:identifier_exists>\n")
            value = item["item_group_id"]
            if value:
                add(f"<g:item_group_id>{e(value)}</g:item_group_id>\n")
            value = item["color"]
            if value:
                add(f"<g:color>{e(value)}</g:color>\n")
            value = item["size"]
            if value:
                add(f"<g:size>{e(value)}</g:size>\n")
            value = item["material"]
            if value:
                add(f"<g:material>{e(value)}</g:material>\n")
            value = item["pattern"]
            if value:
                add(f"<g:pattern>{e(value)}</g:pattern>\n")
            value = item["product_type"]
            if value:
                add(f"<g:product_type>{e(value)}</g:product_type>\n")
            value = item["google_product_category"]
            if value:
                add(f"<g:google_product_category>{e(value)}</g:google_product_category>\n")
            value = item["shipping_weight"]
            if value:
                add(f"<g:shipping_weight>{e(value)}</g:shipping_weight>\n")
            for pairs in (item["custom_labels"], item["extra"]):
                for name, value in pairs.items():
                    name = e(name)
                    add(f"<g:{name}>{e(value)}</g:{name}>\n")
            add("</item>\n")
    except KeyError as exc:
        raise BuildError(f"template {BASE_TEMPLATE}: an item has no field {exc}") from None
    return "".join(parts)


def renders_builtin(env: jinja2.Environment, name: str) -> bool:
    """Whether template `name`, loaded through `env`, renders exactly as this module: it is
    the built-in `_rss.xml` (or only extends it), and `env` renders the way `make_env` sets
    it up (autoescape, trimmed blocks, strict undefined)."""
    loader = env.loader
    if loader is None or not (env.trim_blocks and env.lstrip_blocks and
                              env.keep_trailing_newline and env.finalize is None and
                              env.newline_sequence == "\n" and
                              issubclass(env.undefined, jinja2.StrictUndefined)):
        return False
    try:
        base = loader.get_source(env, BASE_TEMPLATE)[0]
        source = loader.get_source(env, name)[0] if name != BASE_TEMPLATE else base
        extends_only = name == BASE_TEMPLATE or _only_extends_base(env.parse(source))
    except jinja2.TemplateError:
        return False
    autoescape = env.autoescape(BASE_TEMPLATE) if callable(env.autoescape) else env.autoescape
    return extends_only and autoescape is True and \
        hashlib.sha256(base.encode("utf-8")).hexdigest() == TEMPLATE_SHA256


def _only_extends_base(tree: nodes.Template) -> bool:
    body = tree.body
    return len(body) == 1 and isinstance(body[0], nodes.Extends) and \
        isinstance(body[0].template, nodes.Const) and body[0].template.value == BASE_TEMPLATE
