"""Benchmark of `vendre-feeds sync`: N generated products, concurrency 1 (baseline) vs 4.

    python -m bench.sync_bench [--products 100000] [--latency 0.02] [--write]

The benchmark process starts `tests.fakes.vendre_api.FakeVendre` on 127.0.0.1,
serving N products from `bench.synthetic` (generated per page on request, never
held), a few hundred categories and some recent orders, with a fixed latency
added to every answer. It then runs the real CLI,
`python -m feeds --config <tmp>/vendre-feeds.toml sync`, as a child process,
once per concurrency, each into a fresh temporary data dir, and reports wall
time, pages/s, items/s, the peak RSS of the sync process and the speed-up over
concurrency 1. Afterwards it opens each store and checks that it holds exactly
the N products, the categories and the orders. `--write` replaces this
benchmark's section of BENCHMARKS.md (between its markers) and nothing else.

Peak RSS is the sync process's own VmHWM, measured by `bench.common.run_measured`
(which says why `ru_maxrss` is not used).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import synthetic
from bench.common import BENCHMARKS_FILE, machine_info, run_measured, write_section
from feeds.config import load_config
from tests.fakes.vendre_api import FakeVendre

__all__ = ["SECTION", "BenchResult", "RunResult", "main", "run_benchmark"]

SECTION = "sync-bench"  # its markers in BENCHMARKS.md
PAGE_SIZE = 250
SHOP_MAX_PAGE_SIZE = 250
CONCURRENCIES = (1, 4)
RSS_LIMIT_MB = 200


@dataclass(frozen=True)
class RunResult:
    """One `vendre-feeds sync` child process."""

    concurrency: int
    wall_s: float
    pages: int  # answered requests (HTTP 200) of products, categories and orders
    items: int  # products + categories + orders read
    peak_rss_kb: int
    max_in_flight: int  # most requests the shop was answering at once
    sync_cpu_s: float  # user + system CPU time of the sync process
    shop_cpu_s: float  # user + system CPU time of this process (the fake shop) meanwhile
    other_cpu_s: float  # CPU time the rest of the machine used meanwhile (noise)
    stored: dict[str, int]  # rows counted in the SQLite store afterwards
    output: str  # the CLI's stdout (its summary lines)
    again: bool = False  # a second sync into the data dir of the one before
    prepared: bool = True  # False: no channel enabled, so nothing prepared for a build
    forms: int = 0  # prepared forms in the store afterwards

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.wall_s

    @property
    def items_per_s(self) -> float:
        return self.items / self.wall_s

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_kb / 1024


@dataclass
class BenchResult:
    products: int
    categories: int
    orders: int
    latency_s: float
    product_bytes: int  # mean compact JSON size of a generated product
    command: str
    machine: dict[str, str]
    runs: list[RunResult] = field(default_factory=list)

    @property
    def baseline(self) -> RunResult:
        return self.runs[0]

    def speedup(self, run: RunResult) -> float:
        return self.baseline.wall_s / run.wall_s

    def table(self) -> str:
        rows = ["| run | concurrency | wall time | pages | pages/s | items/s | peak RSS of sync "
                "| CPU: sync / shop / others | pages in flight (max) | speed-up |",
                "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for run in self.runs:
            name = "baseline" if run is self.baseline else \
                "again, same data dir, nothing prepared" if run.again and not run.prepared \
                else "again, same data dir" if run.again else \
                "concurrent, nothing prepared (no channel enabled)" if not run.prepared else \
                "concurrent"
            rows.append(
                f"| {name} | {run.concurrency} | {run.wall_s:.1f} s | {run.pages:,} "
                f"| {run.pages_per_s:,.1f} | {run.items_per_s:,.0f} | {run.peak_rss_mb:.0f} MB "
                f"| {run.sync_cpu_s:.1f} / {run.shop_cpu_s:.1f} / {run.other_cpu_s:.1f} s "
                f"| {run.max_in_flight} "
                f"| {self.speedup(run):.2f}× |")
        return "\n".join(rows)

    def markdown(self) -> str:
        m, base = self.machine, self.baseline
        last = next(run for run in reversed(self.runs) if not run.again and run.prepared)
        bare = next((run for run in self.runs if not run.prepared and not run.again), None)
        again = next((run for run in self.runs if run.prepared and run.again), None)
        bare_again = next((run for run in self.runs if not run.prepared and run.again), None)
        ms = self.latency_s * 1000
        waited = base.pages * self.latency_s
        peak = max(run.peak_rss_mb for run in self.runs)
        verdict = "under" if peak < RSS_LIMIT_MB else "**over**"
        return "\n".join([
            f"## `vendre-feeds sync`: {self.products:,} products, concurrency {base.concurrency} "
            f"vs {last.concurrency}",
            "",
            f"Command: `{self.command}`",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}. "
            f"Measured {m['date']}.",
            "",
            "Each run is the real CLI, `python -m feeds --config <tmp>/vendre-feeds.toml sync`, "
            "in a child process with a fresh temporary data dir. It reads a fake Vendre shop "
            "(`tests/fakes/vendre_api.py`) served by the benchmark process on 127.0.0.1 on the "
            f"same machine: {self.products:,} generated products (`bench/synthetic.py`: all 68 "
            f"keys of a real product, {self.product_bytes:,} bytes of compact JSON on average, "
            f"every {synthetic.VARIANT_EVERY}th a variant parent with "
            f"{synthetic.VARIANT_CHILDREN} children), {self.categories:,} categories and "
            f"{self.orders:,} recent orders; `page_size` {PAGE_SIZE}, shop maximum page size "
            f"{SHOP_MAX_PAGE_SIZE}. The fake shop waits **{ms:g} ms** before every answer, then "
            "generates and serialises the page. Wall time is the whole process, interpreter "
            "start to exit; pages and items count products, categories and orders together. "
            f"After every run the store held exactly {self.products:,} products, "
            f"{self.categories:,} categories and {self.orders:,} orders. Besides storing "
            "each product, the sync derives it for the build's targets and stores that too "
            "(`feeds/vendre/prepared.py`; the build then loads it instead of deriving); the "
            "last run syncs the same catalogue again into the data dir of the one before, "
            "as a scheduled refresh does: a product whose JSON did not change keeps what "
            "was derived from it. The runs with nothing prepared enable no channel, so the "
            "sync has no target to derive for: the same syncs (a first one, then one into "
            "its data dir) without that work.",
            "",
            self.table(),
            "",
            *([f"**What preparing costs.** At concurrency {last.concurrency}: "
               f"{last.sync_cpu_s:.1f} s of the sync's CPU and {last.wall_s:.1f} s of wall "
               f"time, against {bare.sync_cpu_s:.1f} s and {bare.wall_s:.1f} s with nothing "
               f"to prepare, in the same run." + (
                   f" A later sync of the same catalogue, into the data dir of the one before "
                   f"(what a scheduled refresh does): {again.sync_cpu_s:.1f} s of CPU and "
                   f"{again.wall_s:.1f} s of wall time, against {bare_again.sync_cpu_s:.1f} s "
                   f"and {bare_again.wall_s:.1f} s with nothing to prepare."
                   if again is not None and bare_again is not None else ""), ""]
              if bare is not None else []),
            f"**Memory.** Peak RSS of the sync process: {peak:.0f} MB at most, {verdict} the "
            f"{RSS_LIMIT_MB} MB the issue allows. It is the process's own high-water mark "
            "(VmHWM, read by a small wrapper in the child at exit). `ru_maxrss` is not used: "
            "on Linux a child started by vfork + exec is charged the high-water mark of its "
            "parent, here the benchmark process with the fake shop.",
            "",
            f"**Why {ms:g} ms, and when concurrency helps.** A real shop over the internet "
            f"takes tens to hundreds of ms to answer a page of {PAGE_SIZE} products, so the "
            "default latency is on the fast side. Concurrency hides the shop's response time "
            "(its latency, and the time it takes to build a page) behind our own work; it "
            "cannot make the sync faster than that work, which is done in one process "
            "(decoding the JSON, re-encoding each product, inserting it into SQLite). At "
            f"concurrency {base.concurrency} the sync waited for every page: {waited:.1f} s of "
            f"its {base.wall_s:.1f} s were the shop's latency alone ({base.pages:,} pages × "
            f"{ms:g} ms), and the fake shop spent another {base.shop_cpu_s:.1f} s of CPU "
            f"building pages. At concurrency {last.concurrency} that waiting overlaps with "
            f"the sync's own {last.sync_cpu_s:.1f} s of CPU, the floor of its wall time. So "
            "more concurrency pays only while the shop, not our process, is the bottleneck: "
            "against a slower, remote shop the speed-up is larger; here the fake shop also "
            f"competes with the sync for the same {m['cores']} cores.",
            "",
            "CPU is user + system time: of the sync process, of the benchmark process (the "
            "fake shop) and of every other process on the machine during the run; the last "
            "is noise, and the numbers are comparable only when it is near zero. Load "
            f"average (1 min) when the benchmark started: {m['load']}.",
        ]) + "\n"


# ---------------------------------------------------------------- running


def _mean_product_bytes(products: int, sample: int = 2000) -> int:
    # Consecutive positions: a stride could fall on the variant parents only.
    sizes = [len(json.dumps(synthetic.product(i), ensure_ascii=False, separators=(",", ":"))
                 .encode()) for i in range(min(products, sample))]
    return round(sum(sizes) / len(sizes))


def _write_config(tmp: Path, api_url: str, concurrency: int, prepare: bool = True) -> Path:
    config = tmp / "vendre-feeds.toml"
    config.write_text(
        f'data_dir = "{tmp / "data"}"\n\n'
        "[vendre]\n"
        f'api_url = "{api_url}"\n'
        f"page_size = {PAGE_SIZE}\n"
        f"concurrency = {concurrency}\n"
        "orders = true\n\n"
        "[shop]\n"
        'base_url = "https://shop.example"\n',
        encoding="utf-8")
    if not prepare:
        # Without an enabled channel the sync has no target to prepare products for: the
        # same sync otherwise, to measure what preparing costs in the same run.
        enabled = [n for n, c in load_config(config).channels.items() if c.enabled]
        with config.open("a", encoding="utf-8") as f:
            f.writelines(f"\n[channels.{name}]\nenabled = false\n" for name in enabled)
    return config


def _count_rows(store: Path, tables: Sequence[str] = ("products", "categories", "orders")
                ) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in tables}
    finally:
        conn.close()


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_s() -> float:
    """CPU seconds all processes have used since boot (/proc/stat), 0.0 where unknown."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = sum(ticks[3:5])  # idle, iowait
    busy = sum(ticks[:8]) - idle  # user .. steal; guest time is already in user
    return busy / os.sysconf("SC_CLK_TCK")


