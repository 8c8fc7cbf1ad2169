"""THE id policy: the one product id of every feed item and every tracking event."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = ["IdField", "feed_id"]


class IdField(StrEnum):
    """Which Vendre field becomes the one product id of every feed and event."""

    ID = "id"
    ARTICLE_NUMBER = "article_number"


def feed_id(raw: Mapping[str, Any], id_field: IdField) -> str:
    """The product id every feed item and every tracking event uses.

    Returns '' when the chosen field is empty (the item is then an error, not a guess).
    """
    if id_field is IdField.ARTICLE_NUMBER:
        return str(raw.get("article_number") or "").strip()
    value = raw.get("id")
    return "" if value is None else str(value)
