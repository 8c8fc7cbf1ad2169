"""Benchmark of `vendre-feeds sync` against a hostile shop, full size, beside an honest one.

    python -m bench.hostile_sync [--products 10000] [--modes drip,huge,...]

The benchmark process serves `tests.fakes.hostile_vendre.HostileVendre` on
127.0.0.1: N generated products (`bench.synthetic`, produced per page, never
held) and one category. It runs the real CLI, `python -m feeds --config <tmp>
sync`, as a child process once per case, each into a fresh data dir that first
gets an honest sync (so every hostile sync has a snapshot to keep), and prints
per case the wall time and the peak RSS of the hostile sync, its exit code and
its one error line, what the shop sent, and whether the key reached the disk
or the other host. The baseline is the honest sync of the same N products in
the same run.

The cases are the issue's full-size attacks, with the default settings unless
the table says otherwise: a body dripped one byte a second (`timeout_s` 5 and
one retry here, else a case takes minutes; and once more with only the whole
sync's deadline, 15 s, to end it), a first page promising 10^9 items, one
promising 10^6 and then serving empty pages, a 600 MB page (chunked, and with
its Content-Length), 200,000 nested arrays, the key echoed in the reason
phrase, and a redirect to another port.

Peak RSS is the sync process's own VmHWM, measured by `bench.common.run_measured`.
Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from bench import synthetic
from bench.common import machine_line, run_measured
from tests.fakes.hostile_vendre import HostileVendre

__all__ = ["CASES", "Case", "Outcome", "main", "run_benchmark"]

KEY = "bench-hostile-key-2e71c0d94b"
PAGE_SIZE = 250
DRIP_S = 1.0


@dataclass(frozen=True)
class Case:
    """One hostile sync: the shop's mode and settings, and [vendre] settings over ours."""

    name: str
    mode: str
    shop: dict[str, Any] = field(default_factory=dict)
    vendre: dict[str, Any] = field(default_factory=dict)


CASES = (
    Case("drip", "drip", {"drip_s": DRIP_S}, {"timeout_s": 5, "retries": 1}),
    Case("drip-sync-deadline", "drip", {"drip_s": DRIP_S},
         {"timeout_s": 3600, "sync_deadline_minutes": 0.25}),
    Case("liar-1e9", "liar", {"liar_total": 10**9}),
    Case("liar-empty-pages", "liar", {"liar_total": 10**6}),
    Case("huge-600mb", "huge", {"huge_bytes": 600 * 2**20}),
    Case("huge-600mb-length", "huge", {"huge_bytes": 600 * 2**20, "huge_length": True}),
    Case("nested-200000", "nested", {"nesting": 200_000}),
    Case("reason-echo", "reason_echo"),
    Case("redirect", "redirect"),
)


@dataclass(frozen=True)
class Outcome:
    """One `vendre-feeds sync` child process."""

    name: str
    wall_s: float
    peak_rss_mb: float
    exit_code: int
    error: str  # its last line on stderr (the one error line when it failed)
    requests: int  # requests the shop answered in this run
    sent_mb: float  # body bytes the shop handed to its sockets
    key_on_disk: bool
    key_elsewhere: bool  # the other host of the redirect received the key


