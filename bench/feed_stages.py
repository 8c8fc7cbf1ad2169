"""What each feed's own work costs per item: mapping, rules, finishing and rendering.

    python -m bench.feed_stages CONFIG [--products N] [--rounds R] [CHANNEL...]

Reads the first N stored products of CONFIG's snapshot (their prepared forms, or their
JSON where no form is valid), keeps those that are for sale, then, product by product as
the build's pass does, maps, checks and finishes each for every channel in turn (so that
what one channel shares with the next, e.g. Google's fields for Meta and Criteo, is
shared here too), and renders every channel's items, a block of `BLOCK_PRODUCTS` at a
time, as the pass does (holding every item of the run until the end would time the
garbage collector, not the work). Prints the minimum over R rounds of each stage's time
per item, in microseconds, one line per channel.
Each stage is timed around its call with `perf_counter_ns` (about 0.1 µs of that is the
clock itself), so compare two versions of the code with this script on the same
snapshot, not with the build's own figures.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from bench.build_profile import CHILD_GC_THRESHOLDS, pass_setup
from feeds.config import load_config
from feeds.core.model import Derived, Product
from feeds.errors import FeedsError
from feeds.pipeline.items import BLOCK_PRODUCTS, PassJob, _Feed, skip_reason, store_rows
from feeds.storage.store import decode
from feeds.vendre.parse import parse_product
from feeds.vendre.prepared import load, product

STAGES = ("map", "check", "finish", "render")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_stages")
    parser.add_argument("config")
    parser.add_argument("channels", nargs="*", default=["google", "meta", "criteo"])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_intermixed_args(argv)  # channels before or after the options
    try:
        feeds, products = _setup(args.config, args.channels, args.products)
    except FeedsError as exc:  # no config, no snapshot, an unknown channel: one line
        parser.error(str(exc))
    if not products:
        parser.error(f"no product for sale among the first {args.products} of the snapshot")
    gc.freeze()
    gc.set_threshold(*CHILD_GC_THRESHOLDS)
    best: dict[tuple[str, str], int] = {}
    for _ in range(args.rounds):
        for key, spent in _one_round(feeds, products).items():
            best[key] = min(best.get(key, spent), spent)
    for feed in feeds:
        code = feed.channel.code
        each = "  ".join(f"{s} {best[code, s] / 1e3 / len(products):5.2f}" for s in STAGES)
        total = sum(best[code, s] for s in STAGES) / 1e3 / len(products)
        print(f"{code:8s} {each}  sum {total:5.2f} µs/item")
    return 0


def _setup(config: str, channels: list[str], count: int
           ) -> tuple[list[_Feed], list[Product]]:
    """The feeds of `channels` as the pass prepares them, and the products they map."""
    job, feeds = pass_setup(load_config(config), channels, datetime.now(UTC))
    return feeds, [p for p in _products(job, count)
                   if not skip_reason(p, feeds[0].settings, frozenset())]


def _products(job: PassJob, count: int) -> list[Product]:
    """The first `count` stored products that are for sale, derived once (first target)."""
    found = []
    for form, raw, parent in islice(store_rows(job), count):
        if form is None:
            found.append(parse_product(decode(raw), job.derive[0],
                                       decode(parent) if parent else None))
            continue
        loaded = load(form)
        if not loaded[0]:
            found.append(product(loaded[1 + job.prepared[0]]))
    return [p for p in found if p.sellable]


def _one_round(feeds: list[_Feed], products: list[Product]) -> dict[tuple[str, str], int]:
    """Nanoseconds of each (channel, stage), a block of products at a time as the pass
    runs them (the finished items of a block are rendered, then dropped)."""
    spent = {(f.channel.code, s): 0 for f in feeds for s in STAGES}
    for n in range(0, len(products), BLOCK_PRODUCTS):
        _one_block(feeds, products[n:n + BLOCK_PRODUCTS], spent)
    return spent


def _one_block(feeds: list[_Feed], products: list[Product],
               spent: dict[tuple[str, str], int]) -> None:
    clock = time.perf_counter_ns
    finished: dict[str, list[dict[str, Any]]] = {f.channel.code: [] for f in feeds}
    for item_product in products:
        derived = Derived({"target": item_product})
        for feed in feeds:
            channel, code = feed.channel, feed.channel.code
            start = clock()
            item = channel.to_item(derived, feed.ctx)
            mapped = clock()
            feed.check(item_product.feed_id, item)
            checked = clock()
            finished[code].append(channel.finish(item))
            done = clock()
            spent[code, "map"] += mapped - start
            spent[code, "check"] += checked - mapped
            spent[code, "finish"] += done - checked
    for feed in feeds:
        if feed.render_items is not None:
            start = clock()
            feed.render_items(finished[feed.channel.code])
            spent[feed.channel.code, "render"] += clock() - start


if __name__ == "__main__":
    raise SystemExit(main())
