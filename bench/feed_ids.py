"""What recording a feed's ids costs a build (`feeds.storage.feed_ids`).

    python -m bench.feed_ids [--ids N] [--rounds R]

Records N ids for three feeds in a temporary folder, 220 at a time as the build's
blocks give them, round after round, and prints the least CPU seconds per feed of:
staging the ids, then committing them when 1 % of them changed since the last round
(the feed's rows rewritten: the baseline) and when none did (nothing written).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from feeds.storage.feed_ids import FeedIds
from feeds.storage.layout import Layout

STEMS = ("google", "meta", "criteo")
BLOCK = 220


def record(ids_file: FeedIds, stem: str, ids: list[str]) -> tuple[float, float]:
    """CPU seconds to stage `ids` for `stem`, and to commit them."""
    start = time.process_time()
    recorder = ids_file.recorder(stem)
    try:
        for at in range(0, len(ids), BLOCK):
            recorder.add_all(ids[at:at + BLOCK])
        staged = time.process_time()
        recorder.commit()
    finally:
        recorder.close()
    return staged - start, time.process_time() - staged


def changed(count: int, round_no: int) -> list[str]:
    """`count` ids of which every hundredth is new in each round."""
    return [f"SKU-{n:07d}" if n % 100 else f"NEW-{round_no}-{n}" for n in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_ids")
    parser.add_argument("--ids", type=int, default=88_231)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2: the first round has no rows to replace")
    best = {"stage": float("inf"), "commit, 1 % changed": float("inf"),
            "commit, unchanged": float("inf")}
    with tempfile.TemporaryDirectory() as folder:
        ids_file = FeedIds(Layout(Path(folder)))
        for round_no in range(args.rounds):
            ids = changed(args.ids, round_no)
            for stem in STEMS:
                stage, commit = record(ids_file, stem, ids)
                best["stage"] = min(best["stage"], stage)
                if round_no:  # the first round finds no rows to replace
                    best["commit, 1 % changed"] = min(best["commit, 1 % changed"], commit)
            for stem in STEMS:
                best["commit, unchanged"] = min(best["commit, unchanged"],
                                                record(ids_file, stem, ids)[1])
    print(f"{args.ids:,} ids a feed, {len(STEMS)} feeds, least CPU of {args.rounds} rounds")
    for name, seconds in best.items():
        print(f"{name:>20}: {seconds:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
