"""Benchmark of the marketplace payloads and pushes, against the fake APIs.

    python -m bench.marketplace_bench [--articles 100000] [--only merchants|amazon-mirakl]
                                      [--write]

CDON and Fyndiq here; Amazon and Afound (Mirakl) by `bench.marketplaces_ii`, in the
same command and the same BENCHMARKS.md section.

A temporary data dir gets a snapshot of N synthetic products (`bench.build_bench.
fill_store`) and the fake CDON and Fyndiq APIs (tests/fakes/merchants_api.py) start
on 127.0.0.1 in this process. Child processes then run one after the other:

1. `build google`, `build cdon`, `build fyndiq`: each payload's build time against the
   Google feed's, on the same snapshot;
2. `push cdon`, `push fyndiq`: the first push, creating every article;
3. a new snapshot in which 1 % of the products have another price, `build cdon fyndiq`,
   then `push cdon` and `push fyndiq` again.

Reported per step: wall time, peak RSS (the child's own VmHWM; a build's child
process separately) and the requests the fake saw, by kind, with the articles or
actions they carried. Targets (issue 11): a payload build at most 1.5x the Google
feed's, peak memory <= 250 MB, and the 1 % push sends only the changed articles, in
calls packed to each API's batch limit. The fake CDON gives its verdicts at the
first status look-up (`ok_after_polls=0`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import marketplaces_ii, synthetic
from bench.build_bench import fill_store
from bench.common import Measured, machine_line, run_measured, write_section
from tests.fakes.merchants_api import DEFAULT_MERCHANT_ID, DEFAULT_TOKEN, FakeCdon, FakeFyndiq

__all__ = ["main", "run_benchmark"]

MARKETPLACES = ("cdon", "fyndiq")
CHANGED_EVERY = 100  # one product in 100 gets a new price (position 37 of each hundred:
CHANGED_AT = 37      # never a variant parent, which is no article)
ENV = {f"{m.upper()}_{role}": value for m in MARKETPLACES
       for role, value in (("MERCHANT_ID", DEFAULT_MERCHANT_ID), ("API_TOKEN", DEFAULT_TOKEN))}
# Where each API's articles go, and its batch limits (creates, updates).
CREATE = {"cdon": ("POST", "/v2/articles/bulk"), "fyndiq": ("POST", "/articles/bulk")}
UPDATE = {"cdon": ("PUT", "/v2/articles/bulk"), "fyndiq": ("PUT", "/articles/bulk")}
LIMITS = {"cdon": (100, 100), "fyndiq": (100, 200)}


@dataclass(frozen=True)
class Step:
    """One measured child process and, for a push, the requests the fake saw."""

    label: str
    run: Measured
    items: int = 0
    calls: tuple[tuple[str, int, tuple[int, ...]], ...] = ()  # (request, count, items per call)

    def calls_text(self) -> str:
        parts = []
        for request, count, sizes in self.calls:
            sizes_text = f"{sum(sizes):,} in {count} ({_sizes(sizes)})" if sizes else str(count)
            parts.append(f"{request}: {sizes_text}")
        return "; ".join(parts) or "none"

    def row(self) -> str:
        helper = self.run.helpers_peak_mb
        peak = f"{self.run.peak_mb:.0f} MB" + (f" (+ {helper:.0f} MB child)" if helper else "")
        return (f"| {self.label} | {self.items:,} | {self.run.seconds:.1f} s | {peak} | "
                f"{self.calls_text()} |")


def _sizes(sizes: Sequence[int]) -> str:
    counted = Counter(sizes)
    return ", ".join(f"{n} x {size}" for size, n in sorted(counted.items(), reverse=True))


@dataclass(frozen=True)
class Result:
    products: int
    steps: tuple[Step, ...]
    changed: dict[str, int]   # marketplace -> articles whose price changed
    packed: dict[str, bool]   # marketplace -> the 1 % push sent only those, in full calls

    def step(self, label: str) -> Step:
        return next(s for s in self.steps if s.label == label)

    def ratio(self, name: str) -> float:
        return self.step(f"build {name}").run.seconds / self.step("build google").run.seconds

    def markdown(self, command: str) -> str:
        peak = max(max(s.run.peak_mb, s.run.helpers_peak_mb) for s in self.steps)
        lines = [
            "## Marketplaces: CDON and Fyndiq payloads and pushes",
            "",
            f"Machine: {machine_line()}. Command: `{command}`.",
            "",
            f"{self.products:,} synthetic products (`bench/synthetic.py`) in one snapshot; each "
            "step is its own `vendre-feeds` process. The pushes go to the fake Merchant APIs "
            "on 127.0.0.1 (`tests/fakes/merchants_api.py`, which check every article as the "
            "documentation describes). The incremental push follows a new snapshot in which "
            f"one product in {CHANGED_EVERY} has another price.",
            "",
            "| step | articles | time | peak RSS | requests (articles or actions per call) |",
            "|---|---:|---:|---:|---|",
            *(s.row() for s in self.steps),
            "",
            "Payload build time against the Google feed's (target at most 1.5x): "
            + ", ".join(f"{n} {self.ratio(n):.2f}x" for n in MARKETPLACES) + ". "
            f"Largest peak RSS of any process: {peak:.0f} MB (target 250 MB). "
            "The 1 % push sent only the changed articles, in calls packed to the batch limit "
            "(CDON 100, ours; Fyndiq 200): "
            + ", ".join(f"{n} {'yes' if self.packed[n] else 'NO'} ({self.changed[n]:,} changed)"
                        for n in MARKETPLACES) + ".",
        ]
        return "\n".join(lines)


def _config(work: Path, urls: dict[str, str]) -> Path:
    path = work / "vendre-feeds.toml"
    tables = "".join(f'[channels.{name}]\nenabled = true\napi_url = "{url}"\n'
                     'default_category = "1"\n' for name, url in urls.items())
    path.write_text(
        f'data_dir = "{work / "data"}"\n'
        f'[shop]\nname = "Bench"\nbase_url = "{synthetic.BASE_URL}"\ndefault_brand = "Bench"\n'
        "[build]\nmax_drop_percent = 100\n"
        "[channels.meta]\nenabled = false\n[channels.criteo]\nenabled = false\n" + tables,
        encoding="utf-8")
    return path


def _reprice(position: int, product: dict[str, Any]) -> dict[str, Any]:
    if position % CHANGED_EVERY == CHANGED_AT:
        return {**product, "price": round(float(product["price"]) * 1.1 + 1, 2)}
    return product


def _items(work: Path, name: str) -> int:
    return int(json.loads((work / "data" / "state" / "feeds" / f"{name}.json").read_text())
               ["items"])


def _prices(work: Path, name: str) -> dict[str, str]:
    """sku -> the article's price part, from the published payload (one line per article)."""
    found = {}
    with (work / "data" / "feeds" / f"{name}.json").open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            if line.startswith("]"):
                break
            article = json.loads(line.rstrip().rstrip(","))
            found[article["sku"]] = json.dumps(
                [article.get("price"), article.get("original_price")], sort_keys=True)
    return found


