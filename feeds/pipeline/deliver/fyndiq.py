"""Fyndiq's Merchant API v1: bulk creates by sku, then bulk actions by Fyndiq's article id.

Facts: ../shared/docs/marketplaces.md 2.2-2.4. `POST {base}/articles/bulk` takes a
bare list of at most 100 articles and answers 202 with one response per article in
request order: the new article's id, a refusal with Cerberus-shaped errors, or 409
when the SKU exists already (then the article is looked up with
`GET /articles/sku/{sku}`, adopted and updated). `PUT {base}/articles/bulk` takes a
bare list of at most 200 `{action, id, body}`, never the same action twice for one
article, and answers in request order too; 403 means Fyndiq does not know the id
(the article is forgotten and created again by the next push). Fyndiq has no
status endpoint: the per-item answers are the verdict, and `push-status` looks up
what is still pending by sku.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from feeds.pipeline.deliver._merchants import (
    Action,
    MerchantPusher,
    Outcome,
    Run,
    flat_errors,
)
from feeds.pipeline.deliver.http import json_body
from feeds.storage.ledger import SkuState

__all__ = ["PUSHER", "FyndiqPusher"]


class FyndiqPusher(MerchantPusher):
    title = "Fyndiq"
    create_limit = 100
    action_limit = 200

    def create(self, run: Run, items: Sequence[Mapping[str, Any]]) -> list[Outcome | None]:
        answer = json_body(run.call("POST", "/articles/bulk", "create", json=list(items)),
                           "Fyndiq create")
        responses = _responses(answer)
        return [_created(responses[i]) if i < len(responses) else None
                for i in range(len(items))]

    def act(self, run: Run, actions: Sequence[Action]) -> list[Outcome | None]:
        body = [{"action": a.action, "id": a.remote_id, "body": dict(a.body or {})}
                for a in actions]
        answer = json_body(run.call("PUT", "/articles/bulk", "update", json=body),
                           "Fyndiq update")
        responses = _responses(answer)
        return [_acted(responses[i]) if i < len(responses) else None
                for i in range(len(actions))]

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
        """Pending SKUs Fyndiq has are adopted (as sent); the others are forgotten, to be
        created again."""
        now, found, gone = run.stamp(), [], []
        for sku, entry in sorted(run.entries.items()):
            if entry.state is not SkuState.PENDING:
                continue
            remote = self.find(run, sku)
            if remote is None:
                gone.append(sku)
            else:
                found.append(replace(entry, state=SkuState.LIVE, remote_id=remote,
                                     updated_at=now))
        run.put(found)
        run.forget(gone)


def _responses(answer: Any) -> list[Mapping[str, Any] | None]:
    rows = answer.get("responses") if isinstance(answer, Mapping) else None
    return [r if isinstance(r, Mapping) else None for r in rows] \
        if isinstance(rows, list) else []


def _created(response: Mapping[str, Any] | None) -> Outcome | None:
    if response is None:
        return None
    status = response.get("status_code")
    if status == 409:
        return Outcome(exists=True)
    if response.get("id"):
        return Outcome(remote_id=str(response["id"]))
    if status in (None, 200, 201, 202) and not response.get("errors"):
        return Outcome()  # created, but no id given: looked up by sku
    return Outcome(errors=_errors(response))


def _acted(response: Mapping[str, Any] | None) -> Outcome | None:
    if response is None:
        return None
    status = response.get("status_code")
    if status == 403:
        return Outcome(errors=("403: Fyndiq does not know this article id",), gone=True)
    if status in (200, 202, 204) and not response.get("errors"):
        return Outcome()
    return Outcome(errors=_errors(response))


def _errors(response: Mapping[str, Any]) -> tuple[str, ...]:
    found = flat_errors(response.get("errors"))
    status = response.get("status_code")
    head = f"{status}: {response.get('description') or 'refused'}"
    return tuple(found) or (head,)


PUSHER = FyndiqPusher()
