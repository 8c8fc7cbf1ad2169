"""One purchases run: orders -> decisions -> requests -> the ledger.

Orders come from the webhooks in the inbox (`feeds.storage.inbox`) and from the store,
which `sync` fills with the orders of the last `[vendre] orders_days` days: whatever
webhook never arrived, the next sync fills the gap. Both are read by the one order
parser (`feeds.vendre.parse.parse_order`); an order in both is taken from whichever is
newer. A webhook-only run (`webhooks_only`, what the poller of `serve`/`worker` does
within a minute of a webhook) looks only at webhooks not yet looked at.

Each order is decided per platform (`feeds.purchases.decide`) against the ledger
(`feeds.storage.ledger.SendLedger`). An entry to send is recorded `pending` before its
request goes out and `sent` after the 2xx: a run killed in between sends it again the
next time, and the platforms deduplicate it (GA4 by transaction_id, Meta by event_id).
A rerun sends nothing that was sent. GA4 gets one request per order (one event each,
so one refused payload never takes others with it); Meta up to 1,000 events a request,
and a refused batch is sent again one event at a time to find the one it refuses.

Runs never overlap (the data dir's `purchases` lock); a dry run (and `--validate`) takes
no lock and records nothing.
"""

from __future__ import annotations

import logging
import os
import secrets as random_source
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from feeds.config import Config
from feeds.errors import ConfigError, NotFound
from feeds.events.source import EventSource
from feeds.log import mask
from feeds.purchases.decide import Action, Candidate, Key, Rules, decide, reason_not_sent
from feeds.purchases.intake import order_object, read_json
from feeds.purchases.payloads import META_BATCH, Beacon, Platform
from feeds.purchases.send import Budget, Ga4Client, MetaClient, PlatformStopped, Refused
from feeds.storage.inbox import Inbox, StoredWebhook
from feeds.storage.layout import Layout
from feeds.storage.ledger import FINAL_SEND_STATES, PushRun, SendEntry, SendLedger, SendState
from feeds.storage.lock import PURCHASES, held
from feeds.storage.store import Store
from feeds.vendre.parse import parse_order
from tracking.options import TrackingOptions

__all__ = ["BEACON_AFTER", "BEACON_BEFORE", "PlatformReport", "PurchasesReport",
           "enabled_platforms", "ledger_of", "send_purchases"]

log = logging.getLogger("feeds.purchases")

#: A beacon belongs to an order when it came from this long before the order's time (the
#: shop's clock and ours differ) to this long after (the confirmation page is seen right
#: after the order; a beacon sent days before names a number not yet given, and is ignored).
BEACON_BEFORE = timedelta(minutes=10)
BEACON_AFTER = timedelta(hours=24)


@dataclass
class PlatformReport:
    """What one run did with one platform."""

    platform: Platform
    counts: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)
    message: str = ""  # why the platform's run stopped (one line, secrets masked)

    @property
    def ok(self) -> bool:
        return not self.message

    def summary(self, dry_run: bool) -> str:
        verb = "would send" if dry_run else "sent"
        done = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(self.counts.items())
                         if v)
        text = f"{self.platform.value}: {done or f'{verb} nothing'}"
        return text + (f"; STOPPED: {self.message}" if self.message else "")


@dataclass
class PurchasesReport:
    dry_run: bool
    orders: int = 0
    platforms: dict[Platform, PlatformReport] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.platforms.values())

    def lines(self) -> list[str]:
        return [line for p in self.platforms.values() for line in p.lines]

    def summary(self) -> str:
        head = f"{self.orders} orders looked at" + (" (dry run)" if self.dry_run else "")
        return "; ".join([head] + [p.summary(self.dry_run) for p in self.platforms.values()])


def ledger_of(cfg: Config) -> SendLedger:
    """The purchases' entries, in the data dir's ledger file."""
    return SendLedger(Layout(cfg.data_dir).root / "state" / "ledger.sqlite3")


def enabled_platforms(cfg: Config) -> list[Platform]:
    """The platforms an id is set for: GA4 (`[tracking] ga4_id`), Meta (`meta_pixel_id`)."""
    found = []
    if cfg.tracking.ga4_id:
        found.append(Platform.GA4)
    if cfg.tracking.meta_pixel_id:
        found.append(Platform.META)
    return found


