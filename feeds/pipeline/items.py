"""One pass over the snapshot: each product derived once per distinct target, then
mapped, checked and (where its file is in pieces) rendered by every channel.

    stored row -> raw product (decoded once) -> Product per derivation (parse once)
        -> for every feed: sellable? filters? -> channel item -> rules -> errors drop it,
        warnings pass -> finished item (keys starting with `_` removed, limits applied)
        -> rendered text and ids (files in pieces) or the item itself (the others)

Targets equal in language, currency, pricing and VAT table share one derivation,
so Google, Meta and Criteo for the shop's own country parse each product once.
`PassWorker.run` turns any run of stored rows into one `FeedBatch` per feed, with
the counts *of those rows* (the caller adds them up); runs are independent, so the
build can split each block of rows between two processes (`feeds.pipeline.run`)
and `merge` the halves in order. Everything here pickles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from feeds.channels import Channel, ItemContext
from feeds.core.model import Availability, Category, Derived, Product
from feeds.core.settings import ChannelSettings
from feeds.core.validation import Checker, Severity, Violation, checker, has_error
from feeds.errors import BuildError
from feeds.storage.store import Store, decode
from feeds.vendre.parse import (
    DeriveContext,
    not_sellable_because,
    parse_product,
    with_descendants,
)
from feeds.vendre.prepared import load, micros_now, product

__all__ = ["BLOCK_PRODUCTS", "FeedBatch", "FeedJob", "PassJob", "PassWorker", "Row", "merge",
           "products_pass", "skip_reason", "store_blocks", "store_rows", "verdict"]

BLOCK_PRODUCTS = 250  # stored rows per block: small enough to keep memory flat

# A product as stored: its prepared form (`feeds.vendre.prepared`), or else its JSON and
# its variant parent's.
Row = tuple[bytes | None, bytes | None, bytes | None]


@dataclass(frozen=True)
class FeedJob:
    """What the pass needs to know of one feed file.

    `render_items` (a file in pieces, `feeds.formats.Pieces`) renders the finished
    items where they are made, and only their text and ids travel on; otherwise the
    items themselves go to the build's renderer.
    """

    stem: str
    channel: Channel
    settings: ChannelSettings
    derivations: tuple[tuple[str, int], ...]  # (target name, index into PassJob.derive)
    render_items: Callable[[Iterable[Mapping[str, Any]]], str] | None = None
    id_key: str = "id"


@dataclass(frozen=True)
class PassJob:
    """Everything one pass needs (all of it pickles, for a child process)."""

    store: Path
    derive: tuple[DeriveContext, ...]
    feeds: tuple[FeedJob, ...]
    categories: Mapping[int, Category]
    labels: Mapping[str, Mapping[str, str]]
    duplicate_ids: frozenset[str]
    default_brand: str
    now: Any
    # Per derivation, the index of its key among the snapshot's prepared forms' keys
    # (`Store.prepared_keys`); () when the pass derives every product from its JSON.
    prepared: tuple[int, ...] = ()
    # The snapshot's prepared keys those indices were taken from (checked again as the
    # pass reads: a sync in between may have filed the forms under other keys).
    prepared_keys: tuple[str, ...] = ()


@dataclass
class FeedBatch:
    """One feed's share of one run of products: the counts are that run's only.

    `items` are finished items; for a file in pieces they are already rendered:
    `text` (UTF-8) and `ids` instead. `failure` is why this file cannot be built
    (its renderer failed); the other files go on.
    """

    items: list[dict[str, Any]] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    products: int = 0
    dropped: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    text: bytes = b""
    ids: list[str] = field(default_factory=list)
    failure: str = ""


class _Feed:
    """A feed's fixed per-build values, computed once before the pass."""

    def __init__(self, job: FeedJob, pass_job: PassJob) -> None:
        self.channel = job.channel
        self.settings = job.settings
        self.derivations = job.derivations
        self.single = job.derivations[0] if len(job.derivations) == 1 else None
        self.render_items = job.render_items
        self.id_key = job.id_key
        self.check = checker(job.channel.all_rules)
        self.ctx = ItemContext(settings=job.settings, default_brand=pass_job.default_brand,
                               labels=pass_job.labels, categories=pass_job.categories,
                               now=pass_job.now)
        self.excluded_categories = with_descendants(job.settings.exclude_categories,
                                                    pass_job.categories)


def store_rows(job: PassJob) -> Iterator[Row]:
    """The snapshot's stored rows, in store order (one read transaction): prepared forms
    where they hold every derivation of the job, else the JSON."""
    store = Store(job.store)
    if job.prepared:
        return store.iter_prepared_rows(job.prepared_keys, sum(1 << n for n in job.prepared),
                                        micros_now(job.now))
    return ((None, raw, parent) for raw, parent in store.iter_product_rows())


def store_blocks(job: PassJob, size: int = BLOCK_PRODUCTS) -> Iterator[list[Row]]:
    """`store_rows`, `size` at a time."""
    rows = store_rows(job)
    while block := list(islice(rows, size)):
        yield block


