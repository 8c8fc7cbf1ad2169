"""Mirakl (Afound and any `kind = "mirakl"` channel): the published offers file via OF01.

    OF01 POST {api_url}/api/offers/imports  (multipart `file`, import_mode NORMAL)
    OF02 GET  .../imports/{id}, polled once a minute until COMPLETE or FAILED
    OF03 GET  .../imports/{id}/error_report  (the rows in error) -> per SKU in the ledger

`Authorization: <the shop's API key>` (`<NAME>_API_KEY`), and `shop_id` as a
query parameter when set. The first push sends every row; later ones only the
rows whose offer changed (a whole row each: NORMAL mode replaces an offer's
values) and a `delete` row for each offer no longer in the file, which carries
the offer's product columns as its last published row had them (from the file's
history); an offer whose last row is no longer in the history is not sent, and the
report says so.

Mirakl's seller OpenAPI ("Call Frequency") allows OF01 with offers only, OF02 and
OF03 each at most once a minute per seller: every call of the three waits until a
minute after the previous one of its kind (the previous push's end counts as its
last call), and a 429 waits as told.

Rows whose acceptance cannot be read are `unconfirmed`, and the next import sends them
again (its error report confirms them): an OF01 answer without an import id, an OF02
answer without a status, an error report that cannot be read, an OF02 that counts fewer
rows read than were sent or more rows in error than the error report names (it does not
say which of the others), and an import still running `report_timeout_hours` after it
was sent (the polling of one push stops then too).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from feeds.channels.mirakl import COLUMNS
from feeds.core.outputs import Csv
from feeds.errors import ConfigError
from feeds.formats.csv_doc import CsvHandler
from feeds.net import parse_json
from feeds.pipeline.deliver import (
    ItemParts,
    PushContext,
    PushError,
    PushReport,
    canonical,
    content_hash,
    count_actions,
    plan_published,
    report_timeout_s,
    update_actions,
)
from feeds.pipeline.deliver.http import PushHttpError, as_mapping, json_body, quoted, send
from feeds.pipeline.deliver.settle import (
    by_batch,
    pending,
    processing,
    settled,
    status_of,
    stuck,
    unconfirmed,
    unread_status,
)
from feeds.storage.ledger import LedgerEntry, SkuState

__all__ = ["PUSHER", "MiraklPusher", "row_parts"]

IMPORTS = "/api/offers/imports"
MIN_INTERVAL = 60.0          # Mirakl: OF01, OF02 and OF03 each at most once a minute
MARGIN = 1.0                 # a second more: the operator's clock measures the minute
POLLS = 10                   # OF02 calls of one push (ten minutes); the next push reads on
FINAL = frozenset({"COMPLETE", "FAILED", "CANCELLED", "REJECTED"})
PRICE_COLUMNS = ("price", "discount-price", "discount-start-date", "discount-end-date")
_FORMAT = Csv(columns=COLUMNS, id_column="sku", delimiter=";")


def row_parts(row: Mapping[str, str]) -> ItemParts:
    """Price (price and discount cells), stock, and a hash of the other cells."""
    quantity = row.get("quantity", "")
    rest = {k: v for k, v in row.items()
            if k not in (*PRICE_COLUMNS, "quantity", "update-delete")}
    return ItemParts(canonical({c: row.get(c, "") for c in PRICE_COLUMNS}),
                     int(quantity) if quantity.isdigit() else None, content_hash(rest))


class _Api:
    """OF01/OF02/OF03 over the injected client; counts its requests."""

    def __init__(self, ctx: PushContext, report: PushReport) -> None:
        self.ctx, self.report, self.settings = ctx, report, ctx.settings
        if not self.settings.api_url:
            raise ConfigError(f"channels.{ctx.name}.api_url: not set (the operator's Mirakl "
                              "URL, given at onboarding)")
        shop = self.settings.shop_id
        if shop and not shop.isdigit():
            raise ConfigError(f"channels.{ctx.name}.shop_id: digits expected, got {shop!r}")
        self.params = {"shop_id": shop} if shop else {}
        delivery = ctx.spec.channel.delivery
        assert delivery is not None
        self.names = list(delivery.credential_names(ctx.name).values())
        # When each endpoint was last called (monotonic); the previous push that talked
        # to the operator ended after all of its calls.
        self._last: dict[str, float] = {}
        self.waited = 0.0  # seconds this push waited for its turns
        last = ctx.previous_run
        if last is not None and last.counts.get("requests"):
            ago = (datetime.now(UTC) - (last.finished_at or last.started_at)).total_seconds()
            self._last = dict.fromkeys(("OF01", "OF02", "OF03"), time.monotonic() - ago)

    def _turn(self, endpoint: str) -> None:
        """Wait until a minute has passed since the last call of `endpoint`."""
        last = self._last.get(endpoint)
        wait = MIN_INTERVAL + MARGIN - (time.monotonic() - last) if last is not None else 0.0
        if wait > 0:
            if endpoint == "OF01":
                self.ctx.echo(f"{self.ctx.name}: Mirakl takes offer imports at most once a "
                              f"minute; waiting {wait:.0f} s")
            self.ctx.sleep(wait)
            self.waited += wait
        self._last[endpoint] = time.monotonic()

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        self.report.requests += 1
        return send(self.ctx.http, method, self.settings.api_url.rstrip("/") + path,
                    what=f"Mirakl {what}", credential_names=self.names,
                    secrets=list(self.ctx.credentials.values()), sleep=self.ctx.sleep,
                    limits=self.ctx.limits,
                    params=self.params, headers={"Authorization": self.ctx.credentials["api_key"],
                                                 "Accept": "application/json"}, **kwargs)

    def import_offers(self, data: bytes) -> tuple[str, str]:
        """The import's id, or '' and why the answer does not give one."""
        self._turn("OF01")
        response = self._call("POST", IMPORTS, "OF01 offer import",
                              files={"file": (f"{self.ctx.name}-offers.csv", data, "text/csv")},
                              data={"import_mode": "NORMAL"})
        body, problem = parse_json(response.content)
        found = as_mapping(body).get("import_id")
        if problem or found in (None, "") or isinstance(found, bool | list | dict):
            return "", (f"Mirakl OF01: HTTP {response.status_code} without an import id "
                        f"({problem or quoted(body)})")
        return str(found), ""

    def status(self, import_id: str) -> Mapping[str, Any]:
        self._turn("OF02")
        return as_mapping(json_body(self._call("GET", f"{IMPORTS}/{import_id}", "OF02"),
                                    "Mirakl OF02"))

    def error_report(self, import_id: str) -> str:
        self._turn("OF03")
        response = self._call("GET", f"{IMPORTS}/{import_id}/error_report", "OF03 error report")
        return response.content.decode("utf-8-sig", errors="replace")