def _rules(cfg: Config) -> Rules:
    p = cfg.purchases
    return Rules(options=TrackingOptions.from_settings(cfg.tracking),
                 statuses=frozenset(p.statuses), refund_statuses=frozenset(p.refund_statuses),
                 send_user_data=p.send_user_data, default_country=cfg.shop.country)


def _new_client_id() -> str:
    """A GA4 client id for an order without the browser's, shaped like gtag's own
    ("<random>.<seconds>"); kept in the ledger so a resend uses it again."""
    return f"{random_source.randbelow(2 ** 31 - 1) + 1}.{int(time.time())}"


# ---------------------------------------------------------------- one run


def send_purchases(cfg: Config, *, http: httpx.Client | None = None,
                   env: Mapping[str, str] | None = None, now: datetime | None = None,
                   dry_run: bool = False, validate: bool = False,
                   budget_s: float | None = None, webhooks_only: bool = False,
                   webhooks_before: datetime | None = None, retries: int = 5,
                   pause: Callable[[float], None] = time.sleep,
                   clock: Callable[[], float] = time.monotonic,
                   new_client_id: Callable[[], str] = _new_client_id) -> PurchasesReport:
    """Send the orders not yet sent; see the module docstring.

    :param validate: send GA4's payloads to its validation server instead and report
        its messages (nothing is recorded, Meta gets nothing).
    :param budget_s: seconds each platform's run may take (`refresh` gives 30).
    :param webhooks_only: look only at webhooks not looked at yet (received before
        `webhooks_before`, when given), not at the store's orders.
    :raises ConfigError: purchases are off, or no platform has an id.
    :raises LockBusy: another run is going on.
    """
    if not cfg.purchases.enabled:
        raise ConfigError("purchases.enabled: is false; set it to true to send orders")
    platforms = enabled_platforms(cfg)
    if not platforms:
        raise ConfigError("purchases: neither [tracking] ga4_id nor meta_pixel_id is set, "
                          "so there is nowhere to send orders")
    now = now or datetime.now(UTC)
    env = os.environ if env is None else env
    rehearsal = dry_run or validate
    report = PurchasesReport(dry_run=rehearsal)
    with ExitStack() as stack:
        if not rehearsal:
            stack.enter_context(held(Layout(cfg.data_dir), PURCHASES))
        if http is None:
            http = stack.enter_context(httpx.Client(follow_redirects=False, trust_env=True))
        run = _Run(cfg, report, now, env, http, budget_s, retries, pause, clock,
                   new_client_id, dry_run=dry_run, validate=validate)
        run.go(platforms, webhooks_only, webhooks_before)
    return report


