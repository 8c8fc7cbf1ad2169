"""Parse a rendered feed back, streaming, before it may be published.

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

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from feeds.errors import FeedInvalid

__all__ = ["FeedChecker", "IdDigest", "ParsedFeed", "check_feed"]

_READ = 1 << 20


class IdDigest:
    """A running SHA-256 over item ids, in order; equal digests mean equal id sequences."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0

    def add(self, item_id: str) -> None:
        self._hash.update(item_id.encode("utf-8") + b"\x00")
        self.count += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@dataclass(frozen=True)
class ParsedFeed:
    items: int
    digest: str


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
