"""Benchmark of `vendre-feeds build` against the simplest honest one-core writer.

    python -m bench.build_bench [--products 100000] [--big 1000000] [--rounds 3] [--write]

A temporary data dir gets a snapshot of N synthetic products (`bench.synthetic`,
written straight into the SQLite store). Then, round after round (interleaved,
so that a noisy machine hurts every figure alike), each of these runs as its
own child process on that snapshot:

- the baseline (`bench.baseline_google`): the one-core streaming writer. It
  decodes each product's JSON, strips HTML, adds VAT, escapes and writes the
  Google feed, no validation, no templates, no parse-back; its time includes
  decoding its input;
- `vendre-feeds build google --force` (two processes where the machine has two
  cores, as users run it);
- the same build in one process (`bench.build_once --in-process`), to show what
  the second core buys;
- `vendre-feeds build google meta criteo --force` (one pass, three files);
- Google alone and the three feeds again on a copy of the snapshot without the
  forms the sync prepares: each product decoded and derived from its JSON, as the
  first build after an upgrade that changed the parser does.

Reported: the median of each figure over the rounds, the ratio of the baseline's
wall time to Google's (the goal is at least 1.0: as fast as the writer), the
ratio of three channels to Google alone (the goal is at most 1.5), both with and
without the prepared forms, each
process's own peak RSS (VmHWM; the build's child process sampled every 0.2 s)
and CPU time (of the whole process tree). With `--big`, the baseline and the
Google build, with and without the forms, again on a snapshot of that many
products (the goals: 1.0 again, peak memory flat, and how far from 30 s). Last,
the CPU split of one in-process build (`bench.build_profile`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import synthetic
from bench.common import ROOT, Measured, machine_info, run_measured, write_section
from feeds.config import Config, load_config
from feeds.jobs.sync import prepare_products
from feeds.storage.store import Store

__all__ = ["Figure", "fill_store", "main", "markdown", "measure"]

BATCH = 5000
THREE = ("google", "meta", "criteo")
BASELINE, GOOGLE, ONE_PROCESS, THREE_CHANNELS = \
    "baseline", "google", "google, one process", "google, meta, criteo"
FROM_JSON, THREE_FROM_JSON = "google, from the JSON (no prepared forms)", \
    "google, meta, criteo, from the JSON"
GOAL_RATIO, GOAL_THREE, GOAL_BIG_S, GOAL_PEAK_MB = 1.0, 1.5, 30.0, 100.0


def fill_store(data_dir: Path, products: int,
               edit: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None,
               cfg: Config | None = None) -> None:
    """A snapshot of `products` synthetic products, categories and recent orders.

    :param edit: `edit(position, product)` -> the product stored (e.g. with a new price).
    :param cfg: prepare the products for its channels' targets, as `vendre-feeds sync`
        does (`feeds.jobs.sync.prepare_products`); without it, only their JSON is stored.
    """
    store = Store.in_dir(data_dir)
    now = datetime.now(UTC)
    with store.write_snapshot(now) as writer:
        writer.add_categories(synthetic.categories())
        if cfg is not None:
            prepare_products(cfg, writer, now)
        for offset in range(0, products, BATCH):
            page = synthetic.products(offset, min(BATCH, products - offset))
            if edit is not None:
                page = [edit(offset + n, p) for n, p in enumerate(page)]
            writer.add_products(page)
        orders = synthetic.orders(500, now=int(now.timestamp()), product_count=products)
        writer.add_orders((str(o["id"]), datetime.fromtimestamp(o["date_added"], UTC), o)
                          for o in orders)


def _config(work: Path, data: str = "data") -> Path:
    path = work / f"vendre-feeds-{data}.toml"
    path.write_text(
        f'data_dir = "{work / data}"\n'
        f'[shop]\nname = "Bench"\nbase_url = "{synthetic.BASE_URL}"\n'
        'default_brand = "Bench"\n', encoding="utf-8")
    return path


# ---------------------------------------------------------------- one figure


@dataclass(frozen=True)
class Figure:
    """One kind of run, measured once per round."""

    name: str
    runs: tuple[Measured, ...]
    items: int

    @property
    def wall(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def peak_mb(self) -> float:
        return max(r.peak_mb for r in self.runs)

    @property
    def child_peak_mb(self) -> float:
        return max(r.helpers_peak_mb for r in self.runs)

    def walls(self) -> str:
        return ", ".join(f"{r.seconds:.1f}" for r in self.runs)


def _items(work: Path, channels: Sequence[str], data: str = "data") -> int:
    return sum(json.loads((work / data / "state" / "feeds" / f"{c}.json").read_text())["items"]
               for c in channels)


def _without_forms(work: Path) -> Path:
    """A copy of the snapshot in `work / "json"` whose prepared forms no build uses (as
    after an upgrade that changed the parser, before the next sync): its config."""
    (work / "json").mkdir()
    source = sqlite3.connect(work / "data" / "catalog.sqlite3")
    copy = sqlite3.connect(work / "json" / "catalog.sqlite3")
    with closing(source), closing(copy):
        source.backup(copy)
        copy.execute("DELETE FROM prepared_keys")
        copy.commit()
    return _config(work, "json")


def _runners(work: Path, config: Path, *, one_process: bool, three: bool,
             from_json: Path | None) -> dict[str, Callable[[], tuple[Measured, int]]]:
    def baseline() -> tuple[Measured, int]:
        measured = run_measured("bench.baseline_google",
                                [str(work / "data" / "catalog.sqlite3"),
                                 str(work / "baseline.xml"), synthetic.BASE_URL], work=work)
        return measured, int(measured.stdout.strip())

    def build(*channels: str, config: Path = config, data: str = "data"
              ) -> Callable[[], tuple[Measured, int]]:
        def run() -> tuple[Measured, int]:
            measured = run_measured("feeds", ["-q", "--config", str(config), "build",
                                              *channels, "--force"], work=work)
            return measured, _items(work, channels, data)
        return run

    def in_one_process() -> tuple[Measured, int]:
        measured = run_measured("bench.build_once",
                                ["--in-process", "--config", str(config), "google"], work=work)
        return measured, _items(work, ["google"])

    runners = {BASELINE: baseline, GOOGLE: build("google")}
    if one_process:
        runners[ONE_PROCESS] = in_one_process
    if three:
        runners[THREE_CHANNELS] = build(*THREE)
    if from_json is not None:
        runners[FROM_JSON] = build("google", config=from_json, data="json")
        if three:
            runners[THREE_FROM_JSON] = build(*THREE, config=from_json, data="json")
    return runners


def measure(products: int, work_root: Path, rounds: int, *, one_process: bool = True,
            three: bool = True, from_json: bool = True,
            progress: Callable[[str], None] = print) -> dict[str, Figure]:
    """Fill a snapshot of `products`, then run every figure once per round, interleaved."""
    work = Path(tempfile.mkdtemp(prefix=f"build-{products}-", dir=work_root))
    try:
        config = _config(work)
        fill_store(work / "data", products, cfg=load_config(config))
        runners = _runners(work, config, one_process=one_process, three=three,
                           from_json=_without_forms(work) if from_json else None)
        found: dict[str, list[Measured]] = {name: [] for name in runners}
        items: dict[str, int] = {}
        for n in range(rounds):
            for name, run in runners.items():
                measured, items[name] = run()
                found[name].append(measured)
                progress(f"{products:,} products, round {n + 1}/{rounds}: {name} "
                         f"{measured.seconds:.1f} s (CPU {measured.cpu_s:.1f} s, peak "
                         f"{measured.peak_mb:.0f} MB + {measured.helpers_peak_mb:.0f} MB)")
        return {name: Figure(name, tuple(runs), items[name]) for name, runs in found.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ratio(figures: dict[str, Figure], top: str, bottom: str) -> float:
    """The median over rounds of top's wall time / bottom's in the same round."""
    pairs = zip(figures[top].runs, figures[bottom].runs, strict=True)
    return statistics.median(a.seconds / b.seconds for a, b in pairs)


def profile_split(products: int, work_root: Path) -> dict[str, dict[str, float]]:
    """CPU seconds of each piece of one in-process build (`bench.build_profile`)."""
    work = Path(tempfile.mkdtemp(prefix=f"profile-{products}-", dir=work_root))
    try:
        config = _config(work)
        fill_store(work / "data", products, cfg=load_config(config))
        return {", ".join(c): json.loads(run_measured("bench.build_profile",
                                                      [str(config), *c], work=work).stdout)
                for c in (("google",), THREE)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- the report


def _table(figures: dict[str, Figure]) -> list[str]:
    base = figures[BASELINE]
    lines = ["| run | items | wall time (median) | each round | items/s | CPU (median) "
             "| peak RSS | child's peak RSS |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for f in figures.values():
        child = f"{f.child_peak_mb:.0f} MB" if f.child_peak_mb else "-"
        name = "baseline: the one-core streaming writer" if f is base else f"build {f.name}"
        lines.append(f"| {name} | {f.items:,} | {f.wall:.2f} s | {f.walls()} | "
                     f"{f.items / f.wall:,.0f} | {f.cpu:.1f} s | {f.peak_mb:.0f} MB | {child} |")
    return lines


def markdown(small: dict[str, Figure], big: dict[str, Figure] | None,
             split: dict[str, dict[str, float]] | None, *, products: int, rounds: int,
             big_products: int = 0, big_rounds: int = 0, command: str,
             machine: dict[str, str], load_after: str) -> str:
    google = ratio(small, BASELINE, GOOGLE)
    lines = [
        "## Feed build: `vendre-feeds build` against the one-core streaming writer",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores; Python {machine['python']}; "
        f"{machine['os']}. Date: {machine['date']}. Load average (1 min): {machine['load']} "
        f"at the start, {load_after} at the end. Command: `{command}`.",
        "",
        "Every run reads the same SQLite snapshot of synthetic products (`bench/synthetic.py`, "
        "about 3 KB of JSON each, 2 % variant parents). The baseline "
        "(`bench/baseline_google.py`) is the simplest honest writer, on one core: it decodes "
        "each product's JSON (`json.loads`), strips HTML, adds VAT and writes the escaped "
        "Google item, with no validation, no template, no parse-back. The build derives each "
        "product (VAT, availability, HTML to text, GTIN check digits, language fallback), "
        "applies every rule of the channel, renders the built-in template, parses the output "
        "back with its id digest, and publishes atomically (with the .gz twin, report, "
        "history and feed ids). Each figure ran once per round, the rounds interleaved; "
        "walls and ratios are medians. Peak RSS is each process's own high-water mark "
        "(VmHWM); the child's is sampled every 0.2 s. CPU is the whole process tree's. "
        "The builds share their data dir, so every build but the first of each feed finds "
        "its ids already recorded and skips rewriting them (`feeds/storage/feed_ids.py`), "
        "as a scheduled build of an unchanged catalogue does; a build whose ids changed "
        "pays about 0.17 s more CPU per feed per 100,000 products (`python -m "
        "bench.feed_ids`).",
        "",
        f"### {products:,} products, {rounds} rounds",
        "",
        *_table(small),
        "",
        f"- Google: the baseline's wall time / the build's = **{google:.2f}x** "
        f"(goal at least {GOAL_RATIO:.1f}x).",
    ]
    if ONE_PROCESS in small:
        lines.append(f"- The second core: one process / two processes = "
                     f"{ratio(small, ONE_PROCESS, GOOGLE):.2f}x.")
    if THREE_CHANNELS in small:
        lines.append(f"- Google, Meta and Criteo in one build / Google alone = "
                     f"**{ratio(small, THREE_CHANNELS, GOOGLE):.2f}x** "
                     f"(goal at most {GOAL_THREE:.1f}x).")
    if FROM_JSON in small:
        lines.append(f"- Without the forms the sync prepares (the first build after an "
                     f"upgrade that changed the parser, or a store synced by an older "
                     f"version): the baseline's wall time / the build's = "
                     f"**{ratio(small, BASELINE, FROM_JSON):.2f}x**"
                     + (f"; three feeds / Google alone = "
                        f"**{ratio(small, THREE_FROM_JSON, FROM_JSON):.2f}x**"
                        if THREE_FROM_JSON in small else "") + ".")
    if big is not None:
        g = big[GOOGLE]
        lines += [
            "",
            f"### {big_products:,} products, {big_rounds} rounds",
            "",
            *_table(big),
            "",
            f"- Google: the baseline's wall time / the build's = "
            f"**{ratio(big, BASELINE, GOOGLE):.2f}x** (goal at least {GOAL_RATIO:.1f}x); "
            f"the build took {g.wall:.1f} s, {g.wall / GOAL_BIG_S:.1f}x the {GOAL_BIG_S:.0f} s "
            "aimed at.",
            *([f"- Without the forms: the baseline's wall time / the build's = "
               f"**{ratio(big, BASELINE, FROM_JSON):.2f}x**; the build took "
               f"{big[FROM_JSON].wall:.1f} s."] if FROM_JSON in big else []),
            f"- Peak RSS per process: {g.peak_mb:.0f} MB (build) and {g.child_peak_mb:.0f} MB "
            f"(child) against {small[GOOGLE].peak_mb:.0f} MB and "
            f"{small[GOOGLE].child_peak_mb:.0f} MB at {products:,} (goal: at most "
            f"{GOAL_PEAK_MB:.0f} MB each, flat).",
        ]
    if split:
        lines += ["", "### Where the CPU goes: one build in one process "
                      "(`python -m bench.build_profile`)", "",
                  "CPU seconds of each piece of the pass, timed on the same snapshot, then the "
                  "whole in-process build; `load` reads the products the sync prepared "
                  "(`feeds/vendre/prepared.py`), `derive` decodes and derives the others "
                  "from their JSON (their number in brackets: those without a form valid "
                  "at the build's time); `rest` is what the build spent besides the pass: the "
                  "parse-back check, writing the file and its .gz twin, the report, the "
                  "feed ids, publishing and starting up.", "",
                  "| channels | read (SQLite) | load (prepared) | derive (from JSON) "
                  "| map + rules | render | rest | whole build |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, s in split.items():
            lines.append(f"| {name} | {s['read']:.2f} s | {s['load']:.2f} s | "
                         f"{s['derive']:.2f} s ({s['from_json']:,}) | {s['map_rules']:.2f} s | "
                         f"{s['render']:.2f} s | {s['rest']:.2f} s | {s['build']:.2f} s |")
    return "\n".join(lines)


def compiled() -> None:
    """The project's bytecode, written once as installing a package writes it: runs that
    read it do not compile the project again (with PYTHONDONTWRITEBYTECODE set, as on the
    machine BENCHMARKS.md was measured on, every process would, about 0.1 s each)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "feeds", "tracking", "bench"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.build_bench")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000,
                        help="the large snapshot's size (0 = skip it)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)
    command = (f"python -m bench.build_bench --products {args.products} --big {args.big} "
               f"--rounds {args.rounds} --big-rounds {args.big_rounds}"
               + (" --write" if args.write else ""))
    machine = machine_info()
    compiled()
    work_root = Path(tempfile.mkdtemp(prefix="vendre-feeds-bench-"))
    try:
        small = measure(args.products, work_root, args.rounds)
        big = measure(args.big, work_root, args.big_rounds, one_process=False, three=False) \
            if args.big else None
        split = profile_split(args.products, work_root)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    section = markdown(small, big, split, products=args.products, rounds=args.rounds,
                       big_products=args.big, big_rounds=args.big_rounds, command=command,
                       machine=machine, load_after=machine_info()["load"])
    print(section)
    if args.write:
        write_section("build-bench", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
