"""Delivery: the published file of a pushed channel, sent to its API.

A channel with a `Push` delivery (`feeds.core.outputs`) names a client: a
`Pusher` found as `PUSHER` in `feeds.pipeline.deliver.<client>`, or added with
`register_pusher()` (a test, a plugin). `push()` wires one run together:

    the last published file (validation and the drop guard stand in front of it)
    + credentials from the environment (never the config file, never logged)
    + an httpx client (injected by tests) + the ledger of what was acknowledged
    -> Pusher.push(ctx) -> a PushReport, recorded in the ledger

`plan_changes()` is the shared arithmetic of an incremental push: which SKUs are
new, which changed only in price, only in stock, or in content, and which are no
longer published.

Nothing is sent or lost silently: an article whose send no answer acknowledged in a
way the client can read (an error body with a 200, an answer in no known shape, one
that leaves it out, a report that cannot be read or never comes within
`report_timeout_hours`) is recorded `unconfirmed`, and the push ends with exit 1
naming how many (`PushUnconfirmed`). The next push confirms each one per SKU where the
marketplace can say (CDON's status by SKU, Fyndiq's article by SKU), else sends it
again in full (Amazon and Mirakl: the next feed's or import's report confirms it).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from feeds.config import Config, secret_from_env
from feeds.core.settings import ChannelSettings
from feeds.errors import ConfigError, FeedsError, LockBusy, NotFound, StoreError
from feeds.log import add_secret, add_secret_pair
from feeds.net import MIB
from feeds.pipeline.deliver.guards import (
    HELD,
    REMOVAL_FLOOR,
    RemovalRefused,
    ScrubbedLedger,
    account_of,
    describe,
    removal_check,
)
from feeds.pipeline.deliver.http import Limits, bounded_client
from feeds.pipeline.plan import FeedSpec, feed_specs
from feeds.storage.layout import Layout
from feeds.storage.ledger import (
    Account,
    Ledger,
    LedgerEntry,
    MemoryLedger,
    PushRun,
    SkuState,
    SqliteLedger,
)
from feeds.storage.lock import held, is_held
from feeds.storage.lock import push as push_lock
from feeds.storage.report import dropped_items

__all__ = [
    "ChangePlan",
    "Compact",
    "count_actions",
    "plan_published",
    "unchanged",
    "update_actions",
    "PushError",
    "PushStatus",
    "PushUnconfirmed",
    "RemovalRefused",
    "check_status",
    "ledger_of",
    "push_status",
    "pushed_channels",
    "ItemParts",
    "PushContext",
    "PushReport",
    "Pusher",
    "canonical",
    "get_pusher",
    "overdue",
    "report_timeout_s",
    "plan_changes",
    "push",
    "push_running",
    "register_credentials",
    "register_pusher",
]


class PushError(FeedsError):
    """A push could not be completed (after retries); the ledger keeps what was acked."""


class PushUnconfirmed(PushError):
    """A push ended, but the marketplace's answers left articles unconfirmed (or an
    answer could not be read): recorded as a failed run; the next push takes them up."""

    def __init__(self, report: PushReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass(frozen=True)
class PushContext:
    """What a pusher works with; every piece of I/O is injected here.

    `items()` reads the published file's items; `left_out` is what the last build's
    rules kept out of it (SKU -> the first error), so a pusher can pause those
    instead of deleting them. `earlier(skus)` finds the newest published version of
    items no longer in the file (in its history), e.g. to pause one with its last body.
    """

    name: str
    spec: FeedSpec
    items: Callable[[], Iterator[dict[str, Any]]]
    left_out: Mapping[str, str]
    http: httpx.Client
    ledger: Ledger
    credentials: Mapping[str, str]
    dry_run: bool
    now: datetime
    sleep: Callable[[float], None]
    echo: Callable[[str], None]
    earlier: Callable[[Collection[str]], dict[str, dict[str, Any]]] = lambda _skus: {}
    limits: Limits = field(default_factory=Limits)   # what `http.send` keeps to
    previous_run: PushRun | None = None  # the push before this one (this one is recorded)

    @property
    def settings(self) -> ChannelSettings:
        return self.spec.settings


@dataclass
class PushReport:
    """What one push did (or, in a dry run, would do), by action, plus what it left out."""

    name: str
    dry_run: bool = False
    actions: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)    # sku -> why
    rejected: dict[str, str] = field(default_factory=dict)    # sku -> the marketplace's words
    requests: int = 0
    message: str = ""
    # sku -> why, for the articles this push leaves unconfirmed (filled in at its end)
    unconfirmed: dict[str, str] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)  # answers that could not be read

    @property
    def confirmed(self) -> bool:
        """Whether every answer could be read and no article is left unconfirmed."""
        return not (self.unconfirmed or self.unread)

    def count(self, action: str, n: int = 1) -> None:
        if n:
            self.actions[action] = self.actions.get(action, 0) + n

    @property
    def sent_nothing(self) -> bool:
        return not any(self.actions.values())

    def summary(self) -> str:
        verb = "would send" if self.dry_run else "sent"
        done = ", ".join(f"{action} {n}" for action, n in sorted(self.actions.items()))
        if not done and not self.unconfirmed:
            line = f"{self.name}: nothing to send: the marketplace already holds this"
        else:
            # Nothing acknowledged is not "already holds this": the unconfirmed follow.
            line = f"{self.name}: {verb} {done or 'nothing acknowledged'}"
            if not self.dry_run:
                line += f" in {self.requests} requests"
        if self.rejected:
            line += f"; {len(self.rejected)} rejected"
        if self.left_out:
            line += f"; {len(self.left_out)} dropped by the rules"
        if self.unconfirmed:
            reasons = list(dict.fromkeys(self.unconfirmed.values()))
            why = "; ".join(reasons[:2]) + (f"; and {len(reasons) - 2} other reasons"
                                            if len(reasons) > 2 else "")
            line += (f"; {len(self.unconfirmed)} unconfirmed ({why}): the next push confirms "
                     "them or sends them again")
        line += "".join(f"; {note}" for note in self.unread)
        return line + (f"; {self.message}" if self.message else "")


class Pusher(Protocol):
    def push(self, ctx: PushContext) -> PushReport:
        """Send what changed since the ledger's acknowledgements; record the new ones."""

    def check(self, ctx: PushContext) -> None:
        """Ask the remote side about SKUs still pending and record its answers."""


