"""Amazon SP-API: the published amazon.json, sent as JSON_LISTINGS_FEED feeds.

One push, with the Feeds API 2021-06-30 (five calls, written with httpx: the
maintained Python client encodes text bodies as Latin-1 and would not add
much here)::

    LWA: refresh token -> access token (memory only; `x-amz-access-token` header)
    per feed of at most 10,000 messages, renumbered 1..n:
        createFeedDocument -> PUT the UTF-8 bytes to its URL -> createFeed
    poll getFeed with backoff until DONE, CANCELLED or FATAL
    getFeedDocument -> download the processing report (gunzip when GZIP)
    -> each message's issues recorded against its SKU in the ledger

A full UPDATE replaces every attribute of an existing listing, so it only goes to
a SKU this tool created. Before a SKU's first UPDATE (`look_up_skus`) the Listings
Items API is asked whether the SKU is listed already (`getListingsItem`, paced to
its documented 5 calls a second): a SKU listed before this tool, or elsewhere, is
adopted (the ledger's `remote_id` holds its ASIN) and from then on gets the offer
and the stock only, as a PATCH, and quantity 0 instead of a DELETE when it leaves
Vendre. Sources: the selling-partner-api-models threads #4134 and #5235 (UPDATE
and replace semantics), the Listings Items API 2021-08-01 reference.

Later pushes send what the ledger says changed: a new item or changed content is a
full UPDATE, a price change a PATCH replacing `/attributes/purchasable_offer`, a
stock change one replacing `/attributes/fulfillment_availability`, a product no
longer sellable a DELETE (or quantity 0 under `on_removed = "zero"`); an item the
build's rules now keep out gets quantity 0. A SKU Amazon refused is not sent
unchanged again. SKUs in a feed are `pending` (with the feed id) until its report is
read, so a push cut short, or a feed still processing after the polling limit, is
settled by the next push or `push-status`; meanwhile a SKU whose item changed again is
sent in the next feed anyway.

A report that cannot be read (over `max_response_mb` once inflated, not JSON, or not in
the shape of listings-feed-processing-report-schema-v2, which requires `header`,
`issues` and `summary` with `messagesProcessed`: https://github.com/amzn/
selling-partner-api-models/blob/main/schemas/feeds/listings-feed-processing-report-
schema-v2.json), one that counts fewer messages processed than the feed held (which of
them is not said), and a feed still processing `report_timeout_hours` after it was sent
leave its SKUs `unconfirmed`: the next push sends them again, and that feed's report
confirms them. Every later push no longer asks for a report it cannot read.

The report holds the message issues and, as the feed's header asks
(`includedData: ["issues"]`), the issues Amazon found in each listing after
accepting its message (under `items`): both are recorded per SKU, an ERROR making it
rejected, since an accepted listing with one is not buyable.

createFeed allows a burst of 15, then one call per two minutes: a 429 there
waits two minutes and tries again; other calls retry 429/5xx with backoff.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any
from urllib.parse import quote

from feeds.channels.amazon import PRICE_ATTRIBUTE, STOCK_ATTRIBUTE, OnRemoved, document_header
from feeds.errors import ConfigError
from feeds.log import add_secret, shown
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
    unchanged,
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

__all__ = ["PUSHER", "AmazonPusher", "item_parts"]

FEEDS = "/feeds/2021-06-30"
LISTINGS = "/listings/2021-08-01/items"
LISTINGS_INTERVAL = 0.2      # getListingsItem: 5 calls a second (burst 10) [C: usage plan]
ADOPTED = "listed"           # remote_id of an adopted SKU whose ASIN Amazon did not give
CONTENT_TYPE = "application/json; charset=UTF-8"
MAX_MESSAGES = 10_000        # per feed (Amazon allows 25,000; the issue asks for 10,000)
CREATE_FEED_WAIT = 120.0     # createFeed refills one call per two minutes
CREATE_FEED_TRIES = 6
POLL_DELAYS = (2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
POLL_LIMIT = 600.0           # seconds of polling; later results are read by the next push
FINAL = frozenset({"DONE", "CANCELLED", "FATAL"})
USER_AGENT = "vendre-feeds/0.1 (Language=Python)"


def item_parts(message: Mapping[str, Any]) -> ItemParts:
    """Price (the offer attribute), stock (its quantity) and a hash of everything else
    (lead time included; the messageId, which follows file order, excluded)."""
    attributes = dict(message.get("attributes") or {})
    offer = attributes.pop(PRICE_ATTRIBUTE, [])
    stock = [dict(entry) for entry in attributes.get(STOCK_ATTRIBUTE, [])]
    quantity = stock[0].pop("quantity", None) if stock else None
    if stock:
        attributes[STOCK_ATTRIBUTE] = stock
    rest = {k: v for k, v in message.items() if k not in ("messageId", "attributes")}
    return ItemParts(canonical(offer), quantity, content_hash({**rest, "attributes": attributes}))


@dataclass
class _Message:
    """One message of a feed being sent, and the ledger entry it earns when accepted."""

    sku: str
    body: dict[str, Any]
    target: LedgerEntry


@dataclass
class _Feed:
    """A feed sent: its id and, by messageId - 1, the entry each message earns."""

    feed_id: str
    targets: list[LedgerEntry]
    status: str = "IN_QUEUE"
    info: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- the calls


class _Api:
    """LWA and the Feeds calls over the injected client; counts its requests."""

    def __init__(self, ctx: PushContext, report: PushReport) -> None:
        self.ctx, self.report = ctx, report
        self.settings = ctx.settings
        delivery = ctx.spec.channel.delivery
        assert delivery is not None
        self.names = list(delivery.credential_names(ctx.name).values())
        self.secrets = list(ctx.credentials.values())
        self._token = ""
        self._expires = 0.0
        self._next_look_up = 0.0

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        self.report.requests += 1
        return send(self.ctx.http, method, url, what=f"Amazon {what}",
                    credential_names=self.names, secrets=[*self.secrets, self._token],
                    sleep=self.ctx.sleep, limits=self.ctx.limits, **kwargs)

    def token(self) -> str:
        """An access token, exchanged again a minute before the last one expires."""
        if self._token and time.monotonic() < self._expires:
            return self._token
        c = self.ctx.credentials
        response = self._send("POST", self.settings.token_url, "LWA token", ok=(400,),
                              data={"grant_type": "refresh_token",
                                    "refresh_token": c["refresh_token"],
                                    "client_id": c["client_id"],
                                    "client_secret": c["client_secret"]})
        body = as_mapping(json_body(response, "Amazon LWA token"))
        if response.status_code == 400 or not isinstance(body.get("access_token"), str):
            said = shown(str(body.get("error", "no token")), 100, self.secrets)
            raise ConfigError(f"Amazon LWA token: refused ({said}); "
                              f"check {' and '.join(self.names)}")
        self._token = body["access_token"]
        add_secret(self._token)
        lifetime = body.get("expires_in") if isinstance(body.get("expires_in"), int) else 3600
        self._expires = time.monotonic() + max(lifetime - 60, 1)
        return self._token

    def _spapi(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        headers = {"x-amz-access-token": self.token(), "user-agent": USER_AGENT,
                   "accept": "application/json"}
        response = self._send(method, self.settings.endpoint.rstrip("/") + path, what,
                              headers=headers, **kwargs)
        return response

    def create_feed_document(self) -> tuple[str, str]:
        body = as_mapping(json_body(self._spapi("POST", f"{FEEDS}/documents",
                                                "createFeedDocument",
                                                json={"contentType": CONTENT_TYPE}),
                                    "Amazon createFeedDocument"))
        if not body.get("feedDocumentId") or not body.get("url"):
            raise PushHttpError("Amazon createFeedDocument: no document id or URL")
        return str(body["feedDocumentId"]), str(body["url"])

    def upload(self, url: str, data: bytes) -> None:
        # The pre-signed URL is the credential here: no access token goes to it.
        response = self._send("PUT", url, "document upload", ok=(403,), content=data,
                              headers={"Content-Type": CONTENT_TYPE})
        if response.status_code == 403:
            raise PushHttpError("Amazon document upload: refused (HTTP 403; the signed URL "
                                "expired or the content type differs)", 403)

    def create_feed(self, document_id: str) -> str:
        body = {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [self.settings.marketplace_id],
                "inputFeedDocumentId": document_id}
        for _ in range(CREATE_FEED_TRIES):
            response = self._spapi("POST", f"{FEEDS}/feeds", "createFeed", json=body, ok=(429,))
            if response.status_code != 429:
                feed_id = as_mapping(json_body(response, "Amazon createFeed")).get("feedId")
                if not feed_id:
                    raise PushHttpError("Amazon createFeed: no feed id in the answer")
                return str(feed_id)
            self.ctx.echo(f"{self.ctx.name}: createFeed is rate limited (one per two minutes "
                          "after a burst of 15); waiting")
            self.ctx.sleep(CREATE_FEED_WAIT)
        raise PushHttpError(f"Amazon createFeed: still rate limited after {CREATE_FEED_TRIES} "
                            "tries", 429)

    def listing(self, sku: str) -> str | None:
        """The ASIN (or `ADOPTED`) of the listing `sku` when the seller has one in the
        marketplace, else None (getListingsItem; at most 5 calls a second)."""
        wait = self._next_look_up - time.monotonic()
        if wait > 0:
            self.ctx.sleep(wait)
        self._next_look_up = time.monotonic() + LISTINGS_INTERVAL
        path = f"{LISTINGS}/{quote(self.settings.seller_id, safe='')}/{quote(sku, safe='')}"
        response = self._spapi("GET", path, "getListingsItem", ok=(404,),
                               params={"marketplaceIds": self.settings.marketplace_id,
                                       "includedData": "summaries"})
        if response.status_code == 404:
            return None
        summaries = as_mapping(json_body(response, "Amazon getListingsItem")).get("summaries")
        first = summaries[0] if isinstance(summaries, list) and summaries else None
        asin = first.get("asin") if isinstance(first, Mapping) else None
        return asin if isinstance(asin, str) and asin else ADOPTED

    def get_feed(self, feed_id: str) -> Mapping[str, Any]:
        return as_mapping(json_body(self._spapi("GET", f"{FEEDS}/feeds/{feed_id}", "getFeed"),
                                    "Amazon getFeed"))

    def processing_report(self, document_id: str) -> Mapping[str, Any]:
        """The processing report, in the schema's shape.

        :raises PushHttpError: it could not be fetched or read (too large, not JSON, in
            no known shape).
        """
        info = as_mapping(json_body(self._spapi("GET", f"{FEEDS}/documents/{document_id}",
                                                "getFeedDocument"), "Amazon getFeedDocument"))
        if not info.get("url"):
            raise PushHttpError("Amazon getFeedDocument: no URL in the answer")
        # gzip (compressionAlgorithm GZIP) is inflated as it is read, under the same cap.
        data = self._send("GET", str(info["url"]), "report download", gunzip=True).content
        report, problem = parse_json(data)
        if problem:
            raise PushHttpError(f"Amazon processing report: not readable ({problem})")
        if not isinstance(report, Mapping) or not isinstance(report.get("issues"), list) \
                or _processed(report) is None:
            raise PushHttpError(f"Amazon processing report: in no known shape "
                                f"({quoted(report)})")
        return report

    def read_report(self, feed_id: str, document_id: str) -> tuple[Mapping[str, Any], str]:
        """The processing report of feed `feed_id`, or {} and why it cannot be read."""
        try:
            return self.processing_report(document_id), ""
        except PushHttpError as exc:
            return {}, f"feed {feed_id}: its processing report cannot be read ({exc})"


# ---------------------------------------------------------------- the pusher


class AmazonPusher:
    def push(self, ctx: PushContext) -> PushReport:
        report = PushReport(ctx.name, dry_run=ctx.dry_run, left_out=dict(ctx.left_out))
        api = None if ctx.dry_run else _Api(ctx, report)
        entries = ctx.ledger.entries(ctx.name)
        waiting: set[str] = set()
        if api is not None and by_batch(entries):
            waiting = _settle_pending(api, ctx, entries)
            entries = ctx.ledger.entries(ctx.name)
        decisions = _decide(ctx, entries, waiting)
        new = [sku for sku, action in decisions.items()
               if action == "create" and sku not in entries]
        if api is not None and ctx.settings.look_up_skus and new:
            entries = _look_up(api, ctx, new, decisions)
        count_actions(decisions, report)
        if waiting:
            report.message = "; ".join(filter(None, [
                report.message, f"{len(waiting)} SKUs wait for an earlier feed's report"]))
        if ctx.dry_run and ctx.settings.look_up_skus and new:
            report.message = "; ".join(filter(None, [report.message, (
                f"a push first asks Amazon whether the {len(new)} SKUs new to the ledger are "
                "listed already (those get offer and stock only)")]))
        if ctx.dry_run or not decisions:
            return report
        assert api is not None
        messages = _messages(ctx, entries, decisions)
        feeds = []
        while batch := list(islice(messages, MAX_MESSAGES)):
            feeds.append(_send_feed(api, ctx, batch))
        timed_out = _poll(api, ctx, feeds)
        problems = [p for f in feeds if (p := _record(api, ctx, f, report, timed_out))]
        unsettled = [f.feed_id for f in feeds if f.status not in FINAL and not timed_out]
        sent = f"{len(feeds)} feed{'s' if len(feeds) != 1 else ''}: " + \
            ", ".join(f.feed_id for f in feeds)
        report.message = "; ".join(filter(None, [sent, report.message] + (
            [f"feed {', '.join(unsettled)} still processing: its results are recorded by the "
             "next push or push-status"] if unsettled else [])))
        if problems:
            raise PushError(f"{ctx.name}: " + "; ".join(problems))
        return report

    def check(self, ctx: PushContext) -> None:
        """Read the reports of feeds whose SKUs are still pending."""
        _settle_pending(_Api(ctx, PushReport(ctx.name)), ctx, ctx.ledger.entries(ctx.name))


PUSHER = AmazonPusher()


# ---------------------------------------------------------------- what to send


def _decide(ctx: PushContext, entries: Mapping[str, LedgerEntry], waiting: set[str]
            ) -> dict[str, str]:
    """SKU -> what to send: "create", "update", "price", "stock", "price+stock",
    "delete" or "pause". A SKU this tool did not create (an adopted one: its `remote_id`
    is set) gets "price+stock" instead of an update and "pause" instead of a delete; a
    refused one is not sent again unchanged."""
    plan = plan_published(ctx, entries, item_parts, skip=waiting)
    decisions = update_actions(plan)
    for c in plan.content:
        entry = entries[c.sku]
        if entry.state is SkuState.REJECTED and unchanged(c.parts, entry):
            decisions.pop(c.sku, None)   # refused as it is: it would be refused again
    for sku, action in decisions.items():
        known = entries.get(sku)
        if action == "update" and known is not None and known.remote_id:
            decisions[sku] = "price+stock"   # never a full UPDATE of an adopted listing
    zero = ctx.settings.on_removed is OnRemoved.ZERO
    for entry in plan.removed:
        if entry.sku in ctx.left_out or zero or entry.remote_id:
            if entry.state is not SkuState.PAUSED or entry.quantity != 0:
                decisions[entry.sku] = "pause"
        else:
            decisions[entry.sku] = "delete"
    return decisions


def _look_up(api: _Api, ctx: PushContext, skus: list[str], decisions: dict[str, str]
             ) -> dict[str, LedgerEntry]:
    """Ask Amazon about each SKU new to the ledger: one that is listed already is adopted
    (recorded at once, with its ASIN) and gets "adopt" (its offer and stock, patched)
    instead of "create". The ledger's entries afterwards."""
    for sku in skus:
        asin = api.listing(sku)
        if asin is not None:
            ctx.ledger.put(ctx.name, [LedgerEntry(sku, SkuState.LIVE, remote_id=asin,
                                                  updated_at=ctx.now)])
            decisions[sku] = "adopt"
    return ctx.ledger.entries(ctx.name)


