"""Output formats: render items to text, parse the output back, read it for `diff`.

`handler(format, env)` gives the handler of a channel's format description
(`feeds.core.outputs`): `render(items, meta)` yields the document's text in
chunks, `check(path)` reads a finished file back and returns its item count and
id digest (`ParsedFeed`) or raises `FeedInvalid`, and `read_values(fh)` gives
each item's `diff_fields`. RSS XML goes through a Jinja template; JSON and CSV
are written by Python serialisers, never by text templates.

Import rule: formats import `feeds.core` and `feeds.errors` (and jinja2, lxml,
json, csv); never the pipeline, storage, config or the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

import jinja2

from feeds.core.outputs import Csv, Format, Json, RssXml
from feeds.formats.csv_doc import CsvHandler
from feeds.formats.digest import IdDigest, ParsedFeed
from feeds.formats.json_doc import JsonHandler
from feeds.formats.pieces import Pieces
from feeds.formats.rss_xml import RssXmlHandler

__all__ = ["Checker", "FormatHandler", "IdDigest", "ParsedFeed", "Pieces", "handler", "id_field"]


class Checker(Protocol):
    """A parse-back check fed a document's bytes in order, as they are written."""

    def feed(self, data: bytes) -> None: ...

    def close(self) -> ParsedFeed | None:
        """The verdict; None where the bytes alone could not decide (`check` the file)."""


class FormatHandler(Protocol):
    format: Format

    def render(self, items: Iterable[dict[str, Any]],
               meta: Mapping[str, Any]) -> Iterator[str]: ...

    def pieces(self, meta: Mapping[str, Any]) -> Pieces | None: ...

    def checker(self, name: str) -> Checker | None: ...

    def check(self, path: Path) -> ParsedFeed: ...

    def read_values(self, fh: IO[bytes]) -> dict[str, tuple[str, ...]]: ...


def handler(fmt: Format, env: jinja2.Environment | None) -> FormatHandler:
    """The handler of one format description (`env`: the Jinja environment templates
    render with; None is enough for checking and reading back)."""
    if isinstance(fmt, RssXml):
        return RssXmlHandler(fmt, env)
    if isinstance(fmt, Json):
        return JsonHandler(fmt)
    if isinstance(fmt, Csv):
        return CsvHandler(fmt)
    raise TypeError(f"unknown format {fmt!r}")


def id_field(fmt: Format) -> str:
    """The item key that holds an item's id."""
    if isinstance(fmt, Json):
        return fmt.id_field
    if isinstance(fmt, Csv):
        return fmt.id_column
    return "id"
