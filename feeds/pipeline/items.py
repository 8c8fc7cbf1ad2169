"""One pass over the snapshot: each product derived once per distinct target, then
mapped and checked by every channel of the build.

    raw product -> Product per derivation (parse once) -> for every feed:
        sellable? filters? -> channel item -> rules -> errors drop it, warnings pass
        -> finished item (keys starting with `_` removed, limits applied)

Targets equal in language, currency, pricing and VAT table share one derivation,
so Google, Meta and Criteo for the shop's own country parse each product once.
The pass yields batches: for every feed, its finished items, its violations and
its counts *for that batch* (the caller adds them up), so it runs the same in
this process or in a child (`feeds.pipeline.producer`); everything here pickles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feeds.channels import Channel, ItemContext
from feeds.core.model import Availability, Category, Derived, Product
from feeds.core.settings import ChannelSettings
from feeds.core.validation import Rule, Severity, Violation, check, has_error
from feeds.storage.store import Store
from feeds.vendre.parse import DeriveContext, parse_product, with_descendants

__all__ = ["FeedBatch", "FeedJob", "PassJob", "products_pass", "settle", "verdict"]

BATCH_PRODUCTS = 250  # products per batch: small enough to keep memory flat


@dataclass(frozen=True)
class FeedJob:
    """What the pass needs to know of one feed file.

    `check_in_pass` False leaves the channel's rules to whoever receives the batches
    (`settle`): the build moves them to the rendering process when that one has
    less to do (see `feeds.pipeline.run`).
    """

    stem: str
    channel: Channel
    settings: ChannelSettings
    derivations: tuple[tuple[str, int], ...]  # (target name, index into PassJob.derive)
    check_in_pass: bool = True


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


@dataclass
class FeedBatch:
    """One feed's share of one batch of products: the counts are this batch's only."""

    items: list[dict[str, Any]] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    products: int = 0
    dropped: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    # Mapped items still to be checked: (item, the product's own violations, its id).
    unchecked: list[tuple[dict[str, Any], tuple[Violation, ...], str]] = \
        field(default_factory=list)


class _Feed:
    """A feed's fixed per-build values, computed once before the pass."""

    def __init__(self, job: FeedJob, pass_job: PassJob) -> None:
        self.channel = job.channel
        self.settings = job.settings
        self.derivations = job.derivations
        self.rules = job.channel.all_rules
        self.check_in_pass = job.check_in_pass
        self.ctx = ItemContext(settings=job.settings, default_brand=pass_job.default_brand,
                               labels=pass_job.labels, categories=pass_job.categories,
                               now=pass_job.now)
        self.excluded_categories = with_descendants(job.settings.exclude_categories,
                                                    pass_job.categories)


def products_pass(job: PassJob, batch_products: int = BATCH_PRODUCTS
                  ) -> Iterator[list[FeedBatch]]:
    """Batches of results, one `FeedBatch` per feed of `job.feeds`, in store order."""
    feeds = [_Feed(f, job) for f in job.feeds]
    batch = [FeedBatch() for _ in feeds]
    pending = 0
    for raw, parent in Store(job.store).iter_products():
        derived = [parse_product(raw, ctx, parent) for ctx in job.derive]
        for feed, out in zip(feeds, batch, strict=True):
            _one(feed, derived, job.duplicate_ids, out)
        pending += 1
        if pending == batch_products:
            yield batch
            batch = [FeedBatch() for _ in feeds]
            pending = 0
    yield batch


def _one(feed: _Feed, derived: Sequence[Product], duplicates: frozenset[str],
         out: FeedBatch) -> None:
    """Map (and unless the feed leaves it to the receiver, check) one product for one
    feed, into `out`."""
    out.products += 1
    products = Derived({name: derived[index] for name, index in feed.derivations})
    product = products.primary
    why = _excluded(product, feed.settings, feed.excluded_categories)
    if why:
        out.excluded[why] += 1
        return
    item = feed.channel.to_item(products, feed.ctx)
    found = product.violations if len(products) == 1 else _every_market(products)
    if feed.check_in_pass:
        verdict(feed.channel, feed.rules, duplicates, item, found, product.feed_id, out)
    else:
        out.unchecked.append((item, found, product.feed_id))


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


def verdict(channel: Channel, rules: Sequence[Rule], duplicates: frozenset[str],
            item: dict[str, Any], found: tuple[Violation, ...], item_id: str,
            out: FeedBatch) -> None:
    """Check one mapped item: its violations into `out`, and the finished item unless an
    error drops it. `found` are the violations deriving the product already gave."""
    violations = [*found, *_channel_violations(item_id, found, item, rules)]
    if item_id in duplicates:
        violations.append(Violation(Severity.ERROR, item_id, "id",
                                    "article number used by several products", "id_duplicate"))
    out.violations += violations
    if has_error(violations):
        out.dropped += 1
    else:
        out.items.append(channel.finish(item))


def settle(channel: Channel, duplicates: frozenset[str], part: FeedBatch) -> None:
    """Check the items a pass left unchecked (`FeedJob.check_in_pass` False)."""
    rules = channel.all_rules
    for item, found, item_id in part.unchecked:
        verdict(channel, rules, duplicates, item, found, item_id, part)
    part.unchecked = []


def _channel_violations(item_id: str, found: tuple[Violation, ...], item: dict[str, Any],
                        rules: Sequence[Rule]) -> list[Violation]:
    """The channel's rule violations, minus those that repeat an error the derivation
    already reported for the same field (an unknown tax class also leaves no price)."""
    violations = check(item_id, item, rules)
    derived = {v.field for v in found if v.severity is Severity.ERROR}
    return [v for v in violations if v.field not in derived] if derived else violations


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
