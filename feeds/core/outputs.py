"""How a channel's items are written and delivered, described as values.

A channel names its format (`RssXml`, `Json` or `Csv`) and, if it is pushed to an
API, a `Push` delivery. The code that renders a format, checks its output and
reads it back lives in `feeds.formats`; the push clients live in
`feeds.pipeline.deliver`. These descriptions are pure data, so channel modules
stay free of I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Csv", "Format", "Json", "Push", "RssXml"]

GOOGLE_NS = "http://base.google.com/ns/1.0"


@dataclass(frozen=True)
class RssXml:
    """An XML document rendered by a Jinja template (autoescaped, StrictUndefined).

    :param template: the template's name under templates/ (overridable per shop).
    :param namespaces: prefix -> URI, declared on the root; used by checks and `diff`.
    :param item_tag: the (Clark-notation) tag of one item.
    :param id_tag: the tag of an item's id, inside the item.
    :param diff_fields: label -> tag of the values `diff` compares.
    """

    template: str
    namespaces: Mapping[str, str]
    item_tag: str = "item"
    id_tag: str = f"{{{GOOGLE_NS}}}id"
    diff_fields: Mapping[str, str] = field(default_factory=lambda: {
        name: f"{{{GOOGLE_NS}}}{name}" for name in ("price", "sale_price", "availability")})
    extension: str = "xml"
    content_type: str = "application/xml; charset=utf-8"


@dataclass(frozen=True)
class Json:
    """A JSON document written by Python's serialiser: `{<header>, items_key: [items]}`,
    one item per line (so it is checked and read back item by item).

    :param items_key: the key of the item list.
    :param id_field: the item's id (a top-level key of each item).
    :param header: feed metadata -> the document's other top-level keys (before the list).
    :param diff_fields: label -> dotted path in an item of the values `diff` compares.
    :param sequence_field: when set, each item gets this key first, numbered 1, 2, ...
        in the order the document is written (Amazon's `messageId`: unique within
        a document, which one item alone cannot know).
    """

    items_key: str
    id_field: str
    header: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    diff_fields: Mapping[str, str] = field(default_factory=dict)
    sequence_field: str = ""
    extension: str = "json"
    content_type: str = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Csv:
    """A CSV file written by Python's csv module: a header row, then one row per item.

    :param columns: the header, in order; items are dicts keyed by these names.
    :param id_column: the column holding the item id.
    :param delimiter: the field separator.
    :param diff_fields: label -> column of the values `diff` compares.
    """

    columns: tuple[str, ...]
    id_column: str
    delimiter: str = ","
    diff_fields: Mapping[str, str] = field(default_factory=dict)
    extension: str = "csv"
    content_type: str = "text/csv; charset=utf-8"


Format = RssXml | Json | Csv


@dataclass(frozen=True)
class Push:
    """The channel's published file is also sent to an API, by the client registered
    under `client` in `feeds.pipeline.deliver` (by default the channel's kind).

    :param credentials: the environment variables holding the credentials, by role,
        each with `{NAME}` standing for the channel's name in upper case
        (e.g. `{"merchant_id": "{NAME}_MERCHANT_ID"}`).
    """

    client: str = ""
    credentials: Mapping[str, str] = field(default_factory=dict)

    def credential_names(self, channel_name: str) -> dict[str, str]:
        """role -> environment variable name, for the channel called `channel_name`."""
        upper = channel_name.upper().replace("-", "_")
        return {role: var.replace("{NAME}", upper) for role, var in self.credentials.items()}