# ---------------------------------------------------------------- the registry

_PUSHERS: dict[str, Pusher] = {}


def register_pusher(client: str, pusher: Pusher) -> Pusher:
    """Add (or replace) the pusher a `Push(client=...)` names."""
    _PUSHERS[client] = pusher
    return pusher


def get_pusher(client: str) -> Pusher:
    """The registered pusher, else `PUSHER` of the module `feeds.pipeline.deliver.<client>`."""
    if client in _PUSHERS:
        return _PUSHERS[client]
    try:
        module = importlib.import_module(f"{__name__}.{client}")
    except ModuleNotFoundError:
        raise NotFound(f"no push client {client!r}") from None
    pusher = getattr(module, "PUSHER", None)
    if pusher is None:
        raise NotFound(f"{module.__name__} defines no PUSHER")
    return pusher


# ---------------------------------------------------------------- one run


def push(cfg: Config, name: str, *, http: httpx.Client | None = None,
         ledger: Ledger | None = None, dry_run: bool = False, force: bool = False,
         env: Mapping[str, str] | None = None, now: datetime | None = None,
         sleep: Callable[[float], None] | None = None,
         echo: Callable[[str], None] = lambda _line: None) -> PushReport:
    """Push channel `name`'s last published file.

    Before anything is sent: the ledger is checked against the account (another account
    starts a fresh ledger, said in one line through `echo`), and the removal guard
    refuses a push that would remove too much of what is for sale (unless `force`; a
    dry run reports it). The run is recorded as running before its first request.

    :raises NotFound: an unknown channel, or one with no push delivery, or nothing
        published yet.
    :raises ConfigError: a credential missing from the environment.
    :raises LockBusy: another push of this channel is running.
    :raises RemovalRefused: the removal guard tripped (nothing was sent).
    :raises PushUnconfirmed: the push ended, but left articles unconfirmed or could not
        read an answer (its report is attached).
    :raises FeedsError: the push failed (what was acknowledged before stays recorded).
    """
    import time

    spec = _spec(cfg, name)
    delivery = spec.channel.delivery
    assert delivery is not None
    layout = Layout(cfg.data_dir)
    published = layout.published_feed(spec.stem)
    if published is None:
        raise NotFound(f"{name}: nothing is published yet; run `vendre-feeds build {name}`")
    names = delivery.credential_names(name)
    credentials = {} if dry_run else _credentials(names, env)
    pusher = get_pusher(delivery.client or spec.channel.code)
    stored = ScrubbedLedger(ledger or ledger_of(cfg), credentials.values())
    now = now or datetime.now(UTC)
    limits = _limits(name, spec.settings)
    own_http = http is None
    http = http or bounded_client(limits)
    document = layout.feeds / published.file
    try:
        with held(layout, push_lock(name)):
            notes: list[str] = []
            account = account_of(spec.settings, names.keys(),
                                 credentials or _present(names, env), since=now)
            planned = _with_account(stored, name, account, dry_run, notes, echo)
            _guard_removals(spec, document, planned, name, dry_run, force, notes)
            ctx = PushContext(name=name, spec=spec, items=lambda: _items(spec, document),
                              left_out=dropped_items(layout.report(spec.stem)), http=http,
                              ledger=planned, credentials=credentials, dry_run=dry_run,
                              now=now, sleep=limits.sleep(sleep or time.sleep), echo=echo,
                              earlier=lambda skus: _earlier_items(spec, layout, skus),
                              limits=limits)
            report = _run(pusher, ctx, notes)
    finally:
        if own_http:
            http.close()
    return report