def _run_sync(shop: FakeVendre, concurrency: int, work_dir: Path, into: Path | None = None,
              prepare: bool = True) -> tuple[RunResult, Path]:
    """One sync child into a fresh data dir, or `into` (a data dir synced before);
    without `prepare`, with no channel enabled."""
    tmp = into or Path(tempfile.mkdtemp(prefix=f"sync-c{concurrency}-", dir=work_dir))
    config = _write_config(tmp, shop.url, concurrency, prepare)
    shop.reset()
    own, machine = _own_cpu_s(), _machine_busy_s()
    try:
        sync = run_measured("feeds", ["--config", str(config), "sync"], work=tmp,
                            env={"VENDRE_API_KEY": shop.api_key})
    except RuntimeError as exc:
        raise RuntimeError(f"sync with concurrency {concurrency} failed: {exc}") from exc
    shop_cpu = _own_cpu_s() - own
    other_cpu = max(0.0, _machine_busy_s() - machine - sync.cpu_s - shop_cpu)
    answered = [r for r in shop.requests if r.status == 200]
    stored = _count_rows(tmp / "data" / "catalog.sqlite3")
    forms = _count_rows(tmp / "data" / "catalog.sqlite3", ("prepared",))["prepared"]
    return RunResult(
        again=into is not None,
        prepared=prepare,
        forms=forms,
        concurrency=concurrency,
        wall_s=sync.seconds,
        pages=len(answered),
        items=sum(stored.values()),
        peak_rss_kb=sync.peak_kb,
        max_in_flight=shop.max_in_flight,
        sync_cpu_s=sync.cpu_s,
        shop_cpu_s=shop_cpu,
        other_cpu_s=other_cpu,
        stored=stored,
        output=sync.stdout.strip(),
    ), tmp


