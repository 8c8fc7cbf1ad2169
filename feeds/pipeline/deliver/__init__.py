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
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from feeds.config import Config, secret_from_env
from feeds.core.settings import ChannelSettings
from feeds.errors import ConfigError, FeedsError, NotFound
from feeds.log import add_secret
from feeds.pipeline.plan import FeedSpec, feed_specs
from feeds.storage.layout import Layout
from feeds.storage.ledger import Ledger, LedgerEntry, PushRun, SkuState, SqliteLedger
from feeds.storage.lock import held
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
    "plan_changes",
    "push",
    "register_pusher",
]


class PushError(FeedsError):
    """A push could not be completed (after retries); the ledger keeps what was acked."""


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

    def count(self, action: str, n: int = 1) -> None:
        if n:
            self.actions[action] = self.actions.get(action, 0) + n

    @property
    def sent_nothing(self) -> bool:
        return not any(self.actions.values())

    def summary(self) -> str:
        verb = "would send" if self.dry_run else "sent"
        done = ", ".join(f"{action} {n}" for action, n in sorted(self.actions.items()))
        line = f"{self.name}: {verb} {done or 'nothing (in step)'}"
        if not self.dry_run:
            line += f" in {self.requests} requests"
        if self.rejected:
            line += f"; {len(self.rejected)} rejected"
        if self.left_out:
            line += f"; {len(self.left_out)} left out by the rules"
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
         ledger: Ledger | None = None, dry_run: bool = False,
         env: Mapping[str, str] | None = None, now: datetime | None = None,
         sleep: Callable[[float], None] | None = None,
         echo: Callable[[str], None] = lambda _line: None) -> PushReport:
    """Push channel `name`'s last published file.

    :raises NotFound: an unknown channel, or one with no push delivery, or nothing
        published yet.
    :raises ConfigError: a credential missing from the environment.
    :raises LockBusy: another push of this channel is running.
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
    credentials = {} if dry_run else _credentials(delivery.credential_names(name), env)
    pusher = get_pusher(delivery.client or spec.channel.code)
    ledger = ledger or ledger_of(cfg)
    now = now or datetime.now(UTC)
    own_http = http is None
    http = http or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0),
                                follow_redirects=False, trust_env=True)
    document = layout.feeds / published.file
    ctx = PushContext(name=name, spec=spec, items=lambda: _items(spec, document),
                      left_out=dropped_items(layout.report(spec.stem)), http=http,
                      ledger=ledger, credentials=credentials, dry_run=dry_run, now=now,
                      sleep=sleep or time.sleep, echo=echo,
                      earlier=lambda skus: _earlier_items(spec, layout, skus))
    try:
        with held(layout, push_lock(name)):
            report = _run(pusher, ctx)
    finally:
        if own_http:
            http.close()
    return report


def check_status(cfg: Config, name: str, *, http: httpx.Client | None = None,
                 ledger: Ledger | None = None, env: Mapping[str, str] | None = None
                 ) -> PushStatus:
    """Ask the marketplace about pending SKUs (when credentials are set), then the
    ledger's view of channel `name`."""
    spec = _spec(cfg, name)
    delivery = spec.channel.delivery
    assert delivery is not None
    ledger = ledger or ledger_of(cfg)
    names = delivery.credential_names(name)
    source = os.environ if env is None else env
    if ledger.entries(name) and all(source.get(v) for v in names.values()):
        import time

        own_http = http is None
        http = http or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0),
                                    follow_redirects=False)
        layout = Layout(cfg.data_dir)
        published = layout.published_feed(spec.stem)
        document = layout.feeds / (published.file if published else spec.file)
        ctx = PushContext(name=name, spec=spec, items=lambda: _items(spec, document),
                          left_out={}, http=http, ledger=ledger,
                          credentials=_credentials(names, env), dry_run=False,
                          now=datetime.now(UTC), sleep=time.sleep, echo=lambda _l: None)
        try:
            with held(layout, push_lock(name)):
                get_pusher(delivery.client or spec.channel.code).check(ctx)
        finally:
            if own_http:
                http.close()
    return push_status(ledger, name)


def _run(pusher: Pusher, ctx: PushContext) -> PushReport:
    started = datetime.now(UTC)
    try:
        report = pusher.push(ctx)
    except FeedsError as exc:
        ctx.ledger.record_run(ctx.name, PushRun(started, datetime.now(UTC), False, ctx.dry_run,
                                                {}, str(exc)))
        raise
    counts = dict(report.actions)
    counts.update(rejected=len(report.rejected), left_out=len(report.left_out),
                  requests=report.requests)
    ctx.ledger.record_run(ctx.name, PushRun(started, datetime.now(UTC), True, ctx.dry_run,
                                            counts, report.message))
    return report


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
        add_secret(values[role])
    return values


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

    A SKU the ledger does not know is created; a pending one is retried (looked up
    first); a rejected one is sent again in full (its content may have been fixed).
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
        if entry.state is SkuState.PENDING:
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


def batched(items: list[Any], size: int) -> Iterator[list[Any]]:
    """`items` in lists of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------- where things stand


@dataclass(frozen=True)
class PushStatus:
    """What the ledger says of one pushed channel."""

    name: str
    by_state: Mapping[str, int]
    last_run: PushRun | None
    rejected: tuple[LedgerEntry, ...]
    pending: tuple[LedgerEntry, ...]

    def lines(self, limit: int = 50) -> list[str]:
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.by_state.items()))
        lines = [f"{self.name}: {states or 'nothing pushed yet'}"]
        run = self.last_run
        if run is not None:
            done = ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items()) if v)
            outcome = "ok" if run.ok else f"FAILED: {run.message}"
            lines.append(f"  last push {run.finished_at:%Y-%m-%d %H:%M} UTC: {outcome}"
                         + (f" ({done})" if done else ""))
        for entry in self.rejected[:limit]:
            lines.append(f"  rejected {entry.sku}: {'; '.join(entry.errors) or 'no reason given'}")
        if len(self.rejected) > limit:
            lines.append(f"  (and {len(self.rejected) - limit} more rejected)")
        return lines


def push_status(ledger: Ledger, name: str) -> PushStatus:
    entries = ledger.entries(name)
    by_state: dict[str, int] = {}
    for entry in entries.values():
        by_state[entry.state.value] = by_state.get(entry.state.value, 0) + 1
    ordered = sorted(entries.values(), key=lambda e: e.sku)
    return PushStatus(name, by_state, ledger.last_run(name),
                      tuple(e for e in ordered if e.state is SkuState.REJECTED),
                      tuple(e for e in ordered if e.state is SkuState.PENDING))


def pushed_channels(cfg: Config) -> list[str]:
    """The enabled channels that have a push delivery, by name."""
    return [spec.name for spec in feed_specs(cfg) if spec.channel.delivery is not None]


def ledger_of(cfg: Config) -> SqliteLedger:
    return SqliteLedger(Layout(cfg.data_dir).root / "state" / "ledger.sqlite3")