class _Generated(Sequence[dict]):
    """`bench.synthetic` products as a sequence: pages are made when sliced, never held."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> dict: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict]: ...

    def __getitem__(self, index: int | slice) -> dict | list[dict]:
        if isinstance(index, slice):
            start, stop, _ = index.indices(self._n)
            return synthetic.products(start, max(0, stop - start))
        return synthetic.product(index)


# ---------------------------------------------------------------- the sync child


def _child(config: str) -> None:
    """Run `sync` in this process, then print its exit code and stderr as JSON and exit 0.

    `run_measured` wants a child that exits 0; a hostile sync exits 1.
    """
    from feeds.cli import main as cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            cli(["--config", config, "sync"])
            code: Any = 0
        except SystemExit as exc:
            code = exc.code
    print(json.dumps({"exit": code if isinstance(code, int) else 1, "stderr": err.getvalue()}))


def _write_config(tmp: Path, api_url: str, vendre: dict[str, Any]) -> Path:
    settings = {"api_url": api_url, "page_size": PAGE_SIZE, **vendre}
    lines = [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v!r}"
             for k, v in settings.items()]
    config = tmp / "vendre-feeds.toml"
    config.write_text(f'data_dir = "{tmp / "data"}"\n[vendre]\n' + "\n".join(lines) + "\n"
                      '[shop]\nbase_url = "https://shop.example"\n', encoding="utf-8")
    return config


def _sync(shop: HostileVendre, name: str, config: Path, work: Path) -> Outcome:
    asked, sent = len(shop.requests), shop.bytes_sent
    measured = run_measured("bench.hostile_sync", ["--child", str(config)], work=work,
                            env={"VENDRE_API_KEY": KEY})
    child = json.loads(measured.stdout.strip().splitlines()[-1])
    lines = child["stderr"].strip().splitlines()
    on_disk = any(KEY.encode() in p.read_bytes() for p in work.rglob("*") if p.is_file())
    return Outcome(name, measured.seconds, measured.peak_mb, child["exit"],
                   lines[-1] if lines else "", len(shop.requests) - asked,
                   (shop.bytes_sent - sent) / 2**20, on_disk,
                   any(r.sent_key for r in shop.elsewhere.requests))


def run_benchmark(*, products: int, cases: Sequence[Case] = CASES,
                  work_dir: Path | None = None,
                  log: Callable[[str], None] = lambda _line: None) -> list[Outcome]:
    """The honest baseline, then each case in a fresh data dir after an honest sync."""
    outcomes: list[Outcome] = []
    base = Path(tempfile.mkdtemp(prefix="vendre-hostile-bench-", dir=work_dir))
    try:
        with HostileVendre(products=_Generated(products), categories=[{"id": 1}],
                           api_key=KEY, max_page_size=PAGE_SIZE) as shop:
            defaults = {name: getattr(shop, name) for case in cases for name in case.shop}
            for case in (Case("baseline", "normal"), *cases):
                work = Path(tempfile.mkdtemp(prefix=f"{case.name}-", dir=base))
                config = _write_config(work, shop.url, case.vendre)
                shop.mode = "normal"
                for attribute, value in defaults.items():
                    setattr(shop, attribute, value)
                if case.mode != "normal":
                    honest = _sync(shop, "honest", config, work)
                    if honest.exit_code != 0:
                        raise RuntimeError(f"{case.name}: the honest sync failed: {honest.error}")
                for attribute, value in case.shop.items():
                    setattr(shop, attribute, value)
                shop.mode = case.mode
                log(f"{case.name} ...")
                outcomes.append(_sync(shop, case.name, config, work))
                log(f"  {_row(outcomes[-1])}")
                shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return outcomes


def _row(o: Outcome) -> str:
    error = o.error if len(o.error) <= 150 else o.error[:147] + "..."
    return (f"{o.name:<20} {o.wall_s:6.1f} s {o.peak_rss_mb:6.0f} MB  exit {o.exit_code}  "
            f"{o.requests:>4} req {o.sent_mb:7.1f} MB sent  key on disk: "
            f"{'YES' if o.key_on_disk else 'no'}, elsewhere: "
            f"{'YES' if o.key_elsewhere else 'no'}  {error}")


def table(outcomes: Sequence[Outcome]) -> str:
    header = (f"{'case':<20} {'wall':>8} {'peak RSS':>9}  exit  requests  sent by the shop  "
              "key leaked  the last line on stderr")
    return "\n".join([header, *(_row(o) for o in outcomes)])


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hostile_sync",
        description="Time and peak RSS of `vendre-feeds sync` under each hostile shop mode, "
                    "beside an honest sync of the same catalogue.")
    parser.add_argument("--products", type=int, default=10_000, help="default: %(default)s")
    parser.add_argument("--modes", default="",
                        help="comma-separated case names (default: all of "
                             + ", ".join(c.name for c in CASES) + ")")
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    wanted = [m for m in args.modes.split(",") if m]
    unknown = set(wanted) - {c.name for c in CASES}
    if unknown or args.products < 1:
        parser.error(f"unknown cases {sorted(unknown)}" if unknown else
                     "--products must be positive")
    cases = [c for c in CASES if not wanted or c.name in wanted]
    print(machine_line(), flush=True)
    print(f"fake shop: {args.products:,} generated products, page size {PAGE_SIZE}",
          flush=True)
    outcomes = run_benchmark(products=args.products, cases=cases,
                             log=lambda line: print(line, flush=True))
    print()
    print(table(outcomes))
    leaks = [o.name for o in outcomes if o.key_on_disk or o.key_elsewhere]
    if leaks:
        print(f"the key leaked in: {', '.join(leaks)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
