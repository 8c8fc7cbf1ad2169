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

import re
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

__all__ = ["FeedChecker", "FeedItem", "RssXmlHandler", "StreamChecker", "check_feed"]

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
        _well_formed(self._name, self._parser.feed, data)
        self._read_events()

    def close(self) -> ParsedFeed:
        _well_formed(self._name, self._parser.close)
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


class StreamChecker:
    """`FeedChecker`'s verdict for the common document, about four times cheaper; None
    from `close()` where it cannot be sure (then `check_feed` reads the file back).

    The bytes go through libxml2 as they come, with no tree built and no Python
    called (a parser target that hears nothing): that proves the document
    well-formed, as `FeedChecker`'s parser does with the same hardening. It does
    not prove it namespace-well-formed (an undeclared prefix, a name with two
    colons): libxml2 reports that only to a parser that builds names, so the
    patterns below prove it instead. The root's start tag, closed, is parsed into a
    tree once per file (`_root_declarations`): that checks its names and gives its
    namespace declarations. The items and their ids are read from the same bytes by
    pattern, which finds exactly the items and ids the XML means only where nothing
    can hide markup or rebind a prefix; so it decides only for a document that
    declares UTF-8, has no comment, CDATA section, processing instruction or
    DOCTYPE (`<!`, `<?`), declares its namespaces on its root element and nowhere
    else (no byte string `xmlns` after the root's start tag: a declaration's name is
    spelt out, never a reference), no default namespace, writes each item as
    `<item>` with its id element first (`<g:id>text</g:id>`), never nests items,
    whose ids carry no character reference or carriage return, and whose every
    other tag is plain: an ASCII name, unprefixed or with a prefix the root
    declared, and unprefixed attributes (`_tag_pattern`); anything else gives None.
    Every document the fast renderer (`rss_fast`) writes is of that kind. So are
    limits that libxml2 enforces only while it builds a tree: the check is sure
    only of a document whose elements cannot nest 2,048 deep (`_MOST_TAGS`), whose
    every stretch without an item's end is shorter than `_LONGEST_STRETCH` (which
    also bounds what it holds in memory), and that it was fed in parts shorter than
    `_LONGEST_TEXT`.
    """

    def __init__(self, name: str, *, item_tag: str, id_tag: str,
                 namespaces: Mapping[str, str]) -> None:
        self._name, self._wanted = name, namespaces
        self._declared: dict[str | None, str] = {}
        self._parser = _parser(_Silent())
        self._id_ns, _, self._id_name = id_tag[1:].partition("}")
        self._sure = item_tag == "item" and id_tag.startswith("{")
        self._pending: list[bytes] = []  # the bytes after the last `</item>` so far
        self._pending_size = 0
        self._seam = b""  # their last bytes, where an `</item>` may have begun
        self._between_tags = 0  # the tags outside items read so far
        self._items: re.Pattern[bytes] | None = None  # known once the head is read
        self._tags: re.Pattern[bytes] | None = None  # the plain tags, likewise
        self._digest = IdDigest()

    def feed(self, data: bytes) -> None:
        _well_formed(self._name, self._parser.feed, data)
        if not self._sure:
            return
        # Only the new bytes are searched for the last `</item>` (and the seam with the
        # bytes before them), so a long stretch without one costs no more than its size.
        at = data.rfind(_END)
        if at >= 0:
            cut = at + len(_END)
        else:
            at = (self._seam + data[:len(_END) - 1]).find(_END)
            if at < 0:
                self._hold(data)
                return
            cut = at + len(_END) - len(self._seam)
        part = b"".join([*self._pending, data[:cut]])
        self._pending, self._pending_size, self._seam = [], 0, b""
        self._hold(data[cut:])
        self._read(part)

    def _hold(self, data: bytes) -> None:
        """Keep `data` until the next `</item>`; not sure once that stretch is too long."""
        self._pending.append(data)
        self._pending_size += len(data)
        self._seam = (self._seam + data[-len(_END):])[-len(_END) + 1:]
        if self._pending_size > _LONGEST_STRETCH:
            self._sure = False
            self._pending, self._pending_size = [], 0

    def close(self) -> ParsedFeed | None:
        _well_formed(self._name, self._parser.close)
        if self._sure:
            self._read(b"".join(self._pending))
        if not self._sure:
            return None
        for prefix, uri in self._wanted.items():
            if self._declared.get(prefix) != uri:
                raise FeedInvalid(f"{self._name}: namespace {prefix}={uri} is not declared")
        return ParsedFeed(self._digest.count, self._digest.hexdigest())

    def _read(self, part: bytes) -> None:
        """The items of `part`, a run of whole items (the head before the first)."""
        if len(part) >= _LONGEST_TEXT:  # it could hold a text node too long for a tree
            self._sure = False
            return
        if self._items is None:
            part = self._head(part)
            if not self._sure:
                return
        assert self._items is not None and self._tags is not None
        # [between, id, between, id, ..., between]: each item matched whole, its id
        # element first, every other tag inside it plain; the text between items
        # (the channel's head, the tail) must hold only plain tags too: no item, no
        # comment, CDATA or processing instruction (every `<` starts a plain tag).
        found = self._items.split(part)
        between = b"".join(found[::2])
        tags = between.count(b"<")
        self._between_tags += tags
        if (_DECLARATION.search(part) or tags != len(self._tags.findall(between))
                or self._between_tags > _MOST_TAGS):
            self._sure = False
            return
        texts = [_text(raw) for raw in found[1::2]]
        if not all(texts):  # an empty id, a reference, a CR: `FeedInvalid` says which
            self._sure = False
            return
        self._digest.add_all(texts)

    def _head(self, part: bytes) -> bytes:
        """`part` after the root element's start tag, once that tag declared every
        namespace of the document so far and bound the id's to one prefix; else not sure."""
        head = _HEAD.match(part)
        declared = _root_declarations(part[:head.end()], head.group(1)) if head else None
        if declared is None:
            self._sure = False
            return b""
        self._declared = declared
        prefixes = [p for p, uri in declared.items() if uri == self._id_ns]
        if None in declared or "" in declared or len(prefixes) != 1:
            self._sure = False
            return b""
        id_tag = re.escape(f"{prefixes[0]}:{self._id_name}".encode())
        self._tags = re.compile(_tag_pattern(declared))
        self._items = re.compile(
            rb"<item>\s*+<%s>([^<]*+)</%s>(?:[^<]*+%s){0,%d}+[^<]*+</item>"
            % (id_tag, id_tag, _item_tag_pattern(declared), _MOST_TAGS))
        return part[head.end():]


