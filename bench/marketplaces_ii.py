"""Marketplaces II: Amazon and Afound (Mirakl) at 100,000 products, against Google's build.

    python -m bench.marketplaces_ii [--products 100000]

For one synthetic snapshot (`bench.synthetic`, written straight into SQLite):

1. builds, each the real CLI in a child process, one after the other on the same
   snapshot: `build google` (the baseline of the same run), `build amazon`,
   `build afound`; wall time, items and the child's own peak RSS;
2. a first push of each to its fake on 127.0.0.1 (`tests/fakes/spapi.py`,
   `tests/fakes/mirakl.py`, served by this process): the feeds or imports sent and
   the messages or rows in them, with the pushing child's peak RSS;
3. 1 % of the products get a new price, the two payloads are built again and pushed:
   again the feeds or imports and what they hold.

Push wall times include the fakes' own processing (they run in this process) and are
shown only for orientation. The fake Amazon account has no listings made elsewhere,
so the first push skips the getListingsItem look-up of each new SKU
(`look_up_skus = false`): paced at Amazon's 5 calls a second, 100,000 look-ups would
take 20,000 s. Mirakl takes an offer import at most once a minute: the
benchmark waits out that minute before the second Afound push, so that its time is
the push's own. The marketplace benchmark calls `run()` and `markdown()`; this
module does not edit BENCHMARKS.md (`write_section` does, for whoever wants it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import build_bench, synthetic
from bench.common import Measured, machine_line, run_measured
from tests.fakes.mirakl import DEFAULT_API_KEY, FakeMirakl
from tests.fakes.spapi import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_SELLER_ID,
    FakeSpApi,
)

__all__ = ["Result", "fill_store", "main", "markdown", "run"]

CHANGED_EVERY = 100  # one product in a hundred gets a new price
CREDENTIALS = {"AMAZON_LWA_CLIENT_ID": DEFAULT_CLIENT_ID,
               "AMAZON_LWA_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
               "AMAZON_LWA_REFRESH_TOKEN": DEFAULT_REFRESH_TOKEN,
               "AFOUND_API_KEY": DEFAULT_API_KEY}
MIRAKL_INTERVAL = 61.0  # seconds


@dataclass(frozen=True)
class Build:
    channel: str
    items: int
    run: Measured


@dataclass(frozen=True)
class Push:
    channel: str
    step: str  # "first push" | "1 % price change"
    sent: int  # feeds (Amazon) or imports (Afound)
    payload: list[int]  # messages per feed, or rows per import
    run: Measured


@dataclass
class Result:
    products: int
    builds: list[Build] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)


def fill_store(data_dir: Path, products: int, *, changed: bool = False) -> None:
    """A snapshot of `products` synthetic products (`bench.build_bench.fill_store`);
    `changed`: one product in each hundred (the 38th: the first is always a variant
    parent) costs 10 % more."""
    build_bench.fill_store(data_dir, products, edit=_repriced if changed else None)


def _repriced(position: int, product: dict[str, Any]) -> dict[str, Any]:
    if position % CHANGED_EVERY == 37:
        product["price"] = round(product["price"] * 1.1, 4)
    return product


def _config(work: Path, amazon: FakeSpApi, mirakl: FakeMirakl) -> Path:
    path = work / "vendre-feeds.toml"
    path.write_text(
        f'data_dir = "{work / "data"}"\n'
        f'[shop]\nname = "Bench"\nbase_url = "{synthetic.BASE_URL}"\ndefault_brand = "Bench"\n'
        "[channels.meta]\nenabled = false\n[channels.criteo]\nenabled = false\n"
        f'[channels.amazon]\nenabled = true\nseller_id = "{DEFAULT_SELLER_ID}"\n'
        f'endpoint = "{amazon.url}"\ntoken_url = "{amazon.token_url}"\n'
        # The fake's account has no listings made elsewhere: no getListingsItem look-up of
        # each new SKU (at Amazon's 5 a second, 100,000 would take 5.6 hours).
        "look_up_skus = false\n"
        f'[channels.afound]\nenabled = true\napi_url = "{mirakl.url}"\n', encoding="utf-8")
    return path


def _build(config: Path, work: Path, channel: str) -> Build:
    measured = run_measured("feeds", ["-q", "--config", str(config), "build", channel,
                                      "--force"], work=work)
    state = json.loads((work / "data" / "state" / "feeds" / f"{channel}.json").read_text())
    return Build(channel, int(state["items"]), measured)


def _push(config: Path, work: Path, channel: str, step: str, amazon: FakeSpApi,
          mirakl: FakeMirakl) -> Push:
    feeds_before, imports_before = len(amazon.feeds), len(mirakl.imports)
    measured = run_measured("feeds", ["--config", str(config), "push", channel], work=work,
                            env=CREDENTIALS)
    if channel == "amazon":
        payload = [f.message_count for f in amazon.feeds[feeds_before:]]
    else:
        payload = [i.lines_read for i in mirakl.imports[imports_before:]]
    return Push(channel, step, len(payload), payload, measured)


def run(products: int, work_root: Path) -> Result:
    """Builds and pushes at `products`, in a temporary folder under `work_root`."""
    work = Path(tempfile.mkdtemp(prefix=f"marketplaces-ii-{products}-", dir=work_root))
    result = Result(products)
    try:
        with FakeSpApi(polls_to_done=0, keep_documents=False) as amazon, \
                FakeMirakl(polls_to_complete=0) as mirakl:
            config = _config(work, amazon, mirakl)
            fill_store(work / "data", products)
            for channel in ("google", "amazon", "afound"):
                result.builds.append(_build(config, work, channel))
            for channel in ("amazon", "afound"):
                result.pushes.append(_push(config, work, channel, "first push", amazon, mirakl))
            afound_pushed = time.monotonic()
            fill_store(work / "data", products, changed=True)
            for channel in ("amazon", "afound"):
                _build(config, work, channel)
            result.pushes.append(_push(config, work, "amazon", "1 % price change", amazon,
                                       mirakl))
            time.sleep(max(0.0, MIRAKL_INTERVAL - (time.monotonic() - afound_pushed)))
            result.pushes.append(_push(config, work, "afound", "1 % price change", amazon,
                                       mirakl))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def markdown(result: Result, command: str = "python -m bench.marketplaces_ii") -> str:
    google = next(b for b in result.builds if b.channel == "google")
    rows = [f"| `build {b.channel}` | {b.items:,} | {b.run.seconds:.1f} s | "
            f"{b.items / b.run.seconds:,.0f} | {b.run.seconds / google.run.seconds:.2f}x | "
            f"{b.run.peak_mb:.0f} MB | "
            f"{f'{b.run.helpers_peak_mb:.0f} MB' if b.run.helpers_peak_kb else '-'} |"
            for b in result.builds]
    pushes = [f"| `push {p.channel}` | {p.step} | {p.sent} | "
              f"{', '.join(f'{n:,}' for n in p.payload) or '-'} | {p.run.seconds:.1f} s | "
              f"{p.run.peak_mb:.0f} MB |" for p in result.pushes]
    return "\n".join([
        f"## Marketplaces II: Amazon and Afound at {result.products:,} products",
        "",
        f"Machine: {machine_line()}. Command: `{command}`.",
        "",
        "Each build is the CLI in its own child process on the same synthetic snapshot "
        "(`bench/synthetic.py`); Google's build in the same run is the baseline. Peak RSS is "
        "the child's own VmHWM (and its build child's, sampled).",
        "",
        "| build | items | wall time | items/s | time / Google's | peak RSS | child's peak |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Pushes go to the fakes on 127.0.0.1 (Amazon: feeds of at most 10,000 messages; "
        "Afound: one OF01 import per push). The 1 % change raises the price of every "
        "hundredth product; times include the fakes' own processing in the benchmark process.",
        "",
        "| push | step | feeds / imports | messages / rows in each | wall time | peak RSS |",
        "|---|---|---:|---|---:|---:|",
        *pushes,
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.marketplaces_ii")
    parser.add_argument("--products", type=int, default=100_000)
    args = parser.parse_args(argv)
    work_root = Path(tempfile.mkdtemp(prefix="vendre-feeds-bench-"))
    try:
        result = run(args.products, work_root)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    print(markdown(result, f"python -m bench.marketplaces_ii --products {args.products}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
