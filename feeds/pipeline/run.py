"""`vendre-feeds build` and `validate`: the store -> checked, published feed files.

For every feed file (a channel x target), streaming from the store:

    raw product -> Product (parse) -> sellable? filters? -> channel item -> rules
        -> errors drop the item, warnings pass -> template -> temporary file
    temporary file -> lxml parse-back (same items, same ids, well-formed)
        -> drop guard -> atomic publish (+ .gz, state, history) -> report

Memory stays flat: one product at a time, violations streamed to the report.
A failure of one feed leaves its last published file in place and does not
stop the others.

From `CHILD_MIN_PRODUCTS` products on, the first line (store to finished
items) runs in a child process, streamed here in batches, while this process
renders, writes, parses back and publishes: two cores instead of one
(`feeds.pipeline.producer` says what crosses and how failures travel). The output is
the same byte for byte.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import jinja2

from feeds.channels import ItemContext, apply_extra, get_channel
from feeds.config import ChannelSettings, Config, Target
from feeds.core.model import Availability, Product
from feeds.core.validation import Severity, Violation, check, has_error
from feeds.errors import BuildError, FeedInvalid, FeedsError, StoreError
from feeds.formats.rss_xml import IdDigest, check_feed
from feeds.formats.templates import make_env
from feeds.pipeline.plan import FeedSpec, SharedInputs, derive_context, feed_specs, shared_inputs
from feeds.pipeline.producer import Send, produced
from feeds.pipeline.publish import HistoryPolicy, drop_percent, publish, temp_file
from feeds.pipeline.sink import FeedSink, Written
from feeds.progress import Progress, make_progress
from feeds.storage.feed_ids import FeedIds
from feeds.storage.layout import Layout, PublishedFeed
from feeds.storage.lock import hold
from feeds.storage.report import Counts, ReportWriter
from feeds.storage.store import Store
from feeds.vendre.parse import parse_product, with_descendants

__all__ = ["FeedResult", "FeedSpec", "build_feeds", "feed_specs", "shared_inputs"]

log = logging.getLogger("feeds.pipeline.run")


@dataclass(frozen=True)
class FeedResult:
    """What happened to one feed file."""

    stem: str
    channel: str
    published: bool
    reason: str
    counts: Counts
    previous_items: int | None
    first_violations: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reason


# ---------------------------------------------------------------- the build


def build_feeds(cfg: Config, *, codes: Sequence[str] = (), force: bool = False,
                publish_feeds: bool = True, now: datetime | None = None,
                progress: Progress | None = None, keep_first: int = 0) -> list[FeedResult]:
    """Build (and unless `publish_feeds` is False, publish) the feeds; one result each.

    :raises StoreError: when there is no snapshot to build from.
    :raises LockBusy: when another build runs on the same data dir.
    """
    now = now or datetime.now(UTC)
    progress = progress or make_progress(quiet=True)
    layout = Layout(cfg.data_dir)
    store = Store(layout.store)
    specs = feed_specs(cfg, codes)
    if store.last_good_sync() is None:
        raise StoreError("the store holds no snapshot yet: run `vendre-feeds sync` first")
    with hold(layout.lock("build"), "build"):
        inputs = shared_inputs(cfg, store, now)
        env = make_env(cfg.build.templates_dir or None)
        total = store.counts()["products"]
        return [_build_one(cfg, spec, store, inputs, env, layout, force=force,
                           publish_feeds=publish_feeds, progress=progress, total=total,
                           keep_first=keep_first) for spec in specs]


def _build_one(cfg: Config, spec: FeedSpec, store: Store, inputs: SharedInputs,
               env: jinja2.Environment, layout: Layout, *, force: bool, publish_feeds: bool,
               progress: Progress, total: int, keep_first: int) -> FeedResult:
    counts = Counts()
    report = ReportWriter(layout.report(spec.stem) if publish_feeds else None, keep_first)
    previous = layout.published_feed(spec.stem)
    step = progress.step(spec.stem, total=total, unit="products")
    reason = ""
    try:
        produce = _items if total < CHILD_MIN_PRODUCTS else _items_from_child
        with temp_file(layout.feeds, spec.file) as rendered, \
                temp_file(layout.feeds, f"{spec.file}.gz") as rendered_gz, \
                closing(FeedIds(layout).recorder(spec.stem)) as recorder, \
                closing(produce(cfg, spec, store, inputs, report, counts, step)) as items:
            digest, written = _render(spec, env, items, rendered, rendered_gz, cfg,
                                      recorder.add)
            _check(spec, rendered, digest)
            counts.items = digest.count
            reason = _drop_guard(cfg, spec, previous, counts.items, force)
            if publish_feeds and not reason:
                state = _state(spec, counts.items, inputs.now, written)
                publish(rendered, rendered_gz, layout, state,
                        HistoryPolicy(cfg.build.history_versions,
                                      cfg.build.history_max_mb * 1024 * 1024))
                recorder.commit()  # the ids events may name are now the live feed's
    except FeedsError as exc:
        reason = str(exc)
    except BaseException:
        report.discard()
        raise
    published = publish_feeds and not reason
    step.close(_summary_line(counts, published, reason, publish_feeds))
    report.finish({"feed": spec.stem, "channel": spec.channel.code,
                   "built_at": inputs.now.isoformat(), "published": published,
                   "reason": reason}, counts)
    return FeedResult(spec.stem, spec.channel.code, published, reason, counts,
                      previous.items if previous else None, tuple(report.first))


def _summary_line(counts: Counts, published: bool, reason: str, publishing: bool) -> str:
    verb = "published" if published else "checked" if not publishing and not reason else \
        "NOT published"
    line = f"{counts.items} items {verb}, {counts.dropped} dropped, " \
           f"{sum(counts.warnings.values())} warnings"
    return f"{line}: {reason}" if reason else line


def _render(spec: FeedSpec, env: jinja2.Environment, items: Iterator[FeedItem],
            target: Path, target_gz: Path, cfg: Config, on_id: Callable[[str], None]
            ) -> tuple[IdDigest, Written]:
    """Stream the template's output for `items` into `target` (and its gzip twin), passing
    each item's id to `on_id`; return the id digest of the rendered items and what was
    written."""
    digest = IdDigest()

    def counted() -> Iterator[Any]:
        for item in items:
            digest.add(item.id)
            on_id(item.id)
            yield item

    try:
        template = env.get_template(spec.channel.template)
        chunks = template.generate(feed=_feed_meta(cfg, spec), items=counted())
        with FeedSink(target, target_gz) as sink:
            # Thousands of small template chunks: joined into one write per batch.
            while batch := list(islice(chunks, 4096)):
                sink.write("".join(batch))
    except jinja2.TemplateError as exc:
        where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        raise BuildError(f"template {spec.channel.template}{where}: {exc.message}") from None
    assert sink.written is not None
    return digest, sink.written


def _feed_meta(cfg: Config, spec: FeedSpec) -> dict[str, str]:
    shop = cfg.shop.name or cfg.shop.base_url
    return {"title": f"{shop} - {spec.channel.title}", "link": cfg.shop.base_url,
            "description": f"{shop} products for {spec.channel.title} "
                           f"({spec.target.country}, {spec.target.currency})",
            "country": spec.target.country, "language": spec.target.language,
            "currency": spec.target.currency}


def _check(spec: FeedSpec, rendered: Path, digest: IdDigest) -> None:
    # In the main thread on purpose: lxml trees must not cross threads (a tree built in
    # the writer thread and collected in this one aborts the interpreter).
    parsed = check_feed(rendered, item_tag=spec.channel.item_tag, id_tag=spec.channel.id_tag,
                        namespaces=spec.channel.namespaces)
    if parsed.items != digest.count or parsed.digest != digest.hexdigest():
        raise FeedInvalid(f"{spec.file}: the output holds {parsed.items} items but "
                          f"{digest.count} were rendered, or their ids differ (check the "
                          "template's item loop)")


def _drop_guard(cfg: Config, spec: FeedSpec, previous: PublishedFeed | None, items: int,
                force: bool) -> str:
    limit = spec.settings.max_drop_percent
    limit = cfg.build.max_drop_percent if limit is None else limit
    fell = drop_percent(previous.items if previous else 0, items)
    if force or fell <= limit:
        return ""
    return (f"drop guard: {items} items against {previous.items if previous else 0} "
            f"published ({fell:.0f}% fewer, limit {limit}%); the old feed stays; "
            "use --force if this is intended")


def _state(spec: FeedSpec, items: int, now: datetime, written: Written) -> PublishedFeed:
    return PublishedFeed(stem=spec.stem, channel=spec.channel.code, file=spec.file,
                         content_type=spec.channel.content_type, items=items,
                         published_at=now, bytes=written.bytes, sha256=written.sha256,
                         country=spec.target.country, language=spec.target.language,
                         currency=spec.target.currency)


# ---------------------------------------------------------------- items


class FeedItem:
    """An item's fields as attributes: Jinja reads `item.title` by getattr first, and a
    dict would make every field lookup fail that getattr (an exception) before `[]`."""

    __slots__ = ("__dict__",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__ = fields


def _items(cfg: Config, spec: FeedSpec, store: Store, inputs: SharedInputs,
           report: ReportWriter, counts: Counts, step: Any) -> Iterator[FeedItem]:
    """The checked, finished items of one feed, streamed from the store."""
    done = 0
    for violations, item in _checked(cfg, spec, store, inputs, counts):
        if violations:
            report.add(violations, counts)
        if counts.products - done >= 1000:
            step.advance(counts.products - done)
            done = counts.products
        if item is not None:
            yield FeedItem(item)
    step.advance(counts.products - done)


def _checked(cfg: Config, spec: FeedSpec, store: Store, inputs: SharedInputs, counts: Counts
             ) -> Iterator[tuple[list[Violation], dict[str, Any] | None]]:
    """For each product that is not excluded: its violations and its finished item (None
    when an error drops it). Counts products, exclusions and drops, not violations."""
    derive = derive_context(cfg, spec.target, inputs.categories, inputs.now)
    item_ctx = ItemContext(default_brand=cfg.shop.default_brand, labels=inputs.labels)
    excluded_categories = with_descendants(spec.settings.exclude_categories, inputs.categories)
    rules = spec.channel.all_rules
    for raw, parent in store.iter_products():
        counts.products += 1
        product = parse_product(raw, derive, parent)
        why = _excluded(product, spec.settings, excluded_categories)
        if why:
            counts.excluded[why] += 1
            continue
        item = apply_extra(spec.channel.to_item(product, item_ctx), spec.settings.extra)
        violations = [*product.violations, *_channel_violations(product, item, rules)]
        if product.feed_id in inputs.duplicate_ids:
            violations.append(Violation(Severity.ERROR, product.feed_id, "id",
                                        "article number used by several products", "id_duplicate"))
        if has_error(violations):
            counts.dropped += 1
            yield violations, None
        else:
            yield violations, spec.channel.finish(item)


# ---------------------------------------------------------------- items from a child process

# From this many products on, a feed's products are read and checked in a child process
# while this one renders (see feeds.pipeline.producer). The child's start-up (a fresh interpreter
# importing the build) costs about 0.3 s and the second core saves about a third of
# 150 us a product: measured even at 5,000 products, 20 % faster at 10,000.
CHILD_MIN_PRODUCTS = 10_000
_BATCH = 500  # items and violations per message to the parent


@dataclass(frozen=True)
class _Job:
    """What the child needs to check one feed's products (all of it pickles)."""

    cfg: Config
    channel: str
    settings: ChannelSettings
    target: Target
    store: Path
    inputs: SharedInputs


