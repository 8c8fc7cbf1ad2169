"""CDON's Merchants API: bulk creates and updates keyed by sku, verdicts from the statuses.

Facts: ../shared/docs/marketplaces.md 1.2 and CDON's Postman collection "CDON API
Documentation" (https://docs.cdon.com/view/metadata/2sAYkKHdBZ). `POST {base}/v2/articles/bulk`
`{"articles": [...]}` and `PUT {base}/v2/articles/bulk` `{"actions": [{sku, action,
body}]}` answer 202 with a batch id, the accepted items and the refused ones (with
CDON's messages). An `update_article` body leaves out `sku`: the action names it
("Fields not relevant to the action should be omitted").

What CDON then makes of an accepted one comes later from `POST /v1/statuses/batch`
and `POST /v1/statuses/sku` (the collection's "STATUSES"); every push asks first, and
so does `push-status`. The documented answer nests rows under their batch::

    {"batches": [{"id": "<batch id>", "statuses": [
        {"correlation_id", "article_id", "sku", "action",
         "markets": [{"market": "*" | "SE" | ..., "status": "ok" | "pending" | "failed",
                      "error_code": "invalid_category" | ... | null}]}]}]}

and a look-up by sku answers the same rows under `statuses`. A row has no status of
its own: any failed market makes it failed (with that market's `error_code`), else any
pending one pending, else it is ok. `article_does_not_exist` means the article is not
live on CDON (it is forgotten, so the next push creates it). The shapes seen before,
a bare list of rows and `{"statuses": [...]}` whose rows carry a `status` and a
`batch_id` (with `unknown_batch_ids`), are read too. An answer in none of these shapes
is `Unreadable` (`read_statuses`): nothing is learnt from it, and the push that got it
ends with exit 1. The SKUs it was asked about by SKU (pending, or unconfirmed creates)
become unconfirmed and are sent again at once; an open batch stays open until
`report_timeout_hours` after it was sent, then its articles are unconfirmed and sent
again too. It never counts as ok.

An article whose existence is not known (its create was never acknowledged, and the
status by SKU could not say) is sent again as update actions first (`resend`): CDON
answers an action on an unknown SKU with "Article not found" at once, and only then
is it created. A create of an SKU CDON has is accepted but not applied, which only
the status (perhaps unreadable) would tell.

In the ledger, `batch_id` names the batch whose verdict is still open (cleared once
CDON's status is final), and a non-empty `remote_id` means the article exists on
CDON (its id from the create answer, or the sku when it was adopted from a status).
CDON documents no batch limit: we send 100 articles or actions per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from feeds.pipeline.deliver import batched, overdue
from feeds.pipeline.deliver._merchants import (
    Action,
    MerchantPusher,
    Outcome,
    Run,
    content_body,
    flat_errors,
    unsaid,
)
from feeds.pipeline.deliver.http import json_body, quoted
from feeds.pipeline.deliver.settle import unconfirmed
from feeds.storage.ledger import LedgerEntry, SkuState

__all__ = ["PUSHER", "CdonPusher", "Row", "Unreadable", "Verdict", "read_statuses"]

_MISSING, _EXISTS = "article_does_not_exist", "sku_already_exists"
_STATES = ("ok", "pending", "failed")


class CdonPusher(MerchantPusher):
    title = "CDON"
    create_limit = 100  # our choice: CDON documents no limit
    action_limit = 100
    status_limit = 100  # skus or batch ids per status call

    def content(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The article without price, quantity and sku (the action names the sku)."""
        body = content_body(item)
        body.pop("sku", None)
        return body

    def create(self, run: Run, items: Sequence[Mapping[str, Any]]) -> list[Outcome | None]:
        body = json_body(run.call("POST", "/v2/articles/bulk", "create",
                                  json={"articles": list(items)}), "CDON create")
        answer = _mapping(body)
        batch = str(answer.get("batch_id") or "")
        accepted = {str(s.get("sku")): s for s in _rows(answer, "success")}
        refused = {str(f.get("sku")): f for f in _rows(answer, "failed")}
        silent = unsaid("CDON create", _known(answer), quoted(body))
        outcomes: list[Outcome | None] = []
        for item in items:
            sku = str(item["sku"])
            if sku in refused:
                outcomes.append(Outcome(errors=_errors(refused[sku])))
            elif sku in accepted:
                outcomes.append(Outcome(remote_id=str(accepted[sku].get("id") or sku),
                                        batch_id=batch))
            else:
                outcomes.append(silent)
        return outcomes

    def act(self, run: Run, actions: Sequence[Action]) -> list[Outcome | None]:
        sent = [{"sku": a.sku, "action": a.action, **({} if a.body is None else {"body": a.body})}
                for a in actions]
        body = json_body(run.call("PUT", "/v2/articles/bulk", "update",
                                  json={"actions": sent}), "CDON update")
        answer = _mapping(body)
        batch = str(answer.get("batch_id") or "")
        accepted = {(str(s.get("sku")), str(s.get("action"))) for s in _rows(answer, "success")}
        refused = {(str(f.get("sku")), str(f.get("action"))): f for f in _rows(answer, "failed")}
        silent = unsaid("CDON update", _known(answer), quoted(body))
        outcomes: list[Outcome | None] = []
        for a in actions:
            key = (a.sku, a.action)
            if key in refused:
                errors = _errors(refused[key])
                outcomes.append(Outcome(errors=errors, gone=any("not found" in e.lower()
                                                                for e in errors)))
            else:
                outcomes.append(Outcome(batch_id=batch) if key in accepted else silent)
        return outcomes

    def resend(self, run: Run, item: Mapping[str, Any]) -> None:
        """Update in full by SKU; an article whose existence is not known is created only
        once CDON answers "Article not found" (see the module docstring)."""
        sku = str(item["sku"])
        if run.entries[sku].remote_id:
            run.update_all(item)
            return
        for action in run.full_update(item):
            run.queue(replace(action, remote_id=sku, create=item,
                              changes={**action.changes, "remote_id": sku}))

    def find(self, run: Run, sku: str) -> str | None:
        answer = self._by_sku(run, [sku])
        verdict = None if isinstance(answer, Unreadable) else _by_sku_verdicts(answer).get(sku)
        return None if verdict is None or _MISSING in verdict.codes else sku

    # -- statuses

    def resolve(self, run: Run) -> None:
        """Pending SKUs and unconfirmed creates, by SKU; then the open batches."""
        unsure = sorted(s for s, e in run.entries.items() if not e.remote_id and
                        e.state in (SkuState.PENDING, SkuState.UNCONFIRMED))
        for group in batched(unsure, self.status_limit):
            answer = self._by_sku(run, group)
            if isinstance(answer, Unreadable):
                why = _note_unreadable(run, answer, f"{len(group)} SKUs are sent again")
                run.put(unconfirmed(run.entries[sku], why) for sku in group)
            else:
                self._settle_pending(run, group, _by_sku_verdicts(answer))
        open_batches = sorted({e.batch_id for e in run.entries.values() if e.batch_id and
                               e.state in (SkuState.LIVE, SkuState.PAUSED)})
        for group in batched(open_batches, self.status_limit):
            answer = self._by_batch(run, group)
            if isinstance(answer, Unreadable):
                why = _note_unreadable(run, answer, f"{len(group)} batches stay open")
                self._late(run, set(group), why)
            else:
                self._settle_open(run, answer, set(group))

    def _by_sku(self, run: Run, skus: Sequence[str]) -> list[Row] | Unreadable:
        return read_statuses(json_body(run.call("POST", "/v1/statuses/sku", "statuses",
                                                json={"skus": list(skus)}), "CDON statuses"))

    def _by_batch(self, run: Run, batch_ids: Sequence[str]) -> list[Row] | Unreadable:
        return read_statuses(json_body(run.call("POST", "/v1/statuses/batch", "statuses",
                                                json={"batch_ids": list(batch_ids)}),
                                       "CDON statuses"))

    def _settle_pending(self, run: Run, asked: Sequence[str],
                        verdicts: Mapping[str, Verdict]) -> None:
        """Pending SKUs CDON knows are adopted (as sent), unconfirmed ones with unknown
        content (so updated in full: what CDON made of an unacknowledged send is not
        known); unknown ones are forgotten, to be created again; SKUs the answer does not
        name are unconfirmed (sent again)."""
        now, found, gone = run.stamp(), [], []
        for sku in asked:
            entry, verdict = run.entries[sku], verdicts.get(sku)
            if verdict is None:
                found.append(unconfirmed(entry, "CDON statuses: the answer by SKU did not "
                                                "name it"))
                continue
            if _MISSING in verdict.codes:
                gone.append(sku)
                continue
            if entry.state is SkuState.UNCONFIRMED:
                found.append(LedgerEntry(sku, SkuState.LIVE, remote_id=sku, updated_at=now))
                continue
            entry = LedgerEntry(sku, SkuState.LIVE, entry.content_hash, entry.price,
                                entry.quantity, remote_id=sku, updated_at=now,
                                batch_id=verdict.batch_id if verdict.status == "pending" else "")
            judged = self._judged(run, entry, verdict)
            if judged is not None:
                found.append(judged)
        run.put(found)
        run.forget(gone)

    def _settle_open(self, run: Run, rows: Sequence[Row], asked: set[str]) -> None:
        """Final verdicts of the batches the entries wait for; a batch CDON says it does not
        know (the older shape's `unknown_batch_ids`) has nothing more to tell. An article
        still without a verdict `report_timeout_hours` after it was sent is unconfirmed."""
        now, settled, gone = run.stamp(), [], []
        verdicts: dict[str, Verdict] = {}
        forgotten: set[str] = set()
        for row in rows:
            if row.unknown_batch:
                forgotten.add(row.batch_id)
                continue
            entry = run.entries.get(row.sku)
            if entry is not None and entry.batch_id and entry.batch_id == row.batch_id:
                verdicts.setdefault(row.sku, Verdict(batch_id=row.batch_id)).add(row.verdict)
        for sku, verdict in verdicts.items():
            if verdict.status == "pending":
                continue
            judged = self._judged(run, replace(run.entries[sku], batch_id="", updated_at=now),
                                  verdict)
            if judged is None:
                gone.append(sku)
            else:
                settled.append(judged)
        settled += [replace(e, batch_id="") for e in run.entries.values()
                    if e.batch_id in forgotten and e.sku not in verdicts]
        run.put(settled)
        run.forget(gone)
        self._late(run, asked - forgotten, "CDON statuses: no verdict within "
                   f"{_hours(run)} h of sending it (report_timeout_hours)")

    @staticmethod
    def _late(run: Run, batches: set[str], why: str) -> None:
        """The articles of `batches` still waiting for a verdict, sent more than
        `report_timeout_hours` ago, unconfirmed (to be sent again)."""
        late = [unconfirmed(replace(e, batch_id=""), why) for e in run.entries.values()
                if e.batch_id in batches and e.state in (SkuState.LIVE, SkuState.PAUSED)
                and overdue(run.ctx, e)]
        run.put(late)
        if late:
            note = f"{why}: its {len(late)} articles are sent again"
            run.report.message = "; ".join(filter(None, [run.report.message, note]))

    @staticmethod
    def _judged(run: Run, entry: LedgerEntry, verdict: Verdict) -> LedgerEntry | None:
        """`entry` as CDON's final verdict leaves it; None when the article is not on CDON."""
        if _EXISTS in verdict.codes:
            # It existed before we created it: adopted with unknown content, so this push
            # updates it in full.
            return LedgerEntry(entry.sku, SkuState.LIVE, remote_id=entry.remote_id or
                               entry.sku, updated_at=entry.updated_at)
        if _MISSING in verdict.codes:
            return None
        if verdict.status == "failed":
            run.report.rejected[entry.sku] = "; ".join(verdict.errors)
            return replace(entry, state=SkuState.REJECTED, errors=tuple(verdict.errors))
        return replace(entry, errors=())