# ---------------------------------------------------------------- the pusher


class MiraklPusher:
    def push(self, ctx: PushContext) -> PushReport:
        report = PushReport(ctx.name, dry_run=ctx.dry_run, left_out=dict(ctx.left_out))
        api = None if ctx.dry_run else _Api(ctx, report)
        entries = ctx.ledger.entries(ctx.name)
        waiting: set[str] = set()
        if api is not None and by_batch(entries):
            waiting = _settle_pending(api, ctx, entries)
            entries = ctx.ledger.entries(ctx.name)
        if waiting:
            report.message = "; ".join(filter(None, [
                report.message, f"{len(waiting)} SKUs wait for an earlier import"]))
        decisions = _decide(ctx, entries, waiting)
        deletes = _delete_rows(ctx, decisions, report)
        count_actions(decisions, report)
        if ctx.dry_run or not decisions:
            return report
        assert api is not None
        targets: list[LedgerEntry] = []
        data = "".join(CsvHandler(_FORMAT).render(_rows(ctx, decisions, deletes, targets), {}))
        ctx.ledger.put(ctx.name, [pending(t) for t in targets])
        import_id, why = api.import_offers(data.encode("utf-8"))
        if why:
            ctx.ledger.put(ctx.name, [unconfirmed(t, why) for t in targets])
            return report
        sent = [pending(t, import_id) for t in targets]
        ctx.ledger.put(ctx.name, sent)
        status, late = _poll(api, ctx, import_id)
        report.message = "; ".join(filter(None, [f"import {import_id}", report.message]))
        state = _status(status)
        if state not in FINAL:
            why = stuck(ctx, f"import {import_id}", state) if late else \
                _unread(api, import_id, status)
            if why:
                ctx.ledger.put(ctx.name, [unconfirmed(t, why) for t in sent])
            else:
                report.message += ("; still processing: its results are recorded by the "
                                   "next push or push-status")
            return report
        if state != "COMPLETE":
            ctx.ledger.put(ctx.name, [pending(t) for t in targets])
            raise PushError(f"{ctx.name}: import {import_id} ended {state}: "
                            f"{status.get('reason_status') or 'no reason given'}")
        errors, why = _outcome(api, import_id, status, data, len(targets))
        report.rejected.update(errors)
        ctx.ledger.put(ctx.name, [_judged(replace(t, batch_id=import_id), errors, why)
                                  for t in targets])
        return report

    def check(self, ctx: PushContext) -> None:
        """Read the reports of imports whose SKUs are still pending."""
        _settle_pending(_Api(ctx, PushReport(ctx.name)), ctx, ctx.ledger.entries(ctx.name))


