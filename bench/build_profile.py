"""Where a build's time goes: read + parse, map + rules, render + check + publish.

    python -m bench.build_profile CONFIG CHANNEL...

Times, in this one process, the pieces of the pass on the real snapshot:
reading the rows (SQLite and JSON), deriving each product once per distinct
target (`parse_product`), and every channel's mapping, rules and finishing.
Then it runs the whole build in this process (no child); what is left of its
wall time is rendering, the parse-back check and publishing. Prints one JSON
line: {"read", "parse", "map_rules", "build", "render_check_publish"} in seconds.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from itertools import islice

import feeds.pipeline.run as run
from feeds.config import load_config
from feeds.pipeline.items import FeedBatch, _Feed, _one  # noqa: F401 - the pass's own pieces
from feeds.pipeline.plan import feed_specs, shared_inputs
from feeds.storage.store import Store
from feeds.vendre.parse import parse_product


def main(argv: list[str]) -> int:
    config, *channels = argv[1:]
    cfg = load_config(config)
    store = Store.in_dir(cfg.data_dir)
    now = datetime.now(UTC)
    specs = feed_specs(cfg, channels)
    job = run.pass_job(cfg, specs, store, shared_inputs(cfg, store, now))
    feeds = [_Feed(f, job) for f in job.feeds]

    read = parse = map_rules = 0.0
    rows = store.iter_products()
    # In chunks, so that no more than a thousand products are held at once (holding the
    # whole snapshot would time the memory, not the work).
    while True:
        start = time.perf_counter()
        chunk = list(islice(rows, 1000))
        read += time.perf_counter() - start
        if not chunk:
            break
        start = time.perf_counter()
        derived = [[parse_product(raw, ctx, parent) for ctx in job.derive]
                   for raw, parent in chunk]
        parse += time.perf_counter() - start
        start = time.perf_counter()
        for products in derived:
            for feed in feeds:
                _one(feed, products, job.duplicate_ids, FeedBatch())
        map_rules += time.perf_counter() - start
    del chunk, derived

    run.CHILD_MIN_PRODUCTS = 10**12
    start = time.perf_counter()
    run.build_feeds(cfg, codes=channels, force=True, now=now)
    build = time.perf_counter() - start
    print(json.dumps({"read": read, "parse": parse, "map_rules": map_rules, "build": build,
                      "render_check_publish": max(0.0, build - read - parse - map_rules)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