# ---------------------------------------------------------------- reading the statuses


@dataclass
class Verdict:
    """One row's verdict, or several rows of one SKU merged: failed wins over pending over
    ok. `errors` are "market: code" (with CDON's message where an answer gives one)."""

    status: str = "ok"
    codes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    batch_id: str = ""

    def add(self, other: Verdict) -> None:
        if other.status == "failed" or (other.status == "pending" and self.status == "ok"):
            self.status = other.status
        self.codes += other.codes
        self.errors += other.errors
        self.batch_id = self.batch_id or other.batch_id


@dataclass(frozen=True)
class Row:
    """One status row: its SKU, the batch it belongs to ('' when the answer does not say)
    and its verdict. `unknown_batch` marks a batch id CDON said it does not know."""

    sku: str
    batch_id: str
    verdict: Verdict
    unknown_batch: bool = False


@dataclass(frozen=True)
class Unreadable:
    """A status answer in none of the known shapes. Nothing is learnt from it: the SKUs
    asked about by SKU become unconfirmed, the batches asked about stay open (until
    `report_timeout_hours`)."""

    why: str


def read_statuses(body: Any) -> list[Row] | Unreadable:
    """The rows of a status answer in any shape CDON is known to give, else `Unreadable`.

    Known: `{"batches": [{"id", "statuses": [row]}]}` (the collection, by batch),
    `{"statuses": [row]}` (the collection, by sku; and the older flat rows with a
    `batch_id`, plus `unknown_batch_ids`), and a bare list of rows. A row that names no
    SKU, or whose verdict cannot be read, is left out (its SKU is not settled by it).
    """
    if isinstance(body, list):
        return _rows_of(body, "")
    if not isinstance(body, Mapping):
        return Unreadable(f"a JSON {type(body).__name__}, not an object or a list")
    if "batches" in body:
        batches = body["batches"]
        if not isinstance(batches, list):
            return Unreadable("'batches' is not a list")
        rows: list[Row] = []
        for batch in batches:
            if isinstance(batch, Mapping) and isinstance(batch.get("statuses"), list):
                rows += _rows_of(batch["statuses"], str(batch.get("id") or ""))
        return rows
    if isinstance(body.get("statuses"), list):
        rows = _rows_of(body["statuses"], "")
        unknown = body.get("unknown_batch_ids")
        if isinstance(unknown, list):
            rows += [Row("", str(b), Verdict(), unknown_batch=True) for b in unknown
                     if isinstance(b, str | int) and not isinstance(b, bool)]
        return rows
    return Unreadable("neither 'batches' nor 'statuses' holds a list")


