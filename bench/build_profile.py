"""Where a build's time goes, in one process: read, load, derive, map + rules, render.

    python -m bench.build_profile CONFIG CHANNEL...

Times the pieces of the pass on the real snapshot, in this one process, a
block of products at a time as the build does (`BLOCK_PRODUCTS`; holding more
would time the memory, not the work), with the garbage collector set as in the
build's child: reading the stored rows (SQLite: the products' prepared forms,
and the JSON of those without a usable one), loading the prepared forms
(`feeds.vendre.prepared`: orjson and the Product), decoding and deriving the
others from their JSON (orjson, `parse_product`), every channel's mapping, rules
and finishing, and rendering the items of the files in pieces
(`feeds.formats.rss_fast`). Then it runs the whole build in this process (no
child); what is left of its time is the parse-back check, writing (with the .gz
twin) and publishing. Prints one JSON line of CPU seconds: {"read", "load",
"derive", "map_rules", "render", "build", "rest"} and the count of products
derived from their JSON ("from_json").
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import islice

import feeds.pipeline.run as run
from feeds.config import Config, load_config
from feeds.formats import handler
from feeds.formats.templates import make_env
from feeds.pipeline.items import (
    BLOCK_PRODUCTS,
    FeedBatch,
    PassJob,
    _Feed,
    _one,
    _render,
    store_rows,
)
from feeds.pipeline.plan import feed_specs, shared_inputs
from feeds.storage.store import Store, decode
from feeds.vendre.parse import not_sellable_because, parse_product
from feeds.vendre.prepared import load, product

CHILD_GC_THRESHOLDS = (70_000, 100, 100)  # as `feeds.pipeline.run._produce` sets them


def pass_setup(cfg: Config, channels: Sequence[str], now: datetime
               ) -> tuple[PassJob, list[_Feed]]:
    """The pass's job for `channels` and its feeds, prepared as a build prepares them."""
    store = Store.in_dir(cfg.data_dir)
    specs = feed_specs(cfg, channels)
    env = make_env(cfg.build.templates_dir or None)
    pieces = [handler(s.channel.format, env).pieces(run._feed_meta(cfg, s)) for s in specs]
    job = run.pass_job(cfg, specs, store, shared_inputs(cfg, store, now), pieces=pieces)
    return job, [_Feed(f, job) for f in job.feeds]


def main(argv: list[str]) -> int:
    config, *channels = argv[1:]
    cfg = load_config(config)
    now = datetime.now(UTC)
    job, feeds = pass_setup(cfg, channels, now)

    spent = dict.fromkeys(("read", "load", "derive", "map_rules", "render"), 0.0)
    clock = time.process_time
    rows = iter(store_rows(job))
    gc.freeze()
    gc.set_threshold(*CHILD_GC_THRESHOLDS)
    from_json = 0
    while True:
        start = clock()
        chunk = list(islice(rows, BLOCK_PRODUCTS))
        spent["read"] += clock() - start
        if not chunk:
            break
        start = clock()
        derived = []
        for form, _, _ in chunk:
            if form is not None:
                found = load(form)
                if not found[0]:
                    derived.append([product(found[1 + n]) for n in job.prepared])
        spent["load"] += clock() - start
        start = clock()
        for form, raw, parent in chunk:
            if form is None:
                from_json += 1
                raw, parent = decode(raw), decode(parent) if parent else None
                if not not_sellable_because(raw, parent):
                    derived.append([parse_product(raw, ctx, parent) for ctx in job.derive])
        spent["derive"] += clock() - start
        start = clock()
        batch = [FeedBatch() for _ in feeds]
        for products in derived:
            for feed, out in zip(feeds, batch, strict=True):
                _one(feed, products, job.duplicate_ids, out)
        spent["map_rules"] += clock() - start
        start = clock()
        for feed, out in zip(feeds, batch, strict=True):
            if feed.render_items is not None:
                _render(feed, out)
        spent["render"] += clock() - start
    del chunk, derived, batch

    run.CHILD_MIN_PRODUCTS = 10**12
    start = clock()
    run.build_feeds(cfg, codes=channels, force=True, now=now)
    build = clock() - start
    print(json.dumps({**spent, "build": build, "from_json": from_json,
                      "rest": max(0.0, build - sum(spent.values()))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
