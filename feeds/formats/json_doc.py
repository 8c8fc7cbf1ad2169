"""JSON documents written by Python's serialiser, one item per line.

The layout is fixed, so that a document of a million items is written and
checked item by item, never held whole::

    {<header keys>, "articles": [
    {item},
    {item}
    ]}

The check reads it back line by line: the first line must be the header
followed by the item list's opening, each item line one JSON object (a comma
after every item but the last), the last line the closing; together that is one
valid JSON document. UTF-8, never ASCII escapes (marketplaces read UTF-8).

Decimals (money) are written as JSON numbers with their exact digits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from feeds.core.outputs import Json
from feeds.core.validation import lookup
from feeds.errors import BuildError, FeedInvalid
from feeds.formats.digest import IdDigest, ParsedFeed

__all__ = ["JsonHandler", "dumps"]


def _number(value: Any) -> float:
    """A Decimal as the float JSON prints with the same digits (refused when it would not)."""
    if isinstance(value, Decimal):
        number = float(value)
        if Decimal(repr(number)) != value:
            raise BuildError(f"{value} cannot be written exactly as a JSON number")
        return number
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """One compact JSON text (UTF-8 characters kept, Decimals as exact numbers)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_number,
                      allow_nan=False)


class JsonHandler:
    """Render, check and read back one `Json` format."""

    def __init__(self, fmt: Json) -> None:
        self.format = fmt

    def _opening(self, meta: Mapping[str, Any]) -> str:
        header = dict(self.format.header(meta)) if self.format.header else {}
        pairs = "".join(f"{dumps(k)}:{dumps(v)}," for k, v in header.items())
        return "{" + pairs + dumps(self.format.items_key) + ":[\n"

    def render(self, items: Iterable[dict[str, Any]], meta: Mapping[str, Any]) -> Iterator[str]:
        yield self._opening(meta)
        separator = ""
        number = self.format.sequence_field
        for count, item in enumerate(items, start=1):
            yield separator + dumps({number: count, **item} if number else item)
            separator = ",\n"
        yield "\n]}\n" if separator else "]}\n"

    def pieces(self, meta: Mapping[str, Any]) -> None:
        """Never in pieces (the build writes the whole document through `render`)."""
        return None

    def checker(self, name: str) -> None:
        """None: `check` reads the finished file back."""
        return None

    def check(self, path: Path) -> ParsedFeed:
        """Read a finished document back, line by line (see the module docstring).

        :raises FeedInvalid: where it departs from the layout, or an item has no id.
        """
        digest = IdDigest()
        with path.open("rb") as fh:
            for item in _items(fh, path.name, self.format):
                item_id = item.get(self.format.id_field)
                if item_id in (None, ""):
                    raise FeedInvalid(f"{path.name}: item number {digest.count + 1} has no id")
                digest.add(str(item_id))
        return ParsedFeed(digest.count, digest.hexdigest())

    def items(self, fh: IO[bytes]) -> Iterator[dict[str, Any]]:
        """The items of a published document, one at a time."""
        return _items(fh, "document", self.format)

    def read_values(self, fh: IO[bytes]) -> dict[str, tuple[str, ...]]:
        paths = tuple(self.format.diff_fields.values())
        values: dict[str, tuple[str, ...]] = {}
        for item in _items(fh, "document", self.format):
            item_id = str(item.get(self.format.id_field, ""))
            values[item_id] = tuple(_shown(lookup(item, path)) for path in paths)
        return values


def _shown(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else dumps(value)


def _items(fh: IO[bytes], name: str, fmt: Json) -> Iterator[dict[str, Any]]:
    """Every item of a document in the layout above; FeedInvalid where it departs."""
    first = fh.readline().decode("utf-8").rstrip("\n")
    try:
        head = json.loads(first + "]}")
    except ValueError:
        raise FeedInvalid(f"{name}: the first line is not the document's opening") from None
    if not isinstance(head, dict) or head.get(fmt.items_key) != []:
        raise FeedInvalid(f"{name}: the first line does not open the {fmt.items_key!r} list")
    pending = ""
    for number, raw in enumerate(fh, start=2):
        line = raw.decode("utf-8").rstrip("\n")
        if line == "]}":
            if pending.endswith(","):
                raise FeedInvalid(f"{name}: a comma after the last item")
            if fh.read(1):
                raise FeedInvalid(f"{name}: text after the closing line")
            return
        if pending and not pending.endswith(","):
            raise FeedInvalid(f"{name}: line {number - 1} is not followed by a comma")
        pending = line
        try:
            item = json.loads(line.removesuffix(","))
        except ValueError:
            raise FeedInvalid(f"{name}: line {number} is not one JSON object") from None
        if not isinstance(item, dict):
            raise FeedInvalid(f"{name}: line {number} is not one JSON object")
        yield item
    raise FeedInvalid(f"{name}: the document is truncated (no closing line)")