def _rows_of(items: Sequence[Any], batch_id: str) -> list[Row]:
    found = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("sku"), str | int) \
                or isinstance(item.get("sku"), bool):
            continue
        verdict = _verdict(item)
        if verdict is not None:
            batch = batch_id or str(item.get("batch_id") or "")
            verdict.batch_id = batch
            found.append(Row(str(item["sku"]), batch, verdict))
    return found


def _verdict(row: Mapping[str, Any]) -> Verdict | None:
    """A row's verdict from its markets (the documented rows have no status of their
    own), else from its top-level status (the older rows); None when neither reads."""
    markets = [m for m in row.get("markets") or [] if isinstance(m, Mapping)
               and m.get("status") in _STATES] if isinstance(row.get("markets"), list) else []
    top = row.get("status") if row.get("status") in _STATES else None
    if not markets and top is None:
        return None
    verdict = Verdict()
    for market in markets:
        verdict.add(_market_verdict(market))
    if top == "failed" and verdict.status != "failed":
        verdict.add(_market_verdict(row))  # an older row: its own code, no failed market
    elif top == "pending":
        verdict.add(Verdict(status="pending"))
    return verdict


def _market_verdict(entry: Mapping[str, Any]) -> Verdict:
    state = str(entry.get("status"))
    if state != "failed":
        return Verdict(status=state)
    code = str(entry.get("error_code") or "")
    text = str(entry.get("message") or "")
    market = entry.get("market")
    where = f"{market}: " if isinstance(market, str) and market and market != "*" else ""
    words = ": ".join(w for w in (code, text) if w) or "failed without a code"
    return Verdict(status="failed", codes=[code] if code else [], errors=[where + words])