PUSHER = MiraklPusher()


# ---------------------------------------------------------------- what to send


def _decide(ctx: PushContext, entries: Mapping[str, LedgerEntry], waiting: set[str]
            ) -> dict[str, str]:
    """SKU -> "create", "update", "price", "stock", "price+stock" or "delete"."""
    plan = plan_published(ctx, entries, row_parts, skip=waiting)
    decisions = update_actions(plan)
    # An offer can only be updated with a whole row: one the rules now keep out is
    # deleted like one no longer sellable, and created again when it comes back.
    for entry in plan.removed:
        decisions[entry.sku] = "delete"
    return decisions


def _delete_rows(ctx: PushContext, decisions: dict[str, str], report: PushReport
                 ) -> dict[str, dict[str, str]]:
    """SKU -> the delete row of each offer to delete: its last published row (the file's
    history), so that it names the product as an update row does. An offer whose last
    row the history no longer holds is dropped from `decisions`, with a note."""
    wanted = [sku for sku, action in decisions.items() if action == "delete"]
    rows = ctx.earlier(wanted) if wanted else {}
    lost = [sku for sku in wanted if sku not in rows]
    for sku in lost:
        del decisions[sku]
    if lost:
        report.message = "; ".join(filter(None, [report.message, (
            f"{len(lost)} offers to delete ({', '.join(lost[:5])}{' ...' if len(lost) > 5 else ''})"
            " are no longer in the file's history, so their product is unknown: delete them "
            "in the operator's back office")]))
    return {sku: {**row, "update-delete": "delete"} for sku, row in rows.items()}


def _rows(ctx: PushContext, decisions: Mapping[str, str],
          deletes: Mapping[str, dict[str, str]], targets: list[LedgerEntry]
          ) -> Iterator[dict[str, str]]:
    """The rows to send (the deletes last), adding each one's ledger target to `targets`."""
    for row in ctx.items():
        if decisions.get(row["sku"], "delete") == "delete":
            continue
        parts = row_parts(row)
        targets.append(LedgerEntry(row["sku"], SkuState.LIVE, parts.content, parts.price,
                                   parts.quantity, updated_at=ctx.now))
        yield {**row, "update-delete": "update"}
    for sku, action in decisions.items():
        if action == "delete":
            targets.append(LedgerEntry(sku, SkuState.DELETED, updated_at=ctx.now))
            yield deletes[sku]


def _status(body: Mapping[str, Any]) -> str:
    # OF02 says `status`; P42 says `import_status`: accept either.
    return str(body.get("status") or body.get("import_status") or "")


def _poll(api: _Api, ctx: PushContext, import_id: str) -> tuple[Mapping[str, Any], bool]:
    """OF02 until the import is final, at most `POLLS` times (once a minute: `_Api`); its
    last answer, and whether `report_timeout_hours` ended the polling (the next turn would
    come after it). An answer without a status ends the polling too."""
    body: Mapping[str, Any] = {}
    start = api.waited
    for _ in range(POLLS):
        body = api.status(import_id)
        if _status(body) in FINAL or not _status(body):
            return body, False
        if api.waited - start + MIN_INTERVAL > report_timeout_s(ctx):
            return body, True
    return body, False