class PassWorker:
    """The pass's work on runs of stored rows, in one process (`job` prepared once)."""

    def __init__(self, job: PassJob) -> None:
        self._job = job
        self._feeds = [_Feed(f, job) for f in job.feeds]
        self._parent: tuple[bytes | None, Any] = (None, None)

    def run(self, rows: Sequence[Row]) -> list[FeedBatch]:
        """One `FeedBatch` per feed of the job for `rows`, in their order."""
        job, feeds = self._job, self._feeds
        batch = [FeedBatch() for _ in feeds]
        work = list(zip(feeds, batch, strict=True))
        prepared = job.prepared
        for form, stored, stored_parent in rows:
            if form is not None:  # derived at sync (`feeds.vendre.prepared`)
                found = load(form)
                why = found[0]
            else:
                raw = decode(stored)
                parent = self._decoded_parent(stored_parent) if stored_parent else None
                why = not_sellable_because(raw, parent)
            if why:  # excluded from every feed, as `_one` would find out after parsing it
                for out in batch:
                    out.products += 1
                    out.excluded[why] += 1
                continue
            derived = [product(found[1 + n]) for n in prepared] if form is not None else \
                [parse_product(raw, ctx, parent) for ctx in job.derive]
            for feed, out in work:
                _one(feed, derived, job.duplicate_ids, out)
        for feed, out in work:
            if feed.render_items is not None:
                _render(feed, out)
        return batch

    def _decoded_parent(self, stored: bytes) -> Any:
        """A variant parent's object, decoded once for all its children in a row."""
        if stored != self._parent[0]:
            self._parent = (stored, decode(stored))
        return self._parent[1]


def _render(feed: _Feed, out: FeedBatch) -> None:
    """`out.items` rendered (the items themselves are not sent on)."""
    assert feed.render_items is not None
    key = feed.id_key
    try:
        out.text = feed.render_items(out.items).encode("utf-8")
    except BuildError as exc:
        out.failure = str(exc)
    out.ids = [str(item.get(key, "")) for item in out.items]
    out.items = []


def merge(parts: Sequence[list[FeedBatch]]) -> list[FeedBatch]:
    """Runs of `PassWorker.run` that follow each other, as one run."""
    if len(parts) == 1:
        return parts[0]
    merged = []
    for runs in zip(*parts, strict=True):
        whole = FeedBatch(text=b"".join(r.text for r in runs),
                          failure=next((r.failure for r in runs if r.failure), ""))
        for run in runs:
            whole.items += run.items
            whole.violations += run.violations
            whole.ids += run.ids
            whole.products += run.products
            whole.dropped += run.dropped
            whole.excluded.update(run.excluded)
        merged.append(whole)
    return merged


def products_pass(job: PassJob, block_products: int = BLOCK_PRODUCTS
                  ) -> Iterator[list[FeedBatch]]:
    """Batches of results, one `FeedBatch` per feed of `job.feeds`, in store order, all
    made in this process."""
    worker = PassWorker(job)
    for rows in store_blocks(job, block_products):
        yield worker.run(rows)


def _one(feed: _Feed, derived: Sequence[Product], duplicates: frozenset[str],
         out: FeedBatch) -> None:
    """Map and check one product for one feed, into `out`."""
    out.products += 1
    if feed.single is not None:  # a feed file: one target
        name, index = feed.single
        products = Derived({name: derived[index]})
    else:
        products = Derived({name: derived[index] for name, index in feed.derivations})
    product = products.primary
    why = skip_reason(product, feed.settings, feed.excluded_categories)
    if why:
        out.excluded[why] += 1
        return
    item = feed.channel.to_item(products, feed.ctx)
    found = product.violations if len(products) == 1 else _every_market(products)
    verdict(feed.channel, feed.check, duplicates, item, found, product.feed_id, out)


def _every_market(products: Derived) -> tuple[Violation, ...]:
    """A marketplace item's derivation violations: its first market's, plus the warnings
    of its other markets that the first lacks. Their `text_language_fallback` is left to
    the channel, whose own rules say what it made of a market without its language."""
    found = list(products.primary.violations)
    seen = {(v.rule, v.field, v.message) for v in found}
    for other in list(products.values())[1:]:
        for v in other.violations:
            key = (v.rule, v.field, v.message)
            if v.severity is Severity.WARNING and v.rule != "text_language_fallback" \
                    and key not in seen:
                seen.add(key)
                found.append(v)
    return tuple(found)


def verdict(channel: Channel, check: Checker, duplicates: frozenset[str],
            item: dict[str, Any], found: tuple[Violation, ...], item_id: str,
            out: FeedBatch) -> None:
    """Check one mapped item: its violations into `out`, and the finished item unless an
    error drops it. `found` are the violations deriving the product already gave."""
    violations = _channel_violations(item_id, found, item, check)
    if found:
        violations[:0] = found
    if item_id in duplicates:
        violations.append(Violation(Severity.ERROR, item_id, "id",
                                    "article number used by several products", "id_duplicate"))
    if violations:  # most items have none: no generator for `has_error`
        out.violations += violations
        if has_error(violations):
            out.dropped += 1
            return
    out.items.append(channel.finish(item))


def _channel_violations(item_id: str, found: tuple[Violation, ...], item: dict[str, Any],
                        check: Checker) -> list[Violation]:
    """The channel's rule violations, minus those that repeat an error the derivation
    already reported for the same field (an unknown tax class also leaves no price)."""
    violations = check(item_id, item)
    derived = {v.field for v in found if v.severity is Severity.ERROR}
    return [v for v in violations if v.field not in derived] if derived else violations


def skip_reason(product: Product, settings: ChannelSettings, categories: frozenset[int]) -> str:
    """Why a product is skipped, not an item of this feed ('' = it is one): not for sale,
    or left out by the channel's own filters (`categories`: exclude_categories with their
    subcategories)."""
    if not product.sellable:
        return product.not_sellable_because
    if categories and categories.intersection(product.category_ids):
        return "in exclude_categories"
    if settings.exclude_out_of_stock and product.availability is Availability.OUT_OF_STOCK:
        return "out of stock (exclude_out_of_stock)"
    price = product.current_price
    if settings.min_price is not None and price is not None and \
            price.amount < settings.min_price:
        return f"cheaper than min_price {settings.min_price}"
    return ""