def check_status(cfg: Config, name: str, *, http: httpx.Client | None = None,
                 ledger: Ledger | None = None, env: Mapping[str, str] | None = None
                 ) -> PushStatus:
    """Ask the marketplace about pending SKUs (when credentials are set and no push is
    running), then the ledger's view of channel `name`. Never waits for a running push:
    the ledger is read as it stands."""
    spec = _spec(cfg, name)
    delivery = spec.channel.delivery
    assert delivery is not None
    ledger = ledger or ledger_of(cfg)
    layout = Layout(cfg.data_dir)
    names = delivery.credential_names(name)
    source = os.environ if env is None else env
    running, note = push_running(cfg, name), ""
    if not running and ledger.entries(name) and all(source.get(v) for v in names.values()):
        credentials = _credentials(names, env)
        account, recorded = account_of(spec.settings, names.keys(), credentials), \
            ledger.account(name)
        if account is not None and recorded is not None and not recorded.same(account):
            note = (f"the ledger was made with another account ({describe(recorded)}) than "
                    f"the one configured ({describe(account)}): the next push starts a fresh "
                    "one")
        else:
            running = not _check(spec, name, layout, http,
                                 ScrubbedLedger(ledger, credentials.values()), credentials)
    return push_status(ledger, name, running=running, note=note)


def _check(spec: FeedSpec, name: str, layout: Layout, http: httpx.Client | None,
           ledger: Ledger, credentials: Mapping[str, str]) -> bool:
    """`Pusher.check` under the push lock; False when a push took the lock first."""
    import time

    limits = _limits(name, spec.settings)
    own_http = http is None
    http = http or bounded_client(limits)
    published = layout.published_feed(spec.stem)
    document = layout.feeds / (published.file if published else spec.file)
    ctx = PushContext(name=name, spec=spec, items=lambda: _items(spec, document),
                      left_out={}, http=http, ledger=ledger, credentials=credentials,
                      dry_run=False, now=datetime.now(UTC), sleep=limits.sleep(time.sleep),
                      echo=lambda _l: None, limits=limits)
    delivery = spec.channel.delivery
    assert delivery is not None
    try:
        with held(layout, push_lock(name)):
            get_pusher(delivery.client or spec.channel.code).check(ctx)
    except LockBusy:
        return False
    finally:
        if own_http:
            http.close()
    return True


def push_running(cfg: Config, name: str) -> bool:
    """Whether a push of channel `name` is running now (asked without waiting)."""
    return is_held(Layout(cfg.data_dir), push_lock(name))