def _unread(api: _Api, import_id: str, status: Mapping[str, Any]) -> str:
    """Why an OF02 answer without a status leaves the rows unconfirmed ('' with one)."""
    return "" if _status(status) else unread_status(api.report, f"import {import_id}", status)


def _judged(entry: LedgerEntry, errors: Mapping[str, str], why: str) -> LedgerEntry:
    """A row's entry once its import completed: rejected with the error report's message,
    unconfirmed when the import's outcome is only partly known (`why`), else sent."""
    if entry.sku in errors:
        return replace(entry, state=SkuState.REJECTED, errors=(errors[entry.sku],))
    return unconfirmed(entry, why) if why else entry


def _outcome(api: _Api, import_id: str, status: Mapping[str, Any], sent: str, rows: int
             ) -> tuple[dict[str, str], str]:
    """The rows in error (SKU -> message), and why the others are not confirmed ('' when
    they are): the error report could not be read, or OF02 counts fewer rows read than
    the `rows` sent, or more rows in error than the report names."""
    try:
        errors = _errors(api, import_id, status, sent)
    except PushHttpError as exc:
        return {}, f"import {import_id}: its error report cannot be read ({exc})"
    read, in_error = status.get("lines_read"), status.get("lines_in_error")
    if _count(read) and read < rows:
        return errors, f"import {import_id}: OF02 counts {read} of {rows} rows read"
    if _count(in_error) and in_error > len(errors):
        return errors, (f"import {import_id}: OF02 counts {in_error} rows in error, the error "
                        f"report names {len(errors)}")
    return errors, ""


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _errors(api: _Api, import_id: str, status: Mapping[str, Any], sent: str = ""
            ) -> dict[str, str]:
    """SKU -> the operator's message, from OF03 (when the import has rows in error)."""
    lines_in_error = status.get("lines_in_error")
    if not status.get("has_error_report") and not (isinstance(lines_in_error, int)
                                                   and lines_in_error > 0):
        return {}
    reader = csv.DictReader(io.StringIO(api.error_report(import_id), newline=""),
                            delimiter=";")
    by_line = _skus_by_line(sent) if sent and "sku" not in (reader.fieldnames or []) else {}
    found: dict[str, str] = {}
    for row in reader:
        sku = row.get("sku") or by_line.get(str(row.get("error-line", "")), "")
        if sku:
            message = row.get("error-message") or "rejected (no message)"
            found[sku] = f"{found[sku]}; {message}" if sku in found else message
    return found


def _skus_by_line(sent: str) -> dict[str, str]:
    """The line each row of a file we sent starts on (header = line 1) -> its SKU."""
    reader = csv.reader(io.StringIO(sent, newline=""), delimiter=";")
    next(reader, None)
    found, line = {}, reader.line_num
    for row in reader:
        found[str(line + 1)] = row[0] if row else ""
        line = reader.line_num
    return found


# ---------------------------------------------------------------- later


def _settle_pending(api: _Api, ctx: PushContext, entries: Mapping[str, LedgerEntry]
                    ) -> set[str]:
    """Read the outcome of earlier imports whose SKUs are still pending; the SKUs whose
    import is still running."""
    imports = by_batch(entries)
    waiting: set[str] = set()
    published = {row["sku"]: row_parts(row) for row in ctx.items()} if imports else {}
    for import_id, group in imports.items():
        status, state = status_of(api.report, f"import {import_id}",
                                  lambda import_id=import_id: api.status(import_id), _status)
        if state not in FINAL:
            waiting |= processing(ctx, api.report, group, published, f"import {import_id}",
                                  state)
            continue
        if state != "COMPLETE":
            ctx.ledger.put(ctx.name, [pending(e) for e in group])  # sent again next time
            continue
        errors, why = _outcome(api, import_id, status, "", len(group))
        ctx.ledger.put(ctx.name, [
            unconfirmed(e, why) if why and e.sku not in errors else
            settled(e, [errors[e.sku]] if e.sku in errors else [], [], published)
            for e in group])
    return waiting

