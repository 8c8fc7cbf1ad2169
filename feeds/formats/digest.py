"""What every format's parse-back check compares: the ids of the items, in order."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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

    def add_all(self, ids: Sequence[str]) -> None:
        """`add` each of `ids`, in order (the same bytes hashed, in one call)."""
        if ids:
            self._hash.update(("\x00".join(ids) + "\x00").encode("utf-8"))
            self.count += len(ids)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@dataclass(frozen=True)
class ParsedFeed:
    items: int
    digest: str