def _parser(target: object) -> etree.XMLParser:
    """libxml2, hardened as `FeedChecker`'s parser, telling `target` what it hears."""
    return etree.XMLParser(target=target, resolve_entities=False, no_network=True,
                           load_dtd=False, huge_tree=True)


class _Silent:
    """A parser target that hears nothing: libxml2 builds no tree and calls no Python
    per element. (One that hears `start_ns` costs 40 % more: lxml then handles every
    start tag to find the few that declare a namespace; BENCHMARKS.md, phase 5.)"""

    def close(self) -> None:
        return None


def _root_declarations(head: bytes, root: bytes) -> dict[str | None, str] | None:
    """prefix -> URI as libxml2 reads them on the root element, whose start tag ends
    `head`; None where `head` closed by `</root>` is not namespace-well-formed XML (a
    `>` inside an attribute value ended the pattern's match early, a self-closed
    root, an undeclared prefix: the full check then says which)."""
    try:
        element = etree.fromstring(head + b"</" + root + b">", _parser(None))
    except etree.XMLSyntaxError:
        return None
    return dict(element.nsmap)


def _tag_pattern(declared: Mapping[str | None, str]) -> bytes:
    """A plain start, end or empty tag other than an item's: its name an ASCII NCName,
    unprefixed or with one of the `declared` prefixes, its attributes unprefixed (a
    prefixed one could repeat another through a second prefix) and quoted. Names
    libxml2 refuses once it builds them (`h:x` with `h` undeclared, `g:a:b`, `g:`,
    `g:1`) do not match."""
    return (rb"<(?!/?item[\s/>])/?+(?:(?:%s):)?+%s(?:\s++%s\s*+=\s*+(?:\"[^\"<]*+\"|'[^'<]*+'))*+"
            rb"\s*+/?+>" % (_prefixes(declared), _NAME, _NAME))