def _messages(ctx: PushContext, entries: Mapping[str, LedgerEntry],
              decisions: Mapping[str, str]) -> Iterator[_Message]:
    """The messages to send, in file order (the removed ones last)."""
    product_type = ctx.settings.product_type
    for message in ctx.items():
        sku = str(message.get("sku", ""))
        action = decisions.get(sku)
        if action is None:
            continue
        parts = item_parts(message)
        known = entries.get(sku)
        target = LedgerEntry(sku, SkuState.LIVE, parts.content, parts.price, parts.quantity,
                             remote_id=known.remote_id if known else "", updated_at=ctx.now)
        body = {k: v for k, v in message.items() if k != "messageId"}
        if action not in ("create", "update"):
            names = [name for part, name in (("price", PRICE_ATTRIBUTE), ("stock", STOCK_ATTRIBUTE))
                     if part in action or action == "adopt"]
            body = {"sku": sku, "operationType": "PATCH", "productType": body["productType"],
                    "patches": [{"op": "replace", "path": f"/attributes/{name}",
                                 "value": body["attributes"][name]} for name in names]}
        yield _Message(sku, body, target)
    for sku, action in decisions.items():
        entry = entries.get(sku)
        if action == "delete":
            yield _Message(sku, {"sku": sku, "operationType": "DELETE"},
                           LedgerEntry(sku, SkuState.DELETED, updated_at=ctx.now))
        elif action == "pause" and entry is not None:
            patch = {"op": "replace", "path": f"/attributes/{STOCK_ATTRIBUTE}",
                     "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]}
            yield _Message(sku, {"sku": sku, "operationType": "PATCH",
                                 "productType": product_type, "patches": [patch]},
                           replace(entry, state=SkuState.PAUSED, quantity=0, errors=(),
                                   updated_at=ctx.now))


# ---------------------------------------------------------------- one feed


def _send_feed(api: _Api, ctx: PushContext, messages: list[_Message]) -> _Feed:
    """Mark the SKUs pending, then upload the document and create the feed.

    The document is asked for first: a refused login (LWA) or token ends the push
    there, before any SKU is marked pending, since nothing was sent."""
    marked = [pending(m.target) for m in messages]
    header = document_header(ctx.settings, ctx.spec.target.language, ctx.spec.target.country)
    numbered = [{"messageId": n, **m.body} for n, m in enumerate(messages, start=1)]
    data = json.dumps({"header": header, "messages": numbered}, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    document_id, url = api.create_feed_document()
    ctx.ledger.put(ctx.name, marked)
    api.upload(url, data)
    feed_id = api.create_feed(document_id)
    ctx.ledger.put(ctx.name, [replace(p, batch_id=feed_id) for p in marked])
    return _Feed(feed_id, [m.target for m in messages])


def _poll(api: _Api, ctx: PushContext, feeds: list[_Feed]) -> bool:
    """getFeed for every unfinished feed, with growing pauses, up to POLL_LIMIT seconds
    (or `report_timeout_hours`, if sooner); whether that timeout ended the polling. A
    feed whose answer holds no status is not asked again (its status stays '')."""
    waited, step = 0.0, 0
    timeout = report_timeout_s(ctx)
    while True:
        for feed in feeds:
            if feed.status and feed.status not in FINAL:
                feed.info = api.get_feed(feed.feed_id)
                feed.status = _processing(feed.info)
        if all(f.status in FINAL or not f.status for f in feeds):
            return False
        if waited >= min(POLL_LIMIT, timeout):
            return waited >= timeout
        delay = POLL_DELAYS[min(step, len(POLL_DELAYS) - 1)]
        ctx.sleep(min(delay, max(timeout - waited, 0.0)))
        waited, step = waited + delay, step + 1


def _record(api: _Api, ctx: PushContext, feed: _Feed, report: PushReport,
            timed_out: bool) -> str:
    """Each message's outcome into the ledger; a problem of the whole feed, or ''."""
    if not feed.status:
        why = unread_status(report, f"feed {feed.feed_id}", feed.info)
        ctx.ledger.put(ctx.name, [unconfirmed(replace(t, batch_id=feed.feed_id), why)
                                  for t in feed.targets])
        return ""
    if feed.status not in FINAL:
        if timed_out:
            ctx.ledger.put(ctx.name, [unconfirmed(replace(t, batch_id=feed.feed_id),
                                                  stuck(ctx, f"feed {feed.feed_id}",
                                                        feed.status))
                                      for t in feed.targets])
        return ""
    if feed.status != "DONE":
        ctx.ledger.put(ctx.name, [pending(t) for t in feed.targets])
        why = _feed_problem(api, feed)
        return f"feed {feed.feed_id} ended {feed.status}{f': {why}' if why else ''}"
    document = feed.info.get("resultFeedDocumentId")
    if not document:
        ctx.ledger.put(ctx.name, [pending(t) for t in feed.targets])
        return f"feed {feed.feed_id} is DONE without a processing report"
    found, why = api.read_report(feed.feed_id, str(document))
    targets = [replace(t, batch_id=feed.feed_id) for t in feed.targets]
    if why:
        ctx.ledger.put(ctx.name, [unconfirmed(t, why) for t in targets])
        return ""
    issues, general = _issues(found, {n: t.sku for n, t in enumerate(targets, start=1)})
    partial = _partly(found, feed.feed_id, len(targets))
    done = []
    for target in targets:
        mine = issues.get(target.sku, [])
        errors = tuple(text for severity, text in mine if severity == "ERROR")
        if errors:
            report.rejected[target.sku] = "; ".join(errors)
            done.append(replace(target, state=SkuState.REJECTED, errors=errors))
        elif partial:
            done.append(unconfirmed(target, partial))
        else:
            done.append(replace(target, errors=tuple(t for _, t in mine)))
    ctx.ledger.put(ctx.name, done)
    return f"feed {feed.feed_id}: {'; '.join(general)}" if general else ""


def _processed(report: Mapping[str, Any]) -> int | None:
    """The report's `summary.messagesProcessed`, or None when it has none."""
    summary = report.get("summary")
    count = summary.get("messagesProcessed") if isinstance(summary, Mapping) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _partly(report: Mapping[str, Any], feed_id: str, sent: int) -> str:
    """Why the messages without an issue are not confirmed, when the report counts fewer
    messages processed than `sent` (it does not say which), else ''."""
    processed = _processed(report)
    if processed is None or processed >= sent:
        return ""
    return f"feed {feed_id}: its report counts {processed} of {sent} messages processed"


def _feed_problem(api: _Api, feed: _Feed) -> str:
    document = feed.info.get("resultFeedDocumentId")
    if not document:
        return ""
    found, why = api.read_report(feed.feed_id, str(document))
    return why or "; ".join(_issues(found, {})[1])


def _issues(report: Mapping[str, Any], by_message: Mapping[int, str]
            ) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """Issues by SKU as (severity, "code: message"), and those about no message: the
    message issues, then the issues of each listing under `items` (found after its
    message was accepted; `includedData: ["issues"]`)."""
    by_sku: dict[str, list[tuple[str, str]]] = {}
    general: list[str] = []
    issues = report.get("issues")
    for issue in issues if isinstance(issues, list) else []:
        if not isinstance(issue, Mapping):
            continue
        mid = issue.get("messageId")
        sku = by_message.get(mid) if isinstance(mid, int) else None
        sku = sku or (issue.get("sku") if isinstance(issue.get("sku"), str) else None)
        if sku:
            by_sku.setdefault(sku, []).append(_issue(issue))
        else:
            general.append(_issue(issue)[1])
    items = report.get("items")
    for item in items if isinstance(items, list) else []:
        found = item.get("issues") if isinstance(item, Mapping) else None
        if isinstance(item, Mapping) and isinstance(item.get("sku"), str) and \
                isinstance(found, list):
            by_sku.setdefault(item["sku"], []).extend(
                _issue(i) for i in found if isinstance(i, Mapping))
    return by_sku, general


def _issue(issue: Mapping[str, Any]) -> tuple[str, str]:
    """(severity, "code: message (attribute)") of one message or listing issue."""
    text = f"{issue.get('code', '')}: {issue.get('message', '')}".strip(": ")
    names = issue.get("attributeNames")
    attributes = issue.get("attributeName") or (
        ", ".join(str(n) for n in names) if isinstance(names, list) else "")
    if attributes:
        text += f" ({attributes})"
    return str(issue.get("severity", "ERROR")), text


# ---------------------------------------------------------------- later


def _settle_pending(api: _Api, ctx: PushContext, entries: Mapping[str, LedgerEntry]
                    ) -> set[str]:
    """Read the reports of earlier feeds whose SKUs are still pending; the SKUs that wait
    for a feed still processing (unchanged since; not yet `report_timeout_hours` old)."""
    feeds = by_batch(entries)
    waiting: set[str] = set()
    published = {str(m.get("sku", "")): item_parts(m) for m in ctx.items()} if feeds else {}
    for feed_id, group in feeds.items():
        info, status = status_of(api.report, f"feed {feed_id}",
                                 lambda feed_id=feed_id: api.get_feed(feed_id), _processing)
        if status not in FINAL:
            waiting |= processing(ctx, api.report, group, published, f"feed {feed_id}",
                                  status)
            continue
        document = info.get("resultFeedDocumentId")
        if status != "DONE" or not document:
            ctx.ledger.put(ctx.name, [pending(e) for e in group])  # sent again next time
            continue
        found, why = api.read_report(feed_id, str(document))
        if why:
            ctx.ledger.put(ctx.name, [unconfirmed(e, why) for e in group])
            continue
        issues, _ = _issues(found, {})
        partial = _partly(found, feed_id, len(group))
        ctx.ledger.put(ctx.name, [
            unconfirmed(e, partial) if partial and not _errors(issues, e.sku) else
            settled(e, _errors(issues, e.sku),
                    [t for sev, t in issues.get(e.sku, []) if sev != "ERROR"], published)
            for e in group])
    return waiting


def _errors(issues: Mapping[str, list[tuple[str, str]]], sku: str) -> list[str]:
    return [text for severity, text in issues.get(sku, []) if severity == "ERROR"]


def _processing(info: Mapping[str, Any]) -> str:
    return str(info.get("processingStatus") or "")
