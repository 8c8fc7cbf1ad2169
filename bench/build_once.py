"""One `vendre-feeds build`, with the pass either in a child process or in this one.

    python -m bench.build_once (--child | --in-process) --config PATH CHANNEL...

The build benchmark runs this so it can compare the two ways of using the
machine's cores on the same snapshot; it sets `feeds.pipeline.run.CHILD_MIN_PRODUCTS`
and runs the real command line otherwise unchanged.
"""

from __future__ import annotations

import sys

import feeds.pipeline.run as run
from feeds.cli import main


def entry(argv: list[str]) -> None:
    mode, *rest = argv
    run.CHILD_MIN_PRODUCTS = 0 if mode == "--child" else 10**12
    main(["-q", *rest[:2], "build", "--force", *rest[2:]], prog_name="vendre-feeds")


if __name__ == "__main__":
    entry(sys.argv[1:])