def _item_tag_pattern(declared: Mapping[str | None, str]) -> bytes:
    """A tag inside an item, plainer still: a start or end tag as `_tag_pattern`'s,
    without attributes or spaces (the built-in templates write none there). The
    tags inside items are many, so the pattern is the one measured cheapest: 0.13 s
    of CPU per 100,000 items more than not reading the names at all, where the
    general tag with attributes cost 0.24 s (BENCHMARKS.md, phase 5)."""
    prefixes = _prefixes(declared)
    return (rb"<(?:(?:%s):%s|/(?:%s):%s|(?!/?item[\s/>])/?+%s)>"
            % (prefixes, _NAME, prefixes, _NAME, _NAME))


def _prefixes(declared: Mapping[str | None, str]) -> bytes:
    return b"|".join(re.escape(p.encode()) for p in declared if p)


# The XML declaration (UTF-8) and the root element's start tag (group 1: its name).
_HEAD = re.compile(rb"""<\?xml version=["']1\.0["'] encoding=["']utf-8["']\s*\?>\s*"""
                   rb"<([A-Za-z_][\w.-]*)(?:\s[^<>]*)?>", re.IGNORECASE)
# Where a namespace may be declared (an attribute's name is spelt out, never a
# reference). A compiled pattern: it finds it in half the time of `bytes.find`.
_DECLARATION = re.compile(rb"xmlns")
_END = b"</item>"
# libxml2 refuses to build a tree deeper than 2,048 elements (with `huge_tree`), a
# limit its parser without a tree does not have: the check is sure only where at
# most this many tags lie outside the items, and this many inside each item, so
# that no element can be nested deeper than about 2,000.
_MOST_TAGS = 1000
# Longer than this without an item's end: not sure (an item or a head this long is
# not one a feed should have, and holding it would cost its size in memory).
_LONGEST_STRETCH = 1 << 23
# libxml2 refuses a text node this long in a tree, and only there.
_LONGEST_TEXT = 10**9
# An XML name without a colon, in ASCII (any other: not sure).
_NAME = rb"[A-Za-z_][\w.-]*+"
_PREDEFINED = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&"))


def _text(raw: bytes) -> str:
    """An id element's text as the XML means it, stripped; '' where not sure (a
    character reference, or a CR, which XML reads as a line feed)."""
    text = raw.decode("utf-8")
    if "\r" in text:
        return ""
    if "&" in text:
        if "&#" in text:
            return ""
        for entity, char in _PREDEFINED:
            text = text.replace(entity, char)
    return text.strip()


def _well_formed(name: str, step: Any, *args: Any) -> None:
    """Run one step of a parser (`feed`, `close`); a syntax error is `FeedInvalid`."""
    try:
        step(*args)
    except etree.XMLSyntaxError as exc:
        raise FeedInvalid(f"{name} is not well-formed XML: {exc}") from None


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

    def checker(self, name: str) -> StreamChecker:
        """A check to feed the document's bytes as they are written (see `StreamChecker`;
        where it is not sure, `check` reads the file back)."""
        fmt = self.format
        return StreamChecker(name, item_tag=fmt.item_tag, id_tag=fmt.id_tag,
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
