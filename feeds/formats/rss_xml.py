"""RSS XML: items rendered through a Jinja template, parsed back before publishing.

Rendering streams the template's output (`RssXmlHandler.render`); Python has
formatted every value already, and the template only places them (autoescape,
StrictUndefined).

Parse-back:

The parser is hardened (no DTDs, no entity expansion, no network) and frees
each item as it goes, so checking a 1,000,000-item feed costs no more memory
than building it. The check proves the file is well-formed XML, that its root
declares the channel's namespaces, and that it holds exactly the items that
were rendered, in order (a running digest of their ids), so an overridden
template cannot silently drop or duplicate items.

`check_feed` reads a finished file in chunks through a `FeedChecker` (which
can also be fed bytes as they are produced, in the thread that owns it:
lxml trees must never cross threads).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import jinja2
from lxml import etree

from feeds.core.outputs import RssXml
from feeds.errors import BuildError, FeedInvalid
from feeds.formats import rss_fast
from feeds.formats.digest import IdDigest, ParsedFeed
from feeds.formats.pieces import Pieces

__all__ = ["FeedChecker", "FeedItem", "RssXmlHandler", "check_feed"]

_READ = 1 << 20


class FeedChecker:
    """Feed it a feed's bytes in order; `close()` gives the items found, or FeedInvalid."""

    def __init__(self, name: str, *, item_tag: str, id_tag: str,
                 namespaces: Mapping[str, str]) -> None:
        self._name, self._id_tag, self._wanted = name, id_tag, namespaces
        # Only the items' end events reach Python; the parser skips the rest in C.
        self._parser = etree.XMLPullParser(
            events=("start-ns", "end"), tag=item_tag, resolve_entities=False,
            no_network=True, load_dtd=False, huge_tree=True, remove_comments=True)
        self._declared: dict[str, str] = {}
        self._digest = IdDigest()

    def feed(self, data: bytes) -> None:
        try:
            self._parser.feed(data)
        except etree.XMLSyntaxError as exc:
            raise FeedInvalid(f"{self._name} is not well-formed XML: {exc}") from None
        self._read_events()

    def close(self) -> ParsedFeed:
        try:
            self._parser.close()
        except etree.XMLSyntaxError as exc:
            raise FeedInvalid(f"{self._name} is not well-formed XML: {exc}") from None
        self._read_events()
        self._check_namespaces()
        return ParsedFeed(self._digest.count, self._digest.hexdigest())

    def _read_events(self) -> None:
        for event, value in self._parser.read_events():
            if event == "start-ns":
                self._declared.setdefault(*value)
                continue
            if self._digest.count == 0:  # the root's declarations have all been seen now
                self._check_namespaces()
            self._digest_item(value)
            _release(value)

    def _digest_item(self, item: etree._Element) -> None:
        id_element = item.find(self._id_tag)
        item_id = (id_element.text or "").strip() if id_element is not None else ""
        if not item_id:
            raise FeedInvalid(f"{self._name}: item number {self._digest.count + 1} has no id")
        self._digest.add(item_id)

    def _check_namespaces(self) -> None:
        for prefix, uri in self._wanted.items():
            if self._declared.get(prefix) != uri:
                raise FeedInvalid(f"{self._name}: namespace {prefix}={uri} is not declared")


def _release(element: etree._Element) -> None:
    """Free a finished item and the siblings before it (the tree keeps them otherwise)."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def check_feed(path: Path, *, item_tag: str, id_tag: str,
               namespaces: Mapping[str, str]) -> ParsedFeed:
    """Stream-check a finished file (see FeedChecker).

    :raises FeedInvalid: not well-formed, a namespace missing on the root, or an
        item without an id.
    """
    checker = FeedChecker(path.name, item_tag=item_tag, id_tag=id_tag, namespaces=namespaces)
    with path.open("rb") as fh:
        while chunk := fh.read(_READ):
            checker.feed(chunk)
    return checker.close()


class FeedItem:
    """An item's fields as attributes: Jinja reads `item.title` by getattr first, and a
    dict would make every field lookup fail that getattr (an exception) before `[]`."""

    __slots__ = ("__dict__",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__ = fields


class RssXmlHandler:
    """Render, check and read back one `RssXml` format."""

    def __init__(self, fmt: RssXml, env: jinja2.Environment | None) -> None:
        self.format = fmt
        self._env = env

    def render(self, items: Iterable[dict[str, Any]], meta: Mapping[str, Any]) -> Iterator[str]:
        """The document's text, in chunks, as the template produces it."""
        name = self.format.template
        if self._env is None:
            raise BuildError(f"template {name}: no template environment to render with")
        try:
            template = self._env.get_template(name)
            yield from template.generate(feed=meta, items=map(FeedItem, items))
        except jinja2.TemplateError as exc:
            where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
            raise BuildError(f"template {name}{where}: {exc.message}") from None

    def pieces(self, meta: Mapping[str, Any]) -> Pieces | None:
        """The document as head, items and tail when its template is the built-in one,
        which `rss_fast` renders without Jinja; None for any other template."""
        if self._env is None or not rss_fast.renders_builtin(self._env, self.format.template):
            return None
        return Pieces(rss_fast.head(meta), rss_fast.render_items, rss_fast.TAIL)

    def checker(self, name: str) -> FeedChecker:
        """A check to feed the document's bytes as they are written (see `FeedChecker`)."""
        fmt = self.format
        return FeedChecker(name, item_tag=fmt.item_tag, id_tag=fmt.id_tag,
                           namespaces=fmt.namespaces)

    def check(self, path: Path) -> ParsedFeed:
        """Stream-check a finished document (see `check_feed`)."""
        fmt = self.format
        return check_feed(path, item_tag=fmt.item_tag, id_tag=fmt.id_tag,
                          namespaces=fmt.namespaces)

    def read_values(self, fh: IO[bytes]) -> dict[str, tuple[str, ...]]:
        """id -> the `diff_fields` of every item of a document, streamed."""
        fmt = self.format
        tags = tuple(fmt.diff_fields.values())
        values: dict[str, tuple[str, ...]] = {}
        for _event, item in etree.iterparse(fh, tag=fmt.item_tag, resolve_entities=False,
                                             no_network=True, huge_tree=True):
            item_id = (item.findtext(fmt.id_tag) or "").strip()
            values[item_id] = tuple((item.findtext(tag) or "").strip() for tag in tags)
            item.clear(keep_tail=False)
        return values
