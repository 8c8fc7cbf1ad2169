"""What the CDON and Fyndiq push clients share: one incremental push, end to end.

The published payload is read in chunks and compared with the ledger
(`plan_changes`), so memory stays flat however large the catalogue:

    pending SKUs (and, for CDON, open batches) looked up first, adopted or forgotten
    -> per chunk: new SKUs created in bulk; price-only, stock-only and other
       changes each sent as their own update action (content without price and
       quantity, as the APIs require)
    -> SKUs no longer published: deleted, or paused (`on_removed = "pause"`, and
       always for items the rules now leave out)

Calls are packed to each API's batch limit. Before a create batch is sent its
SKUs are recorded as pending; every answer is recorded as it comes (one ledger
transaction per call), so a run killed mid-send is recognised next time: the
pending SKUs are looked up, never created twice. An article that exists already
(Fyndiq's 409, CDON's `sku_already_exists`) is adopted with unknown content and
updated in full. A dry run plans and counts, and sends nothing.

An article or action an answer does not acknowledge in a way the client can read (an
error body with a 2xx, an answer in no known shape, one that leaves it out) is
recorded `unconfirmed`. The next push looks an unconfirmed create up by SKU (adopted
with unknown content, so updated in full; or created when the marketplace does not
have it) and sends anything else unconfirmed again in full (`MerchantPusher.resend`):
both marketplaces key articles by SKU and refuse a second one with the same SKU, so
sending again never makes a duplicate.

`MerchantPusher` holds the flow; `cdon` and `fyndiq` subclass it with their
request and answer shapes (marketplaces.md 1.2, 2.3, 2.4): the `update_article` body
(`content`), whether a price update carries `original_price`, how answers read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from typing import Any, ClassVar

import httpx

from feeds.pipeline.deliver import (
    ChangePlan,
    ItemParts,
    PushContext,
    PushReport,
    canonical,
    content_hash,
    plan_changes,
    unchanged,
)
from feeds.pipeline.deliver.http import send
from feeds.pipeline.deliver.settle import unconfirmed
from feeds.storage.ledger import LedgerEntry, SkuState

__all__ = ["DENIED", "Action", "MerchantPusher", "Outcome", "Run", "content_body",
           "flat_errors", "item_parts", "unsaid"]

PLAN_CHUNK = 1000  # items compared with the ledger at a time
_PRICE_KEYS = ("price", "original_price")
_NOT_CONTENT = {*_PRICE_KEYS, "quantity"}
# An action the marketplace refused for want of permission (Fyndiq's 403): recorded, and
# never retried, deleted or re-created on its own (only a change to the item sends it again).
DENIED = "No permission to edit article"

# Report words for the actions, as `push --dry-run` shows them.
CREATE, CONTENT, PRICE, QUANTITY = "create", "update content", "update price", "update quantity"
PAUSE, DELETE = "pause", "delete"


def item_parts(item: Mapping[str, Any]) -> ItemParts:
    """Price (with Fyndiq's original price), stock and the rest, as the ledger keeps them."""
    return ItemParts(canonical({k: item[k] for k in _PRICE_KEYS if k in item}),
                     item.get("quantity"), content_hash(content_body(item)))


def content_body(item: Mapping[str, Any]) -> dict[str, Any]:
    """An `update_article` body: the article without price and quantity."""
    return {k: v for k, v in item.items() if k not in _NOT_CONTENT}


def _sku(item: Mapping[str, Any]) -> str:
    return str(item["sku"])


def flat_errors(errors: Any, path: str = "") -> list[str]:
    """`field.path: message` lines from an error list (CDON) or tree (Fyndiq, Cerberus)."""
    if isinstance(errors, str):
        return [f"{path}: {errors}" if path else errors]
    if isinstance(errors, Mapping):
        if "message" in errors and isinstance(errors.get("message"), str):
            where = ".".join(str(p) for p in errors.get("field") or [])
            return [f"{where}: {errors['message']}" if where else errors["message"]]
        return [line for key, value in errors.items()
                for line in flat_errors(value, f"{path}.{key}" if path else str(key))]
    if isinstance(errors, list):
        return [line for value in errors for line in flat_errors(value, path)]
    return [f"{path}: {errors}"] if errors is not None else []


@dataclass(frozen=True)
class Outcome:
    """What the marketplace said of one article or action of a call."""

    errors: tuple[str, ...] = ()
    remote_id: str = ""
    batch_id: str = ""
    exists: bool = False  # a create refused because the SKU exists already
    gone: bool = False    # an action on an article the marketplace no longer has
    unconfirmed: str = ""  # why the answer cannot be read as acknowledging it ("" = it can)


def unsaid(what: str, answer_known: bool, quote: str = "") -> Outcome:
    """The outcome of an article or action the answer `what` did not acknowledge: it left
    it out (`answer_known`), or its shape is none the client knows (`quote`: its start)."""
    if answer_known:
        return Outcome(unconfirmed=_left_out(what))
    return Outcome(unconfirmed=f"{what}: an answer in no known shape ({quote})")


def _left_out(what: str) -> str:
    return f"{what}: the answer did not acknowledge it"


@dataclass(frozen=True)
class Action:
    """One update action and what the ledger records once it is acknowledged."""

    sku: str
    action: str                         # update_article, ..._price, ..._quantity, delete_article
    body: Mapping[str, Any] | None
    changes: Mapping[str, Any]          # LedgerEntry fields set on success
    label: str                          # the report's word
    remote_id: str = ""
    # The item to create instead when the marketplace answers that it has no such article
    # (an action sent to an article whose existence is not known: `CdonPusher.resend`).
    create: Mapping[str, Any] | None = None


class MerchantPusher:
    """The push flow; subclasses talk to one API (`create`, `act`, `resolve`)."""

    title: ClassVar[str] = ""
    create_limit: ClassVar[int] = 100
    action_limit: ClassVar[int] = 100
    # Whether `update_article_price` carries `original_price` (Fyndiq: always, equal to the
    # price without a sale; CDON has no such field).
    original_price: ClassVar[bool] = False

    def push(self, ctx: PushContext) -> PushReport:
        report = PushReport(ctx.name, dry_run=ctx.dry_run, left_out=dict(ctx.left_out))
        run = Run(self, ctx, report)
        if not ctx.dry_run:
            self.resolve(run)
        run.push_all()
        return report

    def check(self, ctx: PushContext) -> None:
        """Ask the marketplace about what is still open and record its answers."""
        self.resolve(Run(self, ctx, PushReport(ctx.name)))

    # -- what a subclass provides

    def create(self, run: Run, items: Sequence[Mapping[str, Any]]) -> list[Outcome | None]:
        """Create `items` in one call; one outcome per item (None: the answer did not say)."""
        raise NotImplementedError

    def act(self, run: Run, actions: Sequence[Action]) -> list[Outcome | None]:
        """Send `actions` in one call; one outcome per action."""
        raise NotImplementedError

    def resolve(self, run: Run) -> None:
        """Look up pending SKUs (and anything else still open); adopt, reject or forget."""
        raise NotImplementedError

    def find(self, run: Run, sku: str) -> str | None:
        """The remote id of an existing article `sku`, or None when there is none (or the
        answer does not say)."""
        raise NotImplementedError

    def resend(self, run: Run, item: Mapping[str, Any]) -> None:
        """Send again in full a published article whose last send is not confirmed:
        updated when the marketplace is known to have it, else created (a marketplace
        that has it refuses the create and the article is adopted: Fyndiq's 409)."""
        if run.entries[_sku(item)].remote_id:
            run.update_all(item)
        else:
            run.create(item)

    def conflicts(self, action: Action, queued: set[tuple[str, str]]) -> bool:
        """Whether `action` may not join the queued ones in one call."""
        return False

    def content(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The `update_article` body of a published item (without price and quantity)."""
        return content_body(item)

    def key(self, action: Action) -> tuple[str, str]:
        return action.sku, action.action


class Run:
    """One push (or check): the ledger's entries in memory, the queues and the calls."""

    def __init__(self, api: MerchantPusher, ctx: PushContext, report: PushReport) -> None:
        self.api, self.ctx, self.report = api, ctx, report
        self.entries = ctx.ledger.entries(ctx.name)
        self._creates: list[Mapping[str, Any]] = []
        self._actions: list[Action] = []
        self._queued: set[tuple[str, str]] = set()

    # -- HTTP

    def call(self, method: str, path: str, what: str, *, ok: Iterable[int] = (),
             **kwargs: Any) -> httpx.Response:
        """One request to the API (retried by `send`); counted in the report."""
        ctx = self.ctx
        names = ctx.spec.channel.delivery.credential_names(ctx.name).values() \
            if ctx.spec.channel.delivery else ()
        creds = ctx.credentials
        self.report.requests += 1
        url = ctx.settings.api_url.rstrip("/") + path  # type: ignore[attr-defined]
        return send(ctx.http, method, url, what=f"{self.api.title} {what}",
                    credential_names=names, secrets=creds.values(), sleep=ctx.sleep, ok=ok,
                    limits=ctx.limits,
                    auth=(creds.get("merchant_id", ""), creds.get("token", "")), **kwargs)

    # -- the ledger

    def put(self, entries: Iterable[LedgerEntry]) -> None:
        entries = list(entries)
        if entries:
            self.ctx.ledger.put(self.ctx.name, entries)
            self.entries.update((e.sku, e) for e in entries)

    def forget(self, skus: Iterable[str]) -> None:
        skus = list(skus)
        if skus:
            self.ctx.ledger.forget(self.ctx.name, skus)
            for sku in skus:
                self.entries.pop(sku, None)

    @staticmethod
    def stamp() -> datetime:
        return datetime.now(UTC)

    # -- the push

    def push_all(self) -> None:
        seen: set[str] = set()
        items = self.ctx.items()
        while chunk := list(islice(items, PLAN_CHUNK)):
            skus = [_sku(item) for item in chunk]
            seen.update(skus)
            known = {s: self.entries[s] for s in skus if s in self.entries}
            self._plan(plan_changes(chunk, known, item_parts, _sku), known)
        self._removed(seen)
        self.flush()

    def _plan(self, plan: ChangePlan, known: Mapping[str, LedgerEntry]) -> None:
        done: set[str] = set()  # created, or left alone: no update actions
        for item in plan.create:
            self.create(item)
            done.add(_sku(item))
        for item in plan.retry:
            # Pending or unconfirmed: a dry run did not look it up (a push creates it if
            # the marketplace does not have it); a push's look-up could not confirm it, so
            # it is sent again in full (a change is never held back by an earlier send).
            if self.ctx.dry_run and not known[_sku(item)].remote_id:
                self.report.count(CREATE)
            else:
                self.api.resend(self, item)
            done.add(_sku(item))
        for item in plan.content:
            sku, entry = _sku(item), known[_sku(item)]
            if entry.state is SkuState.REJECTED and unchanged(item_parts(item), entry):
                done.add(sku)  # refused as it is: sending it unchanged is refused again
            elif not entry.remote_id:
                self.create(item)  # refused at creation: never existed
                done.add(sku)
            else:
                self.update_content(item)
        for item in plan.price:
            if _sku(item) not in done:
                self.update_price(item, known[_sku(item)])
        for item in plan.quantity:
            if _sku(item) not in done:
                self.update_quantity(item)

    def _removed(self, seen: set[str]) -> None:
        """Articles no longer published: paused (left out by the rules, or under
        `on_removed = "pause"`), else deleted (a paused one too, once its product is
        gone from Vendre); never-created ones are just forgotten."""
        pause_all = str(getattr(self.ctx.settings, "on_removed", "delete")) == "pause"
        pauses, gone = [], []
        for sku, entry in sorted(self.entries.items()):
            if sku in seen or entry.state is SkuState.DELETED or _denied(entry):
                continue
            pause = pause_all or sku in self.ctx.left_out
            if not entry.remote_id:
                if entry.state not in (SkuState.PENDING, SkuState.UNCONFIRMED):
                    gone.append(sku)  # else kept: looked up by the next push
            elif pause:
                if entry.state is not SkuState.PAUSED:
                    pauses.append(entry)
            else:
                self.queue(Action(sku, "delete_article", None, {}, DELETE, entry.remote_id))
        if not self.ctx.dry_run:
            self.forget(gone)
        self._pause(pauses)

    def _pause(self, entries: Sequence[LedgerEntry]) -> None:
        """`update_article` with status paused and the article's last published body;
        without one (history pruned), stock 0 keeps it from selling."""
        bodies = self.ctx.earlier([e.sku for e in entries]) if entries and \
            not self.ctx.dry_run else {}
        for entry in entries:
            body = bodies.get(entry.sku)
            if body is not None:
                self.queue(Action(entry.sku, "update_article",
                                  {**self.api.content(body), "status": "paused"},
                                  {"state": SkuState.PAUSED, "content_hash": ""}, PAUSE,
                                  entry.remote_id))
            else:
                self.queue(Action(entry.sku, "update_article_quantity", {"quantity": 0},
                                  {"state": SkuState.PAUSED, "quantity": 0}, PAUSE,
                                  entry.remote_id))

    # -- the actions of one item

    def update_content(self, item: Mapping[str, Any]) -> None:
        self.queue(self._content(item))

    def update_price(self, item: Mapping[str, Any], entry: LedgerEntry) -> None:
        self.queue(self._price(item, entry))

    def update_quantity(self, item: Mapping[str, Any]) -> None:
        self.queue(self._quantity(item))

    def update_all(self, item: Mapping[str, Any]) -> None:
        """Content, price and stock of an article whose content is unknown (adopted, or
        its last send unconfirmed)."""
        for action in self.full_update(item):
            self.queue(action)

    def full_update(self, item: Mapping[str, Any]) -> list[Action]:
        """The actions of `update_all`, not queued."""
        return [self._content(item), self._price(item, self.entries[_sku(item)]),
                self._quantity(item)]

    def _content(self, item: Mapping[str, Any]) -> Action:
        sku = _sku(item)
        return Action(sku, "update_article", self.api.content(item),
                      {"state": SkuState.LIVE, "content_hash": item_parts(item).content},
                      CONTENT, self.entries[sku].remote_id)

    def _price(self, item: Mapping[str, Any], entry: LedgerEntry) -> Action:
        body: dict[str, Any] = {"price": item["price"]}
        if self.api.original_price:
            # Fyndiq, "Update an article price": price and original_price are both required;
            # without a sale the original price is the price.
            body["original_price"] = item.get("original_price", item["price"])
        return Action(_sku(item), "update_article_price", body,
                      {"price": item_parts(item).price}, PRICE, entry.remote_id)

    def _quantity(self, item: Mapping[str, Any]) -> Action:
        sku = _sku(item)
        return Action(sku, "update_article_quantity", {"quantity": item["quantity"]},
                      {"quantity": item["quantity"]}, QUANTITY, self.entries[sku].remote_id)

    # -- queues and calls

    def create(self, item: Mapping[str, Any]) -> None:
        if self.ctx.dry_run:
            self.report.count(CREATE)
            return
        self._creates.append(item)
        if len(self._creates) >= self.api.create_limit:
            self._send_creates()

    def queue(self, action: Action) -> None:
        if self.ctx.dry_run:
            self.report.count(action.label)
            return
        if self.api.conflicts(action, self._queued):
            self._send_actions()
        self._actions.append(action)
        self._queued.add(self.api.key(action))
        if len(self._actions) >= self.api.action_limit:
            self._send_actions()

    def flush(self) -> None:
        while self._creates or self._actions:
            if self._creates:
                self._send_creates()
            if self._actions:
                self._send_actions()

    def _send_creates(self) -> None:
        batch, self._creates = self._creates, []
        now = self.stamp()
        parts = [item_parts(item) for item in batch]
        sent = [LedgerEntry(_sku(item), SkuState.PENDING, p.content, p.price, p.quantity,
                            updated_at=now) for item, p in zip(batch, parts, strict=True)]
        self.put(sent)
        outcomes = self.api.create(self, batch)
        done, adopted = [], []
        what = f"{self.api.title} create"
        for item, p, target, outcome in zip(batch, parts, sent, outcomes, strict=True):
            sku = _sku(item)
            if outcome is None or outcome.unconfirmed:
                done.append(unconfirmed(target, outcome.unconfirmed if outcome else
                                        _left_out(what)))
                continue
            if outcome.exists:
                remote = self.api.find(self, sku)
                if remote is not None:
                    done.append(LedgerEntry(sku, SkuState.LIVE, remote_id=remote,
                                            updated_at=now))
                    adopted.append(item)
                else:
                    done.append(unconfirmed(target, f"{what}: the SKU exists already, but a "
                                                    "look-up by SKU did not find it"))
                continue
            if outcome.errors:
                self.report.rejected[sku] = "; ".join(outcome.errors)
                done.append(LedgerEntry(sku, SkuState.REJECTED, p.content, p.price, p.quantity,
                                        batch_id=outcome.batch_id, errors=outcome.errors,
                                        updated_at=now))
                continue
            remote = outcome.remote_id or self.api.find(self, sku)
            if remote is None:
                done.append(unconfirmed(target, f"{what}: accepted without an id, and a "
                                                "look-up by SKU did not find it"))
                continue
            self.report.count(CREATE)
            done.append(LedgerEntry(sku, SkuState.LIVE, p.content, p.price, p.quantity,
                                    remote_id=remote, batch_id=outcome.batch_id,
                                    updated_at=now))
        self.put(done)
        for item in adopted:
            self.report.count("adopt")
            self.update_all(item)

    def _send_actions(self) -> None:
        batch, self._actions, self._queued = self._actions, [], set()
        outcomes = self.api.act(self, batch)
        now, changed, deleted = self.stamp(), {}, []
        unsure: dict[str, str] = {}                    # sku -> why
        recreate: dict[str, Mapping[str, Any]] = {}    # sku -> the item to create now
        for action, outcome in zip(batch, outcomes, strict=True):
            if outcome is None or outcome.unconfirmed:
                unsure.setdefault(action.sku, outcome.unconfirmed if outcome else
                                  _left_out(f"{self.api.title} update"))
                continue
            entry = changed.get(action.sku) or self.entries.get(action.sku)
            if entry is None:
                continue
            if outcome.gone:  # deleted elsewhere: forgotten, so the next push creates it
                deleted.append(action.sku)
                changed.pop(action.sku, None)
                if action.create is not None:
                    recreate[action.sku] = action.create  # ... or this one, at once
                continue
            if outcome.errors:
                # The refused values are recorded as sent, so that the next push does not
                # send them unchanged to be refused again (as for a refused create).
                self.report.rejected[action.sku] = "; ".join(outcome.errors)
                refused = {k: v for k, v in action.changes.items() if k != "state"}
                changed[action.sku] = replace(entry, **refused, state=SkuState.REJECTED,
                                              errors=outcome.errors, updated_at=now)
                continue
            self.report.count(action.label)
            if action.action == "delete_article":
                deleted.append(action.sku)
                continue
            changed[action.sku] = replace(entry, **action.changes, errors=(), updated_at=now,
                                          batch_id=outcome.batch_id or entry.batch_id)
        for sku, why in unsure.items():
            entry = changed.get(sku) or self.entries.get(sku)
            if entry is not None and sku not in deleted:
                changed[sku] = replace(unconfirmed(entry, why), updated_at=now)
        self.put(changed.values())
        self.forget(deleted)
        for item in recreate.values():
            self.create(item)


def _denied(entry: LedgerEntry) -> bool:
    """A rejected article the marketplace does not let us change (its 403)."""
    denied = DENIED.lower()
    return entry.state is SkuState.REJECTED and any(denied in e.lower() for e in entry.errors)
