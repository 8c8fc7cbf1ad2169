"""Benchmark of a fleet: N demo-sized shops refreshed by Celery workers on 2 shards.

    python -m bench.fleet [--shops 100] [--latency 0.05] [--shards 2] [--concurrency 2]
                          [--write]

The benchmark process starts a real `redis-server` on 127.0.0.1 and one fake Vendre
`/API/1` per shop (`tests.fakes.vendre_api.FakeVendre` serving the demo shop's catalogue:
36 products, 9 categories and 11 orders, in pages of 10 as `vendre-feeds demo` reads
them), each waiting `--latency` seconds before every answer. It writes a fleet file and a
shops folder, starts one `vendre-feeds fleet worker --shard K --concurrency C` process per
shard, and measures:

1. one full refresh round of every shop through the workers (`fleet run`'s path: queue
   every shop, wait for every outcome); every shop must end ok;
2. a second round with nothing changed;
3. the baseline, in the same run: a sequential loop over the same shops in one process
   (`run_refresh_once` per shop, into a fresh state folder), as a single machine with a
   cron line per shop would do it.

Every shop publishes to object storage: the fleet file's `[publish]` points at moto's S3
server on 127.0.0.1 (`tests.fakes.s3`, which counts every request), each shop under its
own prefix; the loop uploads under another prefix, so it does the same work.

It reports the wall time and the throughput of each, the fleet's speed-up over the loop,
the S3 requests per shop of each round (the second should put only each shop's static
status page), Redis's memory before and after, and the peak RSS (VmHWM) of every worker
process. `--write` replaces this benchmark's section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.common import BENCHMARKS_FILE, machine_info, run_measured, write_section

__all__ = ["SECTION", "main", "run_benchmark"]

SECTION = "fleet-bench"
PAGE_SIZE = 10  # as the demo pages through its shop
BUCKET = "fleet-bench"
# The standard AWS chain's variables, for moto (any key works) and for nothing else.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "eu-north-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": "/nonexistent/aws-config",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials"}


@dataclass(frozen=True)
class Round:
    name: str
    wall_s: float
    ok: int
    failed: list[str]
    s3_requests: int = 0
    s3_puts: int = 0
    fakes_cpu_s: float = 0.0  # CPU the benchmark process (the fakes, moto) used meanwhile

    def per_s(self, shops: int) -> float:
        return shops / self.wall_s if self.wall_s else 0.0


@dataclass
class Result:
    shops: int
    latency: float
    shards: int
    concurrency: int
    command: str
    machine: dict[str, str]
    split: Counter[int] = field(default_factory=Counter)
    rounds: list[Round] = field(default_factory=list)
    sequential: Round | None = None
    sequential_peak_mb: float = 0.0
    pages_per_shop: float = 0.0
    redis_before: int = 0
    redis_after: int = 0
    workers: list[tuple[int, float, list[float]]] = field(default_factory=list)  # shard,
    # the main process's peak MB, each pool process's peak MB

    def markdown(self) -> str:
        m = self.machine
        first = self.rounds[0]
        seq = self.sequential
        speed = seq.wall_s / first.wall_s if seq and first.wall_s else 0.0
        lines = [
            f"## A fleet: {self.shops} demo-sized shops on {self.shards} shards x "
            f"{self.concurrency} worker processes",
            "",
            f"Command: `{self.command}`",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}. "
            f"Measured {m['date']}; load average (1 min) at the start: {m['load']}. The "
            "machine was shared with other work while this ran (the numbers are a floor "
            "of what the fleet does, not a ceiling).",
            "",
            f"Each shop has its own fake Vendre `/API/1` on 127.0.0.1 (`tests/fakes/"
            f"vendre_api.py`) serving the demo shop's catalogue (36 products, 9 categories, "
            f"11 orders) in pages of {PAGE_SIZE}, waiting **{self.latency * 1000:g} ms** "
            f"before every answer ({self.pages_per_shop:.0f} requests per refresh). A refresh "
            "is the real one: sync, build of Google, Meta and Criteo, the tracking index. "
            f"Shards by `crc32(name) % {self.shards}`: "
            + ", ".join(f"shard {k} {n} shops" for k, n in sorted(self.split.items()))
            + ". Redis is Debian's `redis-server` on 127.0.0.1; the workers are "
            "`vendre-feeds fleet worker` processes (Celery prefork).",
            "",
            "| run | wall time | shops/s | ok | failed | S3 requests per shop | of which PUT "
            "| CPU of the fakes |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for run in [*self.rounds, *([seq] if seq else [])]:
            lines.append(f"| {run.name} | {run.wall_s:.1f} s | {run.per_s(self.shops):.2f} | "
                         f"{run.ok} | {len(run.failed)} | {run.s3_requests / self.shops:.1f} | "
                         f"{run.s3_puts / self.shops:.1f} | {run.fakes_cpu_s:.1f} s |")
        lines += ["", "The fakes (a Vendre API per shop and moto's S3) run in the benchmark "
                  "process, on the same two cores as the workers: their CPU time is in the "
                  "last column."]
        lines += [
            "",
            f"**Throughput.** The fleet's first round took {first.wall_s:.1f} s against "
            f"{seq.wall_s:.1f} s for the sequential loop over the same shops: "
            f"**{speed:.2f}x**. Each refresh waits for its shop "
            f"({self.pages_per_shop:.0f} x {self.latency * 1000:g} ms), and while one worker "
            "process waits another one works: that is why "
            f"{self.shards * self.concurrency} processes can beat one by more than the "
            "machine's cores. The second round reads and builds everything again (Vendre's "
            "API has no changes-since) but publishes nothing new." if seq else "",
            "",
            "**Memory.** Redis held "
            f"{self.redis_before / 1024:.0f} KB before the first round and "
            f"{self.redis_after / 1024:.0f} KB after both "
            f"({(self.redis_after - self.redis_before) / max(self.shops, 1):.0f} bytes per shop: "
            "its outcome record and a day of job records). Peak RSS (VmHWM) per worker: "
            + "; ".join(f"shard {k}: main process {main:.0f} MB, pool processes "
                        + ", ".join(f"{mb:.0f}" for mb in pool) + " MB"
                        for k, main, pool in self.workers)
            + f". The sequential loop's one process: {self.sequential_peak_mb:.0f} MB. "
            "Its wall time is the child process's, interpreter start to exit; the fleet's "
            "runs from the first job queued to the last outcome read, the workers already "
            "started.",
            "",
            "**Object storage.** Every shop publishes to moto's S3 server on 127.0.0.1 "
            "(`tests/fakes/s3.py` counts the requests), under `shops/<name>/` from the fleet "
            "file's `[publish]`: the feeds and their `.gz` twins, the loader, the index shards "
            "and the static status page. With nothing changed, a round lists each shop's "
            "folders and puts only its status page.",
        ]
        return "\n".join(line for line in lines if line is not None)


# ---------------------------------------------------------------- the sequential baseline


def sequential_loop(fleet_file: str, state_root: str) -> None:
    """Refresh every shop of the fleet one after the other in this process, each into
    `<state_root>/<name>/` and under `sequential/<name>/` of the bucket (run as a child by
    the benchmark)."""
    from feeds.config import load_fleet
    from feeds.config.fleet import inherit_publish
    from feeds.fleet.tasks import refresh_job
    from feeds.server.schedule import run_refresh_once

    fleet = load_fleet(fleet_file)
    elsewhere = {**fleet.publish, "target": f"s3://{BUCKET}/sequential"}
    failed = []
    for name in fleet.shop_names():
        cfg = fleet.load_shop(name, overrides={"data_dir": str(Path(state_root) / name),
                                               "publish": inherit_publish(elsewhere, None, name)})
        outcome = run_refresh_once(cfg, refresh_job, log_failure=False)
        if not outcome.ok:
            failed.append(f"{name}: {outcome.error}")
    print(json.dumps({"failed": failed}))


# ---------------------------------------------------------------- the fleet


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            return int(next(line.split()[1] for line in fh if line.startswith("VmHWM:")))
    except (OSError, StopIteration, ValueError):
        return 0


def run_benchmark(*, shops: int, latency: float, shards: int, concurrency: int,
                  command: str, log: Callable[[str], None] = print) -> Result:
    """Start Redis, the fake shops and the workers; run the rounds and the loop."""
    from feeds.fleet.celery_app import make_celery
    from feeds.fleet.control import enqueue, wait
    from feeds.fleet.records import Records
    from tests.fakes.redis_server import RedisServer
    from tests.fakes.s3 import S3Fake
    from tests.fleetkit import FleetDir, WorkerProcess, demo_api, toml_text

    result = Result(shops, latency, shards, concurrency, command, machine_info())
    work = Path(tempfile.mkdtemp(prefix="vendre-fleet-bench-"))
    apis = []
    workers: list[WorkerProcess] = []
    try:
        os.environ.update(AWS_ENV)  # the workers and the loop inherit them
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            os.environ.pop(name, None)
        with RedisServer() as redis_server, S3Fake() as s3:
            s3.client().create_bucket(Bucket=BUCKET, CreateBucketConfiguration={
                "LocationConstraint": "eu-north-1"})
            fleet_dir = FleetDir(work / "fleet", redis_server.url, shards=shards,
                                 lock_lease_s=60, visibility_timeout_s=3600,
                                 time_limit_s=3000)
            fleet_dir.file.write_text(fleet_dir.file.read_text("utf-8") + toml_text(
                {"publish": {"target": f"s3://{BUCKET}/shops", "region": "eu-north-1",
                             "endpoint_url": s3.endpoint_url}}), "utf-8")
            now = datetime.now(UTC)
            log(f"starting {shops} fake shops ({latency * 1000:g} ms a page) ...")
            for i in range(shops):
                name = f"shop-{i:03d}"
                key = f"{name}-vendre-key-0123456789"
                api = demo_api(now, api_key=key, latency=latency)
                api.max_page_size = PAGE_SIZE
                apis.append(api.start())
                fleet_dir.add_shop(name, api.url, key, vendre={"page_size": PAGE_SIZE})
            fleet = fleet_dir.load()
            for name in fleet.shop_names():
                result.split[fleet.shard_of(name, fleet.load_shop(name, reader=True))] += 1
            log(f"shards: {dict(sorted(result.split.items()))}; starting the workers ...")
            for shard in range(shards):
                workers.append(WorkerProcess(fleet_dir, shard, concurrency=concurrency).start())
            client = redis_server.client()
            result.redis_before = redis_server.used_memory()
            send = make_celery(fleet).send_task
            records = Records(client)
            for name in ("fleet, first round", "fleet, second round (nothing changed)"):
                log(f"{name} ...")
                for api in apis:
                    api.reset()
                s3.clear()
                cpu = _own_cpu_s()
                started = time.perf_counter()
                outcomes = wait(records, enqueue(fleet, send, []), timeout_s=3600)
                wall = time.perf_counter() - started
                s3.wait_quiet()
                failed = [f"{r.shop}: {r.error}" for r in outcomes if not r.ok]
                result.rounds.append(Round(name, wall, len(outcomes) - len(failed), failed,
                                           s3.count(), len(s3.puts()), _own_cpu_s() - cpu))
                log(f"  {wall:.1f} s, {len(failed)} failed {failed[:3]}")
                if name.startswith("fleet, first"):
                    pages = sum(len(a.requests) for a in apis)
                    result.pages_per_shop = pages / shops
            result.redis_after = redis_server.used_memory()
            for worker in workers:
                main_pid = worker.process.pid if worker.process else 0
                pool = [_peak_kb(pid) / 1024 for pid in worker.pids() if pid != main_pid]
                result.workers.append((worker.shard, _peak_kb(main_pid) / 1024, pool))
                worker.stop()
            log("sequential loop over the same shops ...")
            for api in apis:
                api.reset()
            s3.clear()
            seq_root = work / "sequential"
            cpu = _own_cpu_s()
            measured = run_measured("bench.fleet", ["--sequential", str(fleet_dir.file),
                                                    str(seq_root)], work=work,
                                    env=fleet_dir.keys)
            s3.wait_quiet()
            failed = json.loads(measured.stdout.strip().splitlines()[-1])["failed"]
            result.sequential = Round("sequential loop, one process", measured.seconds,
                                      shops - len(failed), failed, s3.count(),
                                      len(s3.puts()), _own_cpu_s() - cpu)
            result.sequential_peak_mb = measured.peak_mb
            log(f"  {measured.seconds:.1f} s, {len(failed)} failed")
    finally:
        for worker in workers:
            worker.kill()
        for api in apis:
            api.stop()
        shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--shops", type=int, default=100, help="default: %(default)s")
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds each fake shop waits per answer (default: %(default)s)")
    parser.add_argument("--shards", type=int, default=2, help="default: %(default)s")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="worker processes per shard (default: %(default)s)")
    parser.add_argument("--write", action="store_true",
                        help=f"replace this benchmark's section of {BENCHMARKS_FILE.name}")
    parser.add_argument("--sequential", nargs=2, metavar=("FLEET", "STATE"),
                        help=argparse.SUPPRESS)  # the baseline's child process
    args = parser.parse_args(argv)
    if args.sequential:
        sequential_loop(*args.sequential)
        return 0
    if min(args.shops, args.shards, args.concurrency) < 1 or args.latency < 0:
        parser.error("--shops, --shards and --concurrency must be positive")
    command = (f"python -m bench.fleet --shops {args.shops} --latency {args.latency:g} "
               f"--shards {args.shards} --concurrency {args.concurrency}"
               + (" --write" if args.write else ""))
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f}; other work on this machine will skew "
              "the numbers", file=sys.stderr)
    result = run_benchmark(shops=args.shops, latency=args.latency, shards=args.shards,
                           concurrency=args.concurrency, command=command,
                           log=lambda line: print(line, flush=True))
    section = result.markdown()
    print()
    print(section)
    if args.write:
        write_section(SECTION, section)
        print(f"wrote the {SECTION} section of {BENCHMARKS_FILE}")
    bad = [r for r in [*result.rounds, result.sequential] if r is not None and r.failed]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
