"""CDON's Merchants API: bulk creates and updates keyed by sku, verdicts from the statuses.

Facts: ../shared/docs/marketplaces.md 1.2. `POST {base}/v2/articles/bulk`
`{"articles": [...]}` and `PUT {base}/v2/articles/bulk` `{"actions": [{sku, action,
body}]}` answer 202 with a batch id, the accepted items and the refused ones (with
CDON's messages). What CDON then makes of an accepted one (ok, or failed with a code
such as `invalid_category` or `sku_already_exists`) comes later from
`POST /v1/statuses/batch` and `POST /v1/statuses/sku`; every push asks first, and so
does `push-status`.

In the ledger, `batch_id` names the batch whose verdict is still open (cleared once
CDON's status is final), and a non-empty `remote_id` means the article exists on
CDON (its id from the create answer, or the sku when it was adopted from a status).
CDON documents no batch limit: we send 100 articles or actions per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from feeds.pipeline.deliver import batched
from feeds.pipeline.deliver._merchants import Action, MerchantPusher, Outcome, Run, flat_errors
from feeds.pipeline.deliver.http import json_body
from feeds.storage.ledger import LedgerEntry, SkuState

__all__ = ["PUSHER", "CdonPusher"]

_MISSING, _EXISTS = "article_does_not_exist", "sku_already_exists"


class CdonPusher(MerchantPusher):
    title = "CDON"
    create_limit = 100  # our choice: CDON documents no limit
    action_limit = 100
    status_limit = 100  # skus or batch ids per status call

    def create(self, run: Run, items: Sequence[Mapping[str, Any]]) -> list[Outcome | None]:
        answer = _answer(run.call("POST", "/v2/articles/bulk", "create",
                                  json={"articles": list(items)}), "create")
        batch = str(answer.get("batch_id") or "")
        accepted = {str(s.get("sku")): s for s in _rows(answer, "success")}
        refused = {str(f.get("sku")): f for f in _rows(answer, "failed")}
        outcomes: list[Outcome | None] = []
        for item in items:
            sku = str(item["sku"])
            if sku in refused:
                outcomes.append(Outcome(errors=_errors(refused[sku])))
            elif sku in accepted:
                outcomes.append(Outcome(remote_id=str(accepted[sku].get("id") or sku),
                                        batch_id=batch))
            else:
                outcomes.append(None)
        return outcomes

    def act(self, run: Run, actions: Sequence[Action]) -> list[Outcome | None]:
        body = [{"sku": a.sku, "action": a.action, **({} if a.body is None else {"body": a.body})}
                for a in actions]
        answer = _answer(run.call("PUT", "/v2/articles/bulk", "update",
                                  json={"actions": body}), "update")
        batch = str(answer.get("batch_id") or "")
        accepted = {(str(s.get("sku")), str(s.get("action"))) for s in _rows(answer, "success")}
        refused = {(str(f.get("sku")), str(f.get("action"))): f for f in _rows(answer, "failed")}
        outcomes: list[Outcome | None] = []
        for a in actions:
            key = (a.sku, a.action)
            if key in refused:
                errors = _errors(refused[key])
                outcomes.append(Outcome(errors=errors, gone=any("not found" in e.lower()
                                                                for e in errors)))
            else:
                outcomes.append(Outcome(batch_id=batch) if key in accepted else None)
        return outcomes

    def find(self, run: Run, sku: str) -> str | None:
        verdict = self._by_sku(run, [sku]).get(sku)
        return None if verdict is None or _MISSING in verdict.codes else sku

    # -- statuses

    def resolve(self, run: Run) -> None:
        pending = sorted(s for s, e in run.entries.items() if e.state is SkuState.PENDING)
        for group in batched(pending, self.status_limit):
            self._settle_pending(run, self._by_sku(run, group))
        open_batches = sorted({e.batch_id for e in run.entries.values() if e.batch_id and
                               e.state in (SkuState.LIVE, SkuState.PAUSED)})
        for group in batched(open_batches, self.status_limit):
            self._settle_open(run, *self._by_batch(run, group))

    def _by_sku(self, run: Run, skus: Sequence[str]) -> dict[str, Verdict]:
        answer = _answer(run.call("POST", "/v1/statuses/sku", "statuses",
                                  json={"skus": list(skus)}), "statuses")
        verdicts: dict[str, Verdict] = {}
        for status in _rows(answer, "statuses"):
            verdicts.setdefault(str(status.get("sku")), Verdict()).add(status)
        return verdicts

    def _by_batch(self, run: Run, batch_ids: Sequence[str]
                  ) -> tuple[dict[str, Verdict], list[str]]:
        """Each SKU's verdict in the batch its ledger entry waits for; the unknown batches."""
        answer = _answer(run.call("POST", "/v1/statuses/batch", "statuses",
                                  json={"batch_ids": list(batch_ids)}), "statuses")
        verdicts: dict[str, Verdict] = {}
        for status in _rows(answer, "statuses"):
            sku = str(status.get("sku"))
            entry = run.entries.get(sku)
            if entry is not None and entry.batch_id == str(status.get("batch_id") or ""):
                verdicts.setdefault(sku, Verdict()).add(status)
        unknown = answer.get("unknown_batch_ids")
        return verdicts, [str(b) for b in unknown] if isinstance(unknown, list) else []

    def _settle_pending(self, run: Run, verdicts: Mapping[str, Verdict]) -> None:
        """Pending SKUs CDON knows are adopted (as sent); unknown ones are forgotten, to be
        created again; SKUs the answer does not name stay pending."""
        now, found, gone = run.stamp(), [], []
        for sku, verdict in verdicts.items():
            entry = run.entries.get(sku)
            if entry is None or entry.state is not SkuState.PENDING:
                continue
            if _MISSING in verdict.codes:
                gone.append(sku)
                continue
            entry = LedgerEntry(sku, SkuState.LIVE, entry.content_hash, entry.price,
                                entry.quantity, remote_id=sku, updated_at=now,
                                batch_id=verdict.batch_id if verdict.status == "pending" else "")
            found.append(self._judged(run, entry, verdict))
        run.put(found)
        run.forget(gone)

    def _settle_open(self, run: Run, verdicts: Mapping[str, Verdict], unknown: list[str]
                     ) -> None:
        now, settled = run.stamp(), []
        for sku, verdict in verdicts.items():
            if verdict.status != "pending":
                entry = replace(run.entries[sku], batch_id="", updated_at=now)
                settled.append(self._judged(run, entry, verdict))
        forgotten = set(unknown)  # CDON no longer knows the batch: nothing more to learn
        settled += [replace(e, batch_id="") for e in run.entries.values()
                    if e.batch_id in forgotten]
        run.put(settled)

    @staticmethod
    def _judged(run: Run, entry: LedgerEntry, verdict: Verdict) -> LedgerEntry:
        """`entry` as CDON's final verdict leaves it."""
        if _EXISTS in verdict.codes:
            # It existed before we created it: adopted with unknown content, so this push
            # updates it in full.
            return LedgerEntry(entry.sku, SkuState.LIVE, remote_id=entry.remote_id or
                               entry.sku, updated_at=entry.updated_at)
        if verdict.status == "failed":
            run.report.rejected[entry.sku] = "; ".join(verdict.errors)
            return replace(entry, state=SkuState.REJECTED, errors=tuple(verdict.errors))
        return replace(entry, errors=())


@dataclass
class Verdict:
    """Several statuses of one SKU, merged: failed wins over pending over ok."""

    status: str = "ok"
    codes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    batch_id: str = ""

    def add(self, status: Mapping[str, Any]) -> None:
        state = str(status.get("status") or "")
        self.batch_id = str(status.get("batch_id") or self.batch_id or "")
        if state == "failed":
            self.status = "failed"
            markets = [m for m in status.get("markets") or []
                       if isinstance(m, Mapping) and m.get("status") == "failed"]
            for m in markets or [status]:
                code, text = str(m.get("error_code") or ""), str(m.get("message") or "")
                self.codes.append(code)
                where = f"{m['market']}: " if m.get("market") else ""
                self.errors.append(f"{where}{code}: {text}" if code else f"{where}{text}")
        elif state == "pending" and self.status == "ok":
            self.status = "pending"


def _answer(response: Any, what: str) -> Mapping[str, Any]:
    body = json_body(response, f"CDON {what}")
    return body if isinstance(body, Mapping) else {}


def _rows(answer: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    rows = answer.get(key)
    return [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def _errors(failed: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(flat_errors(failed.get("errors"))) or ("refused without a reason",)


PUSHER = CdonPusher()