def run_benchmark(*, products: int, latency: float, categories: int = 300, orders: int = 2000,
                  concurrencies: Sequence[int] = CONCURRENCIES, command: str = "",
                  work_dir: Path | None = None,
                  log: Callable[[str], None] = lambda _line: None) -> BenchResult:
    """Serve the fake shop and run one sync child per concurrency; check every store.

    :raises RuntimeError: a sync failed, or a store does not hold what the shop served.
    """
    now = int(time.time())
    cats = synthetic.categories(categories)
    recent = synthetic.orders(orders, now=now, product_count=products)
    result = BenchResult(products, categories, orders, latency, _mean_product_bytes(products),
                         command, machine_info())
    expected = {"products": products, "categories": categories, "orders": orders}
    base = Path(tempfile.mkdtemp(prefix="vendre-sync-bench-", dir=work_dir))
    try:
        with FakeVendre(products=synthetic.products, categories=cats, orders=recent,
                        totals={"products": products}, max_page_size=SHOP_MAX_PAGE_SIZE,
                        latency=latency) as shop:
            last: Path | None = None
            # The last concurrency three times more: again into its data dir, then with
            # nothing to prepare (no channel enabled) into a fresh one and again into that:
            # the baselines of what preparing costs a first and a later sync.
            top = concurrencies[-1]
            plan = [*((c, False, True) for c in concurrencies), (top, True, True),
                    (top, False, False), (top, True, False)]
            for concurrency, again, prepare in plan:
                log(f"sync with concurrency {concurrency}{' again' if again else ''}"
                    f"{'' if prepare else ', nothing prepared'} ...")
                run, last = _run_sync(shop, concurrency, base, last if again else None,
                                      prepare)
                if run.stored != expected:
                    raise RuntimeError(f"concurrency {concurrency}: the store holds "
                                       f"{run.stored}, expected {expected}")
                log(f"  {run.wall_s:.1f} s, {run.pages} pages, peak RSS {run.peak_rss_mb:.0f} MB, "
                    f"CPU: sync {run.sync_cpu_s:.1f} s, shop {run.shop_cpu_s:.1f} s, "
                    f"other processes {run.other_cpu_s:.1f} s; "
                    f"stored {run.stored}")
                result.runs.append(run)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return result


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sync_bench",
        description="Time `vendre-feeds sync` against a fake shop on 127.0.0.1, "
                    "concurrency 1 (baseline) vs 4.")
    parser.add_argument("--products", type=int, default=100_000, help="default: %(default)s")
    parser.add_argument("--latency", type=float, default=0.02,
                        help="seconds the fake shop waits before every answer "
                             "(default: %(default)s)")
    parser.add_argument("--categories", type=int, default=300, help="default: %(default)s")
    parser.add_argument("--orders", type=int, default=2000, help="default: %(default)s")
    parser.add_argument("--write", action="store_true",
                        help=f"replace this benchmark's section of {BENCHMARKS_FILE.name}")
    args = parser.parse_args(argv)
    if args.products < 1 or args.categories < 1 or args.orders < 0 or args.latency < 0:
        parser.error("--products and --categories must be positive, --orders and "
                     "--latency not negative")
    command = "python -m bench.sync_bench " + " ".join(
        [f"--products {args.products}", f"--latency {args.latency:g}"]
        + ([f"--categories {args.categories}"] if args.categories != 300 else [])
        + ([f"--orders {args.orders}"] if args.orders != 2000 else [])
        + (["--write"] if args.write else []))
    pages = math.ceil(args.products / SHOP_MAX_PAGE_SIZE)
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f}; other work on this machine will skew "
              "the numbers", file=sys.stderr)
    print(f"fake shop: {args.products:,} products ({pages:,} pages of {SHOP_MAX_PAGE_SIZE}), "
          f"{args.categories} categories, {args.orders:,} orders, "
          f"{args.latency * 1000:g} ms latency per request", flush=True)
    result = run_benchmark(products=args.products, latency=args.latency,
                           categories=args.categories, orders=args.orders, command=command,
                           log=lambda line: print(line, flush=True))
    section = result.markdown()
    print()
    print(section)
    if args.write:
        write_section(SECTION, section)
        print(f"wrote the {SECTION} section of {BENCHMARKS_FILE}")
    noisy = [run.concurrency for run in result.runs if run.other_cpu_s > 0.1 * run.wall_s]
    if noisy:
        print(f"warning: other processes used the CPU during the runs with concurrency "
              f"{noisy}; re-run on a quiet machine", file=sys.stderr)
    peak = max(run.peak_rss_mb for run in result.runs)
    if peak >= RSS_LIMIT_MB:
        print(f"peak RSS {peak:.0f} MB is not under {RSS_LIMIT_MB} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