class _Run:
    def __init__(self, cfg: Config, report: PurchasesReport, now: datetime,
                 env: Mapping[str, str], http: httpx.Client, budget_s: float | None,
                 retries: int, pause: Callable[[float], None], clock: Callable[[], float],
                 new_client_id: Callable[[], str], *, dry_run: bool, validate: bool) -> None:
        self.cfg, self.report, self.now, self.env, self.http = cfg, report, now, env, http
        self.budget_s, self.retries, self.pause, self.clock = budget_s, retries, pause, clock
        self.new_client_id = new_client_id
        self.dry_run, self.validate = dry_run, validate
        self.rules = _rules(cfg)
        self.inbox = Inbox.in_dir(cfg.data_dir)
        self.store = Store.in_dir(cfg.data_dir)
        self.ledger = ledger_of(cfg)

    @property
    def recording(self) -> bool:
        return not (self.dry_run or self.validate)

    def go(self, platforms: list[Platform], webhooks_only: bool,
           webhooks_before: datetime | None) -> None:
        started = datetime.now(UTC)
        cutoff = min(started, webhooks_before) if webhooks_before else started
        orders, hooks = self._orders(webhooks_only, cutoff)
        self.report.orders = len(orders)
        entries = self.ledger.entries()
        for platform in platforms:
            self.report.platforms[platform] = PlatformReport(platform)
        with self.store.reading():  # one connection for every product the orders name
            candidates = list(self._candidates(orders, platforms, entries))
        for platform in platforms:
            actions = [a for c in candidates
                       for a in self._decide(c, platform, entries)]
            self._carry_out(platform, actions)
        if self.recording:
            self.inbox.mark_processed([h.order_id for h in hooks], self.now,
                                      received_before=cutoff)
            self.inbox.prune(self.now)
            keep = timedelta(days=max(self.cfg.vendre.orders_days, 8) + 1)
            self.ledger.forget_before(self.now - keep)
            for platform, part in self.report.platforms.items():
                self.ledger.runs.record_run(f"purchases-{platform.value}", PushRun(
                    started, datetime.now(UTC), part.ok, False, dict(part.counts),
                    part.message))

    # ------------------------------------------------------------ the orders

    def _orders(self, webhooks_only: bool, cutoff: datetime
                ) -> tuple[dict[str, tuple[Any, datetime | None]], list[StoredWebhook]]:
        """id -> (order, time to use when it has no date), and the webhooks read."""
        field_name = self.cfg.purchases.order_number_field
        found: dict[str, tuple[Any, datetime | None, datetime]] = {}
        if not webhooks_only and self.store.exists():
            sync = self.store.last_good_sync()
            seen = sync.finished_at if sync else datetime.min.replace(tzinfo=UTC)
            for raw in self.store.raw_orders():
                order = parse_order(raw, field_name)
                if order is not None:
                    found[order.id] = (order, None, seen)
        hooks = self.inbox.webhooks(open_only=webhooks_only, received_before=cutoff)
        for hook in hooks:
            raw = order_object(read_json(hook.body))
            order = parse_order(raw, field_name) if raw is not None else None
            if order is None:
                continue
            known = found.get(order.id)
            if known is None or known[2] <= hook.received_at:
                found[order.id] = (order, hook.received_at, hook.received_at)
        return {k: (v[0], v[1]) for k, v in found.items()}, hooks

    def _candidates(self, orders: Mapping[str, tuple[Any, datetime | None]],
                    platforms: list[Platform], entries: Mapping[Key, SendEntry]
                    ) -> Iterator[Candidate]:
        """The orders that may need something, each with its purchase and beacon."""
        waiting = [(o, t) for o, t in orders.values()
                   if any(_open(o, p, entries) for p in platforms)]
        beacons = self.inbox.beacons_for(o.number for o, _ in waiting)
        source = EventSource(self.cfg, self.store, self.now) if waiting else None
        for order, fallback in sorted(waiting, key=lambda x: (x[0].date or self.now, x[0].id)):
            when = order.date or fallback
            purchase, failure = None, ""
            try:
                assert source is not None
                purchase = source.purchase_of(order)
            except NotFound as exc:
                failure = str(exc)
            except (ValueError, TypeError) as exc:  # an event the tracking model refuses
                failure = f"the order cannot be made into a purchase: {exc}"
            yield Candidate(order, when, purchase, failure,
                            _beacon(beacons.get(order.number, ()), when))

    def _decide(self, c: Candidate, platform: Platform, entries: Mapping[Key, SendEntry]
                ) -> list[Action]:
        actions = decide(c, platform, entries, self.rules, self.now, self.new_client_id)
        if self.dry_run:
            part = self.report.platforms[platform]
            if actions:
                part.lines += [a.line for a in actions]
            else:
                why = reason_not_sent(c, self.rules)
                part.lines.append(f"{c.order.number} {platform.value}: "
                                  f"{why or 'nothing to do (sent or recorded before)'}")
        return actions

    # ------------------------------------------------------------ sending

    def _carry_out(self, platform: Platform, actions: list[Action]) -> None:
        part = self.report.platforms[platform]
        records = [a for a in actions if a.payload is None]
        sends = [a for a in actions if a.payload is not None]
        for a in records:
            part.counts[a.entry.state.value] += 1
        if self.recording:
            self.ledger.put(a.entry for a in records)
        if not sends:
            return
        if self.dry_run:
            part.counts["would send"] += len(sends)
            return
        try:
            if platform is Platform.GA4:
                self._ga4(part, sends)
            else:
                self._meta(part, sends)
        except PlatformStopped as exc:  # said once, by whoever reads the report
            part.message = mask(str(exc))

    def _budget(self) -> Budget:
        return Budget(self.budget_s, self.clock, self.pause)

    def _credential(self, name: str, what: str) -> str:
        value = self.env.get(name, "").strip()
        if not value:
            raise PlatformStopped(f"the environment variable {name} is not set ({what}); "
                                  "the orders stay pending")
        return value

    def _ga4(self, part: PlatformReport, sends: list[Action]) -> None:
        p = self.cfg.purchases
        secret = self._credential(p.ga4_api_secret_env, "the GA4 Measurement Protocol API "
                                                        "secret")
        client = Ga4Client(self.http, p.ga4_endpoint, self.cfg.tracking.ga4_id, secret,
                           secret_name=p.ga4_api_secret_env, budget=self._budget(),
                           retries=self.retries)
        if not self.validate:  # all pending in one transaction, each sent after its 2xx
            self.ledger.put(a.entry for a in sends)
        for action in sends:
            entry, payload = action.entry, action.payload
            assert payload is not None
            what = f"GA4 {entry.event} {entry.number}"
            if self.validate:
                messages = client.validate(payload, what)
                part.lines.append(f"{entry.number} ga4: " + ("valid" if not messages else
                                                            "INVALID: " + "; ".join(messages)))
                part.counts["valid" if not messages else "invalid"] += 1
                continue
            try:
                client.send(payload, what)
            except Refused as exc:
                self._record(part, [entry], SendState.FAILED, str(exc))
                continue
            self._record(part, [entry], SendState.SENT)

    def _meta(self, part: PlatformReport, sends: list[Action]) -> None:
        if self.validate:
            part.lines += [f"{a.entry.number} meta: not validated (Meta has no validation "
                           "server; use [purchases] meta_test_event_code)" for a in sends]
            return
        p = self.cfg.purchases
        token = self._credential(p.meta_access_token_env, "the Meta Conversions API token")
        client = MetaClient(self.http, p.meta_endpoint, p.meta_api_version,
                            self.cfg.tracking.meta_pixel_id, token,
                            token_name=p.meta_access_token_env, budget=self._budget(),
                            test_event_code=p.meta_test_event_code, retries=self.retries)
        for start in range(0, len(sends), META_BATCH):
            self._meta_batch(client, part, sends[start:start + META_BATCH])

    def _meta_batch(self, client: MetaClient, part: PlatformReport,
                    batch: list[Action]) -> None:
        entries = [a.entry for a in batch]
        self.ledger.put(entries)
        what = f"Meta Purchase {entries[0].number}" + (f" and {len(batch) - 1} more"
                                                       if len(batch) > 1 else "")
        try:
            received = client.send([a.payload for a in batch if a.payload is not None], what)
        except Refused as exc:
            if len(batch) == 1:
                self._record(part, entries, SendState.FAILED, str(exc))
                return
            for action in batch:  # find the event Meta refuses; the others go through
                self._meta_batch(client, part, [action])
            return
        if received != len(batch):
            log.warning("%s: Meta says it received %s of %d events", what, received, len(batch))
        self._record(part, entries, SendState.SENT)

    def _record(self, part: PlatformReport, entries: list[SendEntry], state: SendState,
                detail: str = "") -> None:
        done = [replace(e, state=state, detail=mask(detail)[:500],
                        updated_at=datetime.now(UTC)) for e in entries]
        self.ledger.put(done)
        label = state.value if entries[0].event == "purchase" else f"{entries[0].event} " \
                                                                      f"{state.value}"
        part.counts[label] += len(done)


# ---------------------------------------------------------------- helpers


def _open(order: Any, platform: Platform, entries: Mapping[Key, SendEntry]) -> bool:
    """Whether an order may still need something from `platform`: a purchase not sent
    or recorded final, or (GA4) a refund not yet sent of one that was."""
    purchase = entries.get((platform.value, order.id, "purchase"))
    if purchase is None or purchase.state not in FINAL_SEND_STATES:
        return True
    if platform is not Platform.GA4 or purchase.state is not SendState.SENT:
        return False
    refund = entries.get((platform.value, order.id, "refund"))
    return refund is None or refund.state is not SendState.SENT


def _beacon(rows: Iterable[Any], order_time: datetime | None) -> Beacon | None:
    """The first beacon from around the order's time (see BEACON_BEFORE/AFTER)."""
    for row in rows:
        if order_time is None or \
                order_time - BEACON_BEFORE <= row.received_at <= order_time + BEACON_AFTER:
            return Beacon.from_stored(row.order_number, row.received_at, row.data)
    return None

