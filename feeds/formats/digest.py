"""What every format's parse-back check compares: the ids of the items, in order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["IdDigest", "ParsedFeed"]


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
