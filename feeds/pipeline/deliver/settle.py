"""Pending SKUs of a feed-style push (one document, a report later), shared by the
Amazon and Mirakl clients.

Before a document goes out, each SKU in it is recorded `pending` with the
values it will have once accepted (its target); the document's id joins them
once the marketplace gave one. A push cut short, or a report not ready when
polling stopped, leaves them so; the next push or `push-status` reads that
document's report and settles them here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from feeds.storage.ledger import LedgerEntry, SkuState

__all__ = ["by_batch", "pending", "settled"]


def pending(target: LedgerEntry, batch_id: str = "") -> LedgerEntry:
    """The entry while its document is out: the target's values, pending."""
    return replace(target, state=SkuState.PENDING, batch_id=batch_id, errors=())


def by_batch(entries: Mapping[str, LedgerEntry]) -> dict[str, list[LedgerEntry]]:
    """Pending entries whose document id is known, by that id."""
    found: dict[str, list[LedgerEntry]] = {}
    for entry in entries.values():
        if entry.state is SkuState.PENDING and entry.batch_id:
            found.setdefault(entry.batch_id, []).append(entry)
    return found


def settled(entry: LedgerEntry, errors: Iterable[str], notes: Iterable[str],
            published: set[str]) -> LedgerEntry:
    """A pending entry once its document's report is read.

    Rejected with `errors`; else deleted when its target had no values (a delete),
    live when the published file still has the SKU, paused otherwise (quantity 0).
    """
    errors = tuple(errors)
    if errors:
        return replace(entry, state=SkuState.REJECTED, errors=errors)
    if not entry.content_hash and not entry.price:
        state = SkuState.DELETED
    else:
        state = SkuState.LIVE if entry.sku in published else SkuState.PAUSED
    return replace(entry, state=state, errors=tuple(notes))