def _by_sku_verdicts(rows: Sequence[Row]) -> dict[str, Verdict]:
    verdicts: dict[str, Verdict] = {}
    for row in rows:
        if not row.unknown_batch:
            verdicts.setdefault(row.sku, Verdict(batch_id=row.batch_id)).add(row.verdict)
    return verdicts


def _note_unreadable(run: Run, answer: Unreadable, what: str) -> str:
    """Notes the unreadable answer in the report (the push ends with exit 1); the reason
    to record against the articles it was about."""
    why = f"CDON statuses: an unreadable answer ({answer.why})"
    run.report.unread.append(f"{why}: {what}")
    return why


def _hours(run: Run) -> str:
    return f"{float(getattr(run.ctx.settings, 'report_timeout_hours', 24.0)):g}"


def _mapping(body: Any) -> Mapping[str, Any]:
    return body if isinstance(body, Mapping) else {}


def _known(answer: Mapping[str, Any]) -> bool:
    """Whether a bulk answer is in the documented shape (accepted and refused lists)."""
    return isinstance(answer.get("success"), list) or isinstance(answer.get("failed"), list)


def _rows(answer: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    rows = answer.get(key)
    return [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def _errors(failed: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(flat_errors(failed.get("errors"))) or ("refused without a reason",)


PUSHER = CdonPusher()