def _limits(name: str, settings: Any) -> Limits:
    """The bounds of one push, from `[channels.<name>]` (defaults for a plugin channel
    whose settings do not have them)."""
    import time

    minutes = float(getattr(settings, "push_deadline_minutes", 60.0))
    return Limits(channel=name, timeout_s=float(getattr(settings, "timeout_s", 60.0)),
                  deadline=time.monotonic() + minutes * 60,
                  max_response_bytes=int(getattr(settings, "max_response_mb", 16)) * MIB)


def _with_account(ledger: Ledger, name: str, account: Account | None, dry_run: bool,
                  notes: list[str], echo: Callable[[str], None]) -> Ledger:
    """The ledger to plan with: the recorded one when it belongs to `account` (a ledger
    made before accounts were recorded is taken to), else a fresh one."""
    if account is None:
        return ledger
    recorded = ledger.account(name)
    if recorded is not None and not recorded.same(account):
        line = (f"{name}: the ledger was made with another account ({describe(recorded)}); "
                f"{'a push starts' if dry_run else 'starting'} a fresh one for "
                f"{describe(account)}, which looks every article up before creating it")
        echo(line)
        notes.append("a fresh ledger for another account")
        if dry_run:
            return ScrubbedLedger(MemoryLedger())
        ledger.set_account(name, account, fresh=True)
    elif recorded is None and not dry_run:
        ledger.set_account(name, account, fresh=False)
    return ledger


def _guard_removals(spec: FeedSpec, document: Path, ledger: Ledger, name: str,
                    dry_run: bool, force: bool, notes: list[str]) -> None:
    """Refuse (RemovalRefused, recorded as a failed run) a push that would remove more
    than `max_removal_percent` of the articles for sale; a dry run or a forced push
    says so in its report."""
    entries = ledger.entries(name)
    if sum(e.state in HELD for e in entries.values()) <= REMOVAL_FLOOR:
        return  # cannot trip: spare reading the file
    removal = removal_check(entries, _published_skus(spec, document),
                            int(getattr(spec.settings, "max_removal_percent", 20)))
    if not removal.trips:
        return
    if dry_run:
        notes.append(f"a push would be refused: {removal.describe(name)}; `vendre-feeds "
                     f"push {name} --force` sends it")
    elif force:
        notes.append(f"forced: {removal.describe(name)}")
    else:
        message = (f"{name}: refused, nothing was sent: {removal.describe(name)}; check the "
                   f"published file, then `vendre-feeds push {name} --force` sends it")
        moment = datetime.now(UTC)
        ledger.record_run(name, PushRun(moment, moment, False, counts={"requests": 0},
                                        message=message))
        raise RemovalRefused(message)


def _run(pusher: Pusher, ctx: PushContext, notes: Iterable[str] = ()) -> PushReport:
    """`pusher.push(ctx)`, recorded: as running before its first request (what it sends
    updated as it goes), then how it ended. A push that leaves articles unconfirmed, or
    could not read an answer, is recorded as failed and raises `PushUnconfirmed`."""
    started = datetime.now(UTC)
    run_id = None
    ctx = replace(ctx, previous_run=ctx.ledger.last_run(ctx.name))
    if not ctx.dry_run:
        run_id = ctx.ledger.start_run(ctx.name, started)
        ctx.limits.on_request = _progress(ctx.ledger, ctx.name, run_id)

    def failed(message: str) -> None:
        ctx.ledger.record_run(ctx.name, PushRun(started, datetime.now(UTC), False,
                                                ctx.dry_run, {"requests": ctx.limits.requests},
                                                message), run_id)

    try:
        report = pusher.push(ctx)
    except FeedsError as exc:
        failed(str(exc))
        raise
    except BaseException as exc:  # Ctrl-C, or a bug: still not "interrupted" unseen
        failed(f"stopped by {type(exc).__name__}")
        raise
    if not ctx.dry_run:
        report.unconfirmed = {e.sku: e.errors[0] if e.errors else "no answer read"
                              for e in ctx.ledger.entries(ctx.name).values()
                              if e.state is SkuState.UNCONFIRMED}
    counts = dict(report.actions)
    counts.update(rejected=len(report.rejected), left_out=len(report.left_out),
                  unconfirmed=len(report.unconfirmed), requests=report.requests)
    report.message = "; ".join(filter(None, [*notes, report.message]))
    ok = ctx.dry_run or report.confirmed
    ctx.ledger.record_run(ctx.name, PushRun(started, datetime.now(UTC), ok, ctx.dry_run,
                                            counts, report.message if ok else report.summary()),
                          run_id)
    if not ok:
        raise PushUnconfirmed(report)
    return report


