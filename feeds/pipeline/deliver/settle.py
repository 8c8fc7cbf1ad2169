"""Pending and unconfirmed SKUs: a feed-style push's (one document, a report later),
shared by the Amazon and Mirakl clients, and `unconfirmed`, shared by every client.

Before a document goes out, each SKU in it is recorded `pending` with the
values it will have once accepted (its target); the document's id joins them
once the marketplace gave one. A push cut short, or a report not ready when
polling stopped, leaves them so; the next push or `push-status` reads that
document's report and settles them here. A report that cannot be read, or does not
come within `report_timeout_hours`, leaves them `unconfirmed` instead: the next push
sends them again, and that document's report confirms them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from feeds.pipeline.deliver import ItemParts, PushContext, PushReport, overdue, unchanged
from feeds.pipeline.deliver.http import PushHttpError, quoted
from feeds.storage.ledger import LedgerEntry, SkuState

__all__ = ["by_batch", "pending", "processing", "settled", "status_of", "stuck", "unconfirmed",
           "unread_status"]


def pending(target: LedgerEntry, batch_id: str = "") -> LedgerEntry:
    """The entry while its document is out: the target's values, pending."""
    return replace(target, state=SkuState.PENDING, batch_id=batch_id, errors=())


def unconfirmed(entry: LedgerEntry, why: str) -> LedgerEntry:
    """`entry` (its target values, its ids) once no answer could be read as its
    acceptance; `why` says what was wrong with the answer."""
    return replace(entry, state=SkuState.UNCONFIRMED, errors=(why,))


def by_batch(entries: Mapping[str, LedgerEntry]) -> dict[str, list[LedgerEntry]]:
    """Pending entries whose document id is known, by that id."""
    found: dict[str, list[LedgerEntry]] = {}
    for entry in entries.values():
        if entry.state is SkuState.PENDING and entry.batch_id:
            found.setdefault(entry.batch_id, []).append(entry)
    return found


def processing(ctx: PushContext, report: PushReport, group: list[LedgerEntry],
               published: Mapping[str, ItemParts], what: str, status: str) -> set[str]:
    """The pending SKUs of a document (`what`: "feed 123") still processing, `status`.

    Sent more than `report_timeout_hours` ago: they are unconfirmed (sent again, said in
    `report`), and none waits. Else the SKUs that wait for its report: those whose
    published item is what the document sent, or that are not published (their removal
    follows the report). One that changed since is sent again at once: no earlier send
    holds back a change.
    """
    if any(overdue(ctx, e) for e in group):
        why = stuck(ctx, what, status)
        ctx.ledger.put(ctx.name, [unconfirmed(e, why) for e in group])
        note = f"{why}: its {len(group)} SKUs are sent again"
        report.message = f"{report.message}; {note}" if report.message else note
        return set()
    return {e.sku for e in group
            if e.sku not in published or unchanged(published[e.sku], e)}


def status_of(report: PushReport, what: str, ask: Callable[[], Mapping[str, Any]],
              read: Callable[[Mapping[str, Any]], str]) -> tuple[Mapping[str, Any], str]:
    """A document's status answer (`ask()`: getFeed, OF02) and the status `read` finds in
    it. An answer that cannot be read or reached, or holds no status, is noted in
    `report` (the push ends with exit 1), and its status is '' (still processing, as far
    as anyone can tell)."""
    try:
        answer = ask()
    except PushHttpError as exc:
        report.unread.append(f"{what}: its status cannot be read ({exc})")
        return {}, ""
    status = read(answer)
    if not status:
        unread_status(report, what, answer)
    return answer, status


def unread_status(report: PushReport, what: str, answer: Any) -> str:
    """Notes in `report` a status answer about `what` that holds no status; the reason."""
    why = f"{what}: a status answer in no known shape ({quoted(answer)})"
    report.unread.append(why)
    return why


def stuck(ctx: PushContext, what: str, status: str) -> str:
    """Why the SKUs of a document still processing after the timeout are unconfirmed."""
    hours = float(getattr(ctx.settings, "report_timeout_hours", 24.0))
    return (f"{what}: still {status or 'without a status'}, no report within {hours:g} h of "
            "sending it (report_timeout_hours)")


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
