"""What the build's parse-back check and write cost on one RSS feed, next to its floor.

    python -m bench.parse_back FILE [--rounds R] [--full]

FILE is a built Google, Meta or Criteo feed (e.g. `data/feeds/google.xml` after
`vendre-feeds build`). Feeds it to the check, 1 MB at a time as the build writes it,
and prints the minimum CPU seconds over R rounds of:

- `libxml2`: libxml2 reading the bytes with a parser target that hears nothing, no
  tree, no Python per element: the floor of any check that reads the bytes with
  libxml2. It proves them well-formed, but not namespace-well-formed (an undeclared
  prefix passes), which the stream check proves with its patterns;
- `stream check`: `rss_xml.StreamChecker`, the build's check as the file is written
  (well-formed, namespaces, the items' ids digested); it says how many items it found
  and the start of their ids' digest, or that it was not sure (then the build reads
  the file back with the full check);
- `write`: the build's `FeedSink` writing the bytes to a temporary file, its .gz twin
  and its SHA-256 (with the stream check, what every file costs besides its items);
- with `--full`, `full check`: `rss_xml.FeedChecker`, which builds a tree per item.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lxml import etree

from feeds.core.outputs import GOOGLE_NS
from feeds.errors import FeedsError
from feeds.formats import rss_xml
from feeds.formats.digest import ParsedFeed
from feeds.formats.rss_xml import FeedChecker, StreamChecker
from feeds.pipeline.sink import FeedSink

CHUNK = 1 << 20
OPTIONS = {"item_tag": "item", "id_tag": f"{{{GOOGLE_NS}}}id", "namespaces": {"g": GOOGLE_NS}}


def libxml2(chunks: list[bytes]) -> str:
    # The stream check's own parser and silent target, so that this is its floor.
    parser = rss_xml._parser(rss_xml._Silent())
    for chunk in chunks:
        parser.feed(chunk)
    parser.close()
    return "well-formed"


def stream_check(chunks: list[bytes]) -> str:
    checker = StreamChecker("feed", **OPTIONS)
    for chunk in chunks:
        checker.feed(chunk)
    parsed = checker.close()
    return "not sure" if parsed is None else _found(parsed)


def full_check(chunks: list[bytes]) -> str:
    checker = FeedChecker("feed", **OPTIONS)
    for chunk in chunks:
        checker.feed(chunk)
    return _found(checker.close())


def write(chunks: list[bytes]) -> str:
    """What the build's sink does with the bytes: the file, its .gz twin, its SHA-256."""
    with tempfile.TemporaryDirectory() as folder:
        with FeedSink(Path(folder, "feed.xml"), Path(folder, "feed.xml.gz")) as sink:
            for chunk in chunks:
                sink.write(chunk)
        assert sink.written is not None
        return f"file, .gz and SHA-256 {sink.written.sha256[:12]}"


def _found(parsed: ParsedFeed) -> str:
    return f"{parsed.items:,} items, id digest {parsed.digest[:12]}"


def best_of(rounds: int, run: Callable[[list[bytes]], str], chunks: list[bytes]
            ) -> tuple[float, str]:
    """The least CPU time of `rounds` runs, and what the last one found."""
    spent, found = [], ""
    for _ in range(rounds):
        start = time.process_time()
        found = run(chunks)
        spent.append(time.process_time() - start)
    return min(spent), found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parse_back")
    parser.add_argument("file", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="time the full check too")
    args = parser.parse_args(argv)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        parser.error(f"cannot read {args.file}: {exc.strerror}")
    chunks = [data[at:at + CHUNK] for at in range(0, len(data), CHUNK)]
    runs = {"libxml2": libxml2, "stream check": stream_check, "write": write}
    if args.full:
        runs["full check"] = full_check
    print(f"{args.file.name}: {len(data) / 1e6:.1f} MB, least CPU of {args.rounds} rounds")
    for name, run in runs.items():
        try:
            seconds, found = best_of(args.rounds, run, chunks)
        except (FeedsError, etree.XMLSyntaxError) as exc:  # not a feed: one line
            parser.error(f"{args.file}: {name}: {exc}")
        print(f"{name:>13}: {seconds:6.3f} s  ({found})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