def _calls(fake: FakeCdon | FakeFyndiq) -> tuple[tuple[str, int, tuple[int, ...]], ...]:
    by_kind: dict[str, list[int]] = {}
    for r in fake.requests:
        by_kind.setdefault(f"{r.method} {r.path}", []).append(r.items or 0)
    return tuple((kind, len(sizes), tuple(sizes) if any(sizes) else ())
                 for kind, sizes in sorted(by_kind.items()))


def _push(config: Path, work: Path, name: str, fake: FakeCdon | FakeFyndiq,
          label: str) -> Step:
    fake.reset_log()
    run = run_measured("feeds", ["-q", "--config", str(config), "push", name], work=work,
                       env=ENV)
    return Step(f"{label} {name}", run, _items(work, name), _calls(fake))


def _packed(fake: FakeCdon | FakeFyndiq, name: str, changed: int) -> bool:
    """The push's update calls carried exactly the changed articles, every call but the
    last full, and nothing was created."""
    method, path = UPDATE[name]
    sizes = [r.items or 0 for r in fake.requests if (r.method, r.path) == (method, path)]
    created = [r for r in fake.requests if (r.method, r.path) == CREATE[name]]
    limit = LIMITS[name][1]
    return (bool(sizes) and not created and sum(sizes) == changed
            and all(size == limit for size in sizes[:-1]) and 0 < sizes[-1] <= limit)


def run_benchmark(products: int, work_root: Path) -> Result:
    work = Path(tempfile.mkdtemp(prefix=f"market-{products}-", dir=work_root))
    try:
        with FakeCdon(ok_after_polls=0) as cdon, FakeFyndiq() as fyndiq:
            fakes = {"cdon": cdon, "fyndiq": fyndiq}
            config = _config(work, {name: fake.url for name, fake in fakes.items()})
            fill_store(work / "data", products)
            steps = []
            for name in ("google", *MARKETPLACES):
                run = run_measured("feeds", ["-q", "--config", str(config), "build", name,
                                             "--force"], work=work)
                steps.append(Step(f"build {name}", run, _items(work, name)))
            for name in MARKETPLACES:
                steps.append(_push(config, work, name, fakes[name], "first push"))
            before = {name: _prices(work, name) for name in MARKETPLACES}
            fill_store(work / "data", products, edit=_reprice)
            run = run_measured("feeds", ["-q", "--config", str(config), "build",
                                         *MARKETPLACES], work=work)
            steps.append(Step("build cdon + fyndiq, 1 % repriced", run,
                              sum(_items(work, name) for name in MARKETPLACES)))
            changed, packed = {}, {}
            for name in MARKETPLACES:
                after = _prices(work, name)
                changed[name] = sum(1 for sku, p in after.items() if before[name].get(sku) != p)
                steps.append(_push(config, work, name, fakes[name], "1 % push"))
                packed[name] = _packed(fakes[name], name, changed[name])
            return Result(products, tuple(steps), changed, packed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.marketplace_bench")
    parser.add_argument("--articles", type=int, default=100_000,
                        help="synthetic products in the snapshot")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--only", choices=("merchants", "amazon-mirakl"),
                        help="run one half (default: both)")
    parser.add_argument("--note", default="",
                        help="a sentence on the conditions, printed above the tables")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    command = f"python -m bench.marketplace_bench --articles {args.articles}" + \
        (f" --only {args.only}" if args.only else "") + (" --write" if args.write else "")
    work_root = Path(tempfile.mkdtemp(prefix="vendre-feeds-bench-"))
    sections = []
    try:
        if args.only != "amazon-mirakl":
            sections.append(run_benchmark(args.articles, work_root).markdown(command))
        if args.only != "merchants":
            # Amazon and Afound (Mirakl), on a snapshot of their own (bench/marketplaces_ii).
            sections.append(marketplaces_ii.markdown(
                marketplaces_ii.run(args.articles, work_root), command))
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    conditions = (f"Load average (1 min) {load_before:.2f} at the start, "
                  f"{os.getloadavg()[0]:.2f} at the end. {args.note}").strip()
    section = "\n\n".join(sections) + "\n\n" + conditions
    print(section)
    if args.write:
        write_section("marketplace-bench", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