def _progress(ledger: Ledger, name: str, run_id: int) -> Callable[[int], None]:
    """Records the requests a running push has sent: the first at once, then at most once
    a second (a push killed later shows at least that many)."""
    import time

    last = [0.0]

    def update(requests: int) -> None:
        moment = time.monotonic()
        if requests == 1 or moment - last[0] >= 1.0:
            last[0] = moment
            try:
                ledger.run_progress(name, run_id, {"requests": requests})
            except StoreError:
                pass  # a progress note never stops a push; its end is recorded anyway

    return update


def _published_skus(spec: FeedSpec, document: Path) -> set[str]:
    from feeds.formats import id_field

    key = id_field(spec.channel.format)
    return {str(item.get(key, "")) for item in _items(spec, document)}


def _spec(cfg: Config, name: str) -> FeedSpec:
    if name not in cfg.channels:
        raise NotFound(f"unknown channel {name!r} (channels: {', '.join(cfg.channels)})")
    specs = [s for s in feed_specs(cfg, [name])]
    if not specs or specs[0].channel.delivery is None:
        raise NotFound(f"{name}: this channel is published as a feed, not pushed")
    return specs[0]


def _credentials(names: Mapping[str, str], env: Mapping[str, str] | None) -> dict[str, str]:
    values = {}
    for role, variable in names.items():
        try:
            values[role] = secret_from_env(variable, f"the {role.replace('_', ' ')}", env)
        except ConfigError:
            wanted = " and ".join(names.values())
            raise ConfigError(f"the environment variable {variable} is not set (this push "
                              f"needs {wanted})") from None
    _register(values)
    return values


def _present(names: Mapping[str, str], env: Mapping[str, str] | None) -> dict[str, str]:
    """The credentials that are set (a dry run needs none, but names its account)."""
    source = os.environ if env is None else env
    values = {role: source[v].strip() for role, v in names.items() if source.get(v, "").strip()}
    _register(values)
    return values


def _register(values: Mapping[str, str]) -> None:
    """Mask every credential in every form, and each pair as HTTP Basic auth sends it."""
    add_secret(*values.values())
    for user in values.values():
        for password in values.values():
            if user is not password:
                add_secret_pair(user, password)


def register_credentials(cfg: Config, env: Mapping[str, str] | None = None) -> None:
    """Mask the credentials of every pushed channel that are set in the environment (the
    status page shows what marketplaces said)."""
    for spec in feed_specs(cfg):
        if spec.channel.delivery is not None:
            _present(spec.channel.delivery.credential_names(spec.name), env)


def _items(spec: FeedSpec, document: Path) -> Iterator[dict[str, Any]]:
    from feeds.formats import handler

    fmt = handler(spec.channel.format, None)
    with document.open("rb") as fh:
        yield from fmt.items(fh)  # type: ignore[attr-defined]


def _earlier_items(spec: FeedSpec, layout: Layout, skus: Collection[str]
                   ) -> dict[str, dict[str, Any]]:
    """SKU -> its item in the newest published version that still holds it (history is
    read newest first, and only until every SKU is found)."""
    import gzip

    from feeds.formats import handler, id_field
    from feeds.pipeline.publish import history_versions

    wanted, found = set(skus), {}
    fmt, key = handler(spec.channel.format, None), id_field(spec.channel.format)
    for path in reversed(history_versions(layout, spec.stem)):
        if not wanted:
            break
        try:
            with gzip.open(path, "rb") as fh:
                for item in fmt.items(fh):  # type: ignore[attr-defined]
                    sku = str(item.get(key, ""))
                    if sku in wanted:
                        found[sku] = item
                        wanted.discard(sku)
                        if not wanted:
                            break
        except (OSError, EOFError, FeedsError):
            continue  # a damaged version: look further back
    return found


# ---------------------------------------------------------------- what changed