def _produce(job: _Job, send: Send) -> None:
    """In the child: send (finished items, violations, counts so far) in batches."""
    spec = FeedSpec(get_channel(job.channel), job.settings, job.target)
    counts = Counts()
    items: list[dict[str, Any]] = []
    violations: list[Violation] = []
    for found, item in _checked(job.cfg, spec, Store(job.store), job.inputs, counts):
        violations += found
        if item is not None:
            items.append(item)
        if len(items) + len(violations) >= _BATCH:
            send((items, violations, counts))
            items, violations = [], []
    send((items, violations, counts))


def _items_from_child(cfg: Config, spec: FeedSpec, store: Store, inputs: SharedInputs,
                      report: ReportWriter, counts: Counts, step: Any) -> Iterator[FeedItem]:
    """`_items` with the products checked by `_produce` in a child process. The report
    and its violation counts stay in this process; the child counts the products."""
    job = _Job(cfg, spec.channel.code, spec.settings, spec.target, store.path, inputs)
    with closing(produced(_produce, job)) as batches:
        for items, violations, theirs in batches:
            report.add(violations, counts)
            step.advance(theirs.products - counts.products)
            counts.products, counts.dropped = theirs.products, theirs.dropped
            counts.excluded = theirs.excluded
            for item in items:
                yield FeedItem(item)


def _channel_violations(product: Product, item: dict[str, Any], rules: Sequence[Any]
                        ) -> list[Violation]:
    """The channel's rule violations, minus those that repeat an error the derivation
    already reported for the same field (an unknown tax class also leaves no price)."""
    found = check(product.feed_id, item, rules)
    derived = {v.field for v in product.violations if v.severity is Severity.ERROR}
    return [v for v in found if v.field not in derived] if derived else found


def _excluded(product: Product, settings: ChannelSettings, categories: frozenset[int]) -> str:
    """Why a product is not an item of this feed ('' = it is one)."""
    if not product.sellable:
        return product.not_sellable_because
    if categories and categories.intersection(product.category_ids):
        return "excluded category"
    if settings.exclude_out_of_stock and product.availability is Availability.OUT_OF_STOCK:
        return "out of stock (excluded)"
    price = product.current_price
    if settings.min_price is not None and price is not None and \
            price.amount < settings.min_price:
        return f"cheaper than min_price {settings.min_price}"
    return ""
