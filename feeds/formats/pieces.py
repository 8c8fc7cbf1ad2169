"""A document whose items render independently of one another, as three pieces."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Pieces"]


@dataclass(frozen=True)
class Pieces:
    """`head + render_items(every item, in runs of any length) + tail` is the document.

    `render_items` is a module-level function, so the build can send it to the
    process where the items are made and render them there.
    """

    head: str
    render_items: Callable[[Iterable[Mapping[str, Any]]], str]
    tail: str