def canonical(value: Any) -> str:
    """Stable JSON text of a value (sorted keys): what a ledger compares."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class ItemParts:
    """The three parts of an item a push can update on their own."""

    price: str
    quantity: int | None
    content: str


def unchanged(parts: ItemParts, entry: LedgerEntry) -> bool:
    """Whether `parts` are what the ledger recorded for `entry` (sent, or refused)."""
    return (parts.content, parts.price, parts.quantity) == \
        (entry.content_hash, entry.price, entry.quantity)


@dataclass
class ChangePlan:
    """What an incremental push must do, by SKU (items are the published ones)."""

    create: list[dict[str, Any]] = field(default_factory=list)
    retry: list[dict[str, Any]] = field(default_factory=list)   # pending: look up, then adopt
    content: list[dict[str, Any]] = field(default_factory=list)
    price: list[dict[str, Any]] = field(default_factory=list)
    quantity: list[dict[str, Any]] = field(default_factory=list)
    removed: list[LedgerEntry] = field(default_factory=list)
    unchanged: int = 0


def plan_changes(items: Iterable[dict[str, Any]], entries: Mapping[str, LedgerEntry],
                 parts: Callable[[dict[str, Any]], ItemParts], sku_of: Callable[[dict], str],
                 ) -> ChangePlan:
    """Compare the published items with the ledger.

    A SKU the ledger does not know is created; a pending or unconfirmed one is retried
    (the caller looks it up first where the marketplace can say, else sends it again in
    full: no earlier state hides a change); a rejected one is sent again in full (its
    content may have been fixed).
    For a known SKU, a content change is one update, and price and stock changes
    are their own updates. SKUs the ledger holds but the file no longer does are
    `removed` (deleted or paused by the caller's policy).
    """
    plan = ChangePlan()
    seen: set[str] = set()
    for item in items:
        sku = sku_of(item)
        seen.add(sku)
        entry = entries.get(sku)
        if entry is None or entry.state is SkuState.DELETED:
            plan.create.append(item)
            continue
        if entry.state in (SkuState.PENDING, SkuState.UNCONFIRMED):
            plan.retry.append(item)
            continue
        now = parts(item)
        changed = False
        if entry.state is SkuState.REJECTED or now.content != entry.content_hash or \
                entry.state is SkuState.PAUSED:
            plan.content.append(item)
            changed = True
        if now.price != entry.price:
            plan.price.append(item)
            changed = True
        if now.quantity != entry.quantity:
            plan.quantity.append(item)
            changed = True
        plan.unchanged += not changed
    plan.removed = [e for sku, e in entries.items()
                    if sku not in seen and e.state not in (SkuState.DELETED,)]
    return plan


@dataclass(frozen=True)
class Compact:
    """What a plan needs of one published item (not the item itself)."""

    sku: str
    parts: ItemParts


def plan_published(ctx: PushContext, entries: Mapping[str, LedgerEntry],
                   parts_of: Callable[[dict[str, Any]], ItemParts],
                   skip: set[str] | frozenset[str] = frozenset()) -> ChangePlan:
    """`plan_changes` over the published items, each reduced to its SKU and parts (so a
    100,000-item file is never held whole); SKUs in `skip` are left out on both sides."""
    compact = (Compact(sku, parts_of(item)) for item in ctx.items()
               if (sku := str(item.get("sku", ""))) not in skip)
    if skip:
        entries = {sku: e for sku, e in entries.items() if sku not in skip}
    return plan_changes(compact, entries, lambda c: c.parts, lambda c: c.sku)


def update_actions(plan: ChangePlan) -> dict[str, str]:
    """SKU -> "create", "update", "price", "stock" or "price+stock" for the published
    items that changed (a create or full update carries the price and the stock too)."""
    decisions: dict[str, str] = {}
    for action, group in (("create", plan.create), ("update", plan.retry),
                          ("update", plan.content)):
        for c in group:
            decisions[c.sku] = action
    full = set(decisions)
    for c in plan.price:
        if c.sku not in full:
            decisions[c.sku] = "price"
    for c in plan.quantity:
        if c.sku not in full:
            decisions[c.sku] = "price+stock" if decisions.get(c.sku) == "price" else "stock"
    return decisions


def count_actions(decisions: Mapping[str, str], report: PushReport) -> None:
    """Count each decided action (and each part of "price+stock") into `report`."""
    for action in decisions.values():
        for part in action.split("+"):
            report.count(part)


def report_timeout_s(ctx: PushContext) -> float:
    """`[channels.<name>] report_timeout_hours`, in seconds (24 hours for a plugin channel
    whose settings do not have it)."""
    return float(getattr(ctx.settings, "report_timeout_hours", 24.0)) * 3600


def overdue(ctx: PushContext, entry: LedgerEntry) -> bool:
    """Whether `entry` was sent more than `report_timeout_hours` before this push began
    (its feed, import or batch has had time enough to be reported on)."""
    return entry.updated_at is not None and \
        ctx.now - entry.updated_at > timedelta(seconds=report_timeout_s(ctx))


def batched(items: list[Any], size: int) -> Iterator[list[Any]]:
    """`items` in lists of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------- where things stand


@dataclass(frozen=True)
class PushStatus:
    """What the ledger says of one pushed channel (and whether a push is running)."""

    name: str
    by_state: Mapping[str, int]
    last_run: PushRun | None
    rejected: tuple[LedgerEntry, ...]
    pending: tuple[LedgerEntry, ...]
    running: bool = False
    note: str = ""
    unconfirmed: tuple[LedgerEntry, ...] = ()

    @property
    def interrupted(self) -> bool:
        """The last push never recorded its end, and none is running."""
        return self.last_run is not None and not self.last_run.ended and not self.running

    def lines(self, limit: int = 50) -> list[str]:
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.by_state.items()))
        lines = [f"{self.name}: {states or 'nothing pushed yet'}"]
        run = self.last_run
        if run is not None:
            done = ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items()) if v)
            if run.finished_at is not None:
                outcome = "ok" if run.ok else f"FAILED: {run.message}"
                lines.append(f"  last push {run.finished_at:%Y-%m-%d %H:%M} UTC: {outcome}"
                             + (f" ({done})" if done else ""))
            elif self.running:
                lines.append(f"  a push is running, since {run.started_at:%Y-%m-%d %H:%M} UTC"
                             + (f" ({done} so far)" if done else ""))
            else:
                sent = f"it had sent {done}" if done else "before its first request"
                lines.append(f"  last push {run.started_at:%Y-%m-%d %H:%M} UTC: INTERRUPTED, "
                             f"it never recorded its end ({sent}); the next push looks up "
                             "what it left pending")
        if self.running and (run is None or run.finished_at is not None):
            lines.append("  a push is running")
        if self.note:
            lines.append(f"  {self.note}")
        lines += _listed("rejected", self.rejected, limit, "no reason given")
        lines += _listed("unconfirmed", self.unconfirmed, limit, "no answer read")
        if self.unconfirmed:
            lines.append("  the next push confirms the unconfirmed ones or sends them again")
        return lines


