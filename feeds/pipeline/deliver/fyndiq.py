"""Fyndiq's Merchant API v1: bulk creates by sku, then bulk actions by Fyndiq's article id.

Facts: ../shared/docs/marketplaces.md 2.2-2.4 and Fyndiq's Merchant API Postman
collection (https://merchantapi.fyndiq.com/view/metadata/7185ENK). `POST
{base}/articles/bulk` takes a bare list of at most 100 articles and answers 202 with
one response per article in request order: the new article's id, a refusal with
Cerberus-shaped errors, or 409 when the SKU exists already (then the article is
looked up with `GET /articles/sku/{sku}`, adopted and updated). `PUT
{base}/articles/bulk` ("Bulk Update") takes a bare list of at most 200 `{action, id,
body}`, never the same action twice for one article, and answers in request order too.

The collection's rules the bodies follow:

- "Update an article": "We do not support partial updates. All parameters that are
  editable, must be present, even the ones that are not being updated"; "Bulk Update":
  optional ones "can be set to empty string but MUST be present". So `update_article`
  sends every editable field of its table, absent ones as `""` or `[]`.
- "Update an article price": `price` and `original_price` are both required; without a
  sale the original price is the price.
- A 403 on an action is "No permission to edit article": recorded as the article's
  rejection, and never answered by deleting, re-creating or adopting it (that would
  loop: create -> 409 -> adopt -> 403 -> ...). Only a change to the item sends it again.

Fyndiq has no status endpoint: the per-item answers are the verdict, and `push-status`
looks up what is still pending by sku. An article a bulk answer does not acknowledge
(no `responses` list, or one shorter than the request) is unconfirmed: the next push
looks an unconfirmed create up by SKU (`GET /articles/sku/{sku}`; adopted with unknown
content, so updated in full) and sends anything else unconfirmed again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from feeds.pipeline.deliver._merchants import (
    DENIED,
    Action,
    MerchantPusher,
    Outcome,
    Run,
    content_body,
    flat_errors,
    unsaid,
)
from feeds.pipeline.deliver.http import json_body, quoted
from feeds.storage.ledger import LedgerEntry, SkuState

__all__ = ["EDITABLE", "PUSHER", "FyndiqPusher"]

# "Update an article": the editable fields, each with its empty value for an article that
# has none. `legacy_product_id` (an integer id from the former platform) is left out: no
# article this tool creates has one, and an integer field cannot be "".
EDITABLE: dict[str, Any] = {
    "sku": None, "parent_sku": "", "status": None, "categories": None, "properties": [],
    "variational_properties": [], "brand": "", "gtin": "", "main_image": None, "images": [],
    "markets": None, "title": None, "description": None, "shipping_time": None,
}


class FyndiqPusher(MerchantPusher):
    title = "Fyndiq"
    create_limit = 100
    action_limit = 200
    original_price = True

    def content(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """Every editable field (Fyndiq takes no partial update), absent ones empty."""
        body = content_body(item)
        return {name: body[name] if name in body else empty
                for name, empty in EDITABLE.items() if name in body or empty is not None}

    def create(self, run: Run, items: Sequence[Mapping[str, Any]]) -> list[Outcome | None]:
        answer = json_body(run.call("POST", "/articles/bulk", "create", json=list(items)),
                           "Fyndiq create")
        return _outcomes(answer, len(items), _created, "Fyndiq create")

    def act(self, run: Run, actions: Sequence[Action]) -> list[Outcome | None]:
        body = [{"action": a.action, "id": a.remote_id, "body": dict(a.body or {})}
                for a in actions]
        answer = json_body(run.call("PUT", "/articles/bulk", "update", json=body),
                           "Fyndiq update")
        return _outcomes(answer, len(actions), _acted, "Fyndiq update")

    def conflicts(self, action: Action, queued: set[tuple[str, str]]) -> bool:
        return self.key(action) in queued  # one action once per article and call

    def find(self, run: Run, sku: str) -> str | None:
        response = run.call("GET", f"/articles/sku/{quote(sku, safe='')}", "look-up",
                            ok=(404,))
        if response.status_code == 404:
            return None
        answer = json_body(response, "Fyndiq look-up")
        content = answer.get("content") if isinstance(answer, Mapping) else None
        article = content.get("article") if isinstance(content, Mapping) else None
        found = article.get("id") if isinstance(article, Mapping) else None
        return str(found) if found else None

    def resolve(self, run: Run) -> None:
        """Pending SKUs Fyndiq has are adopted (as sent), unconfirmed creates with unknown
        content (updated in full); the others are forgotten, to be created again (a 409
        adopts one the look-up missed)."""
        now, found, gone = run.stamp(), [], []
        for sku, entry in sorted(run.entries.items()):
            if entry.remote_id or entry.state not in (SkuState.PENDING, SkuState.UNCONFIRMED):
                continue
            remote = self.find(run, sku)
            if remote is None:
                gone.append(sku)
            elif entry.state is SkuState.UNCONFIRMED:
                found.append(LedgerEntry(sku, SkuState.LIVE, remote_id=remote, updated_at=now))
            else:
                found.append(replace(entry, state=SkuState.LIVE, remote_id=remote,
                                     updated_at=now))
        run.put(found)
        run.forget(gone)


def _outcomes(answer: Any, n: int, read: Callable[[Mapping[str, Any]], Outcome], what: str
              ) -> list[Outcome | None]:
    """The outcome of each of the `n` articles or actions sent, from the answer's
    `responses` (in request order); one the answer leaves out, or does not give as an
    object, is unconfirmed."""
    rows = answer.get("responses") if isinstance(answer, Mapping) else None
    if not isinstance(rows, list):
        return [unsaid(what, False, quoted(answer))] * n
    return [read(rows[i]) if i < len(rows) and isinstance(rows[i], Mapping)
            else unsaid(what, True) for i in range(n)]


def _created(response: Mapping[str, Any]) -> Outcome:
    status = response.get("status_code")
    if status == 409:
        return Outcome(exists=True)
    if response.get("id"):
        return Outcome(remote_id=str(response["id"]))
    if status in (None, 200, 201, 202) and not response.get("errors"):
        return Outcome()  # created, but no id given: looked up by sku
    return Outcome(errors=_errors(response))


def _acted(response: Mapping[str, Any]) -> Outcome:
    status = response.get("status_code")
    if status == 403:
        return Outcome(errors=(f"403: {DENIED}",))  # the collection's words for it
    if status in (200, 202, 204) and not response.get("errors"):
        return Outcome()
    return Outcome(errors=_errors(response))


def _errors(response: Mapping[str, Any]) -> tuple[str, ...]:
    found = flat_errors(response.get("errors"))
    status = response.get("status_code")
    head = f"{status}: {response.get('description') or 'refused'}"
    return tuple(found) or (head,)


PUSHER = FyndiqPusher()
