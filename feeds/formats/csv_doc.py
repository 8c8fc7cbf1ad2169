"""CSV files written by Python's csv module: a header row, then one row per item.

UTF-8, quoted where needed (a delimiter, a quote or a line break in a cell).
The check reads the file back with the csv module: the header must be the
format's columns, every row as long as the header, every row an id.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from feeds.core.outputs import Csv
from feeds.errors import FeedInvalid
from feeds.formats.digest import IdDigest, ParsedFeed

__all__ = ["CsvHandler"]

_ROWS_PER_CHUNK = 256


class CsvHandler:
    """Render, check and read back one `Csv` format."""

    def __init__(self, fmt: Csv) -> None:
        self.format = fmt

    def render(self, items: Iterable[dict[str, Any]], meta: Mapping[str, Any]) -> Iterator[str]:
        """Rows in chunks; a cell is the item's value as text ('' when absent)."""
        columns = self.format.columns
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.format.delimiter, lineterminator="\r\n")
        writer.writerow(columns)
        for count, item in enumerate(items, start=1):
            writer.writerow(["" if item.get(c) is None else str(item[c]) for c in columns])
            if count % _ROWS_PER_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def _rows(self, fh: IO[bytes], name: str) -> Iterator[dict[str, str]]:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        reader = csv.reader(text, delimiter=self.format.delimiter, strict=True)
        try:
            header = next(reader, None)
            if header is None or tuple(header) != self.format.columns:
                raise FeedInvalid(f"{name}: the header is not {';'.join(self.format.columns)}")
            for row in reader:
                if len(row) != len(header):
                    raise FeedInvalid(f"{name}: line {reader.line_num} has {len(row)} cells, "
                                      f"not {len(header)}")
                yield dict(zip(header, row, strict=True))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise FeedInvalid(f"{name} is not readable CSV: {exc}") from None
        finally:
            text.detach()

    def pieces(self, meta: Mapping[str, Any]) -> None:
        """Never in pieces (the build writes the whole document through `render`)."""
        return None

    def checker(self, name: str) -> None:
        """None: `check` reads the finished file back."""
        return None

    def check(self, path: Path) -> ParsedFeed:
        digest = IdDigest()
        with path.open("rb") as fh:
            for row in self._rows(fh, path.name):
                item_id = row[self.format.id_column]
                if not item_id:
                    raise FeedInvalid(f"{path.name}: row {digest.count + 1} has no id")
                digest.add(item_id)
        return ParsedFeed(digest.count, digest.hexdigest())

    def items(self, fh: IO[bytes]) -> Iterator[dict[str, str]]:
        """The rows of a published file, as dicts by column, one at a time."""
        return self._rows(fh, "document")

    def read_values(self, fh: IO[bytes]) -> dict[str, tuple[str, ...]]:
        columns = tuple(self.format.diff_fields.values())
        return {row[self.format.id_column]: tuple(row.get(c, "") for c in columns)
                for row in self._rows(fh, "document")}