def _listed(word: str, entries: tuple[LedgerEntry, ...], limit: int, silent: str
            ) -> list[str]:
    """One line per entry, `word sku: its messages`, at most `limit`, then how many more."""
    lines = [f"  {word} {e.sku}: {'; '.join(e.errors) or silent}" for e in entries[:limit]]
    if len(entries) > limit:
        lines.append(f"  (and {len(entries) - limit} more {word})")
    return lines


def push_status(ledger: Ledger, name: str, *, running: bool = False, note: str = ""
                ) -> PushStatus:
    entries = ledger.entries(name)
    by_state: dict[str, int] = {}
    for entry in entries.values():
        by_state[entry.state.value] = by_state.get(entry.state.value, 0) + 1
    ordered = sorted(entries.values(), key=lambda e: e.sku)
    return PushStatus(name, by_state, ledger.last_run(name),
                      tuple(e for e in ordered if e.state is SkuState.REJECTED),
                      tuple(e for e in ordered if e.state is SkuState.PENDING), running, note,
                      tuple(e for e in ordered if e.state is SkuState.UNCONFIRMED))


def pushed_channels(cfg: Config) -> list[str]:
    """The enabled channels that have a push delivery, by name."""
    return [spec.name for spec in feed_specs(cfg) if spec.channel.delivery is not None]


def ledger_of(cfg: Config) -> SqliteLedger:
    return SqliteLedger(Layout(cfg.data_dir).root / "state" / "ledger.sqlite3")
