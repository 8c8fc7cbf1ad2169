"""S3 requests per round: what a run uploads to `[publish] target`, with and without changes.

    python -m bench.s3_requests [--products 10000] [--write]

One shop of N synthetic products (`bench.synthetic`), with Google (and a second
country), Meta, Criteo and the tracking index, publishing to moto's S3 server
(`tests/fakes/s3.py`), served by this process on 127.0.0.1, which counts every
request and the bytes of their bodies. The rounds, each `Uploader.files()` then
`Uploader.status_page()` as a run does them after its local publish:

1. the first upload, into an empty bucket;
2. a round with no change: the same snapshot built again an hour later (the
   same UTC day: bestseller windows move at midnight);
3. the baseline of the same run: that round with every file uploaded (`--all`),
   what a tool that re-uploads everything would send;
4. a round after 1 % of the products got a new price.

Wall times include moto's own work (it runs in this process) and are shown only
for orientation; the request counts are the point.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import machine_line, write_section
from bench.marketplaces_ii import fill_store
from bench.synthetic import BASE_URL
from feeds.config import Config, load_config
from feeds.jobs.refresh import build_all
from feeds.progress import make_progress
from feeds.server.upload import Uploader
from tests.fakes.s3 import S3Fake

__all__ = ["Round", "main", "markdown", "run"]

BUCKET = "bench-feeds"
ACCESS_KEY = "bench-access-key-0123456789"


@dataclass(frozen=True)
class Round:
    name: str
    requests: Counter[str]
    uploaded_bytes: int
    objects: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def _config(data: Path, endpoint: str) -> Config:
    return load_config(env={}, use_file=False, overrides={
        "data_dir": str(data),
        "shop": {"name": "Bench", "base_url": BASE_URL, "default_brand": "Bench"},
        "server": {"access_key": ACCESS_KEY},
        "tracking": {"site_key": "bench", "gtm_id": "GTM-BENCH1"},
        "publish": {"target": f"s3://{BUCKET}/shops/bench", "endpoint_url": endpoint,
                    "public_url": "https://cdn.bench.example"},
        "channels": {"google": {"targets": [{"file": "google-no", "country": "NO",
                                             "language": "sv", "currency": "NOK",
                                             "rate": 0.98}]}}})


def _round(name: str, s3: S3Fake, cfg: Config, *, everything: bool = False) -> Round:
    s3.clear()
    start = time.perf_counter()
    uploader = Uploader(cfg)
    synced = uploader.files(everything=everything)
    uploader.status_page()
    seconds = time.perf_counter() - start
    return Round(name, Counter(method for method, _, _ in s3.requests), s3.received,
                 len(synced.uploaded) + synced.unchanged + 1, seconds)


def _build(cfg: Config, now: datetime) -> None:
    results = build_all(cfg, now=now, progress=make_progress(quiet=True), force=True)
    failed = [r.stem for r in results if not r.published]
    if failed:
        raise RuntimeError(f"not published: {failed}")


def run(products: int, work: Path) -> list[Round]:
    """The four rounds against a fresh S3 server."""
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "eu-north-1"),
                        ("AWS_EC2_METADATA_DISABLED", "true"),
                        ("AWS_CONFIG_FILE", "/nonexistent"),
                        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")):
        os.environ[name] = value
    data = work / "data"
    # Four builds an hour apart within one UTC day, as an hourly schedule runs them.
    now = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    with S3Fake() as s3:
        s3.client().create_bucket(Bucket=BUCKET, CreateBucketConfiguration={
            "LocationConstraint": "eu-north-1"})
        cfg = _config(data, s3.endpoint_url)
        steps: list[tuple[str, Callable[[], None], bool]] = [
            ("first upload, empty bucket", lambda: fill_store(data, products), False),
            ("no change (built again an hour later)", lambda: None, False),
            ("baseline: no change, every file uploaded", lambda: None, True),
            ("1 % of prices changed", lambda: fill_store(data, products, changed=True), False),
        ]
        rounds = []
        for hour, (name, prepare, everything) in enumerate(steps):
            prepare()
            _build(cfg, now + timedelta(hours=hour))
            rounds.append(_round(name, s3, cfg, everything=everything))
    return rounds


def markdown(rounds: Sequence[Round], products: int, command: str) -> str:
    lines = [
        "## Object storage: S3 requests per round (`python -m bench.s3_requests`)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine_line()}.",
        "",
        f"One shop of {products:,} synthetic products: Google (SE and a NO target), Meta, "
        "Criteo and the tracking index, uploaded to moto's S3 server on 127.0.0.1 "
        "(`tests/fakes/s3.py`, which counts every request and its body's bytes). Each "
        "round is what a run does after its local publish: `Uploader.files()`, then the "
        "static status page. The baseline, in the same run, uploads every file whatever "
        "the bucket holds (`vendre-feeds upload --all`). Wall times include moto's own "
        "work in the same process: for orientation only.",
        "",
        "| round | objects | PUT | GET (listings) | DELETE/POST | all requests | bytes uploaded "
        "| wall time |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rounds:
        other = r.total - r.requests["PUT"] - r.requests["GET"]
        lines.append(f"| {r.name} | {r.objects} | {r.requests['PUT']} | {r.requests['GET']} "
                     f"| {other} | **{r.total}** | {r.uploaded_bytes / 1e6:,.2f} MB "
                     f"| {r.seconds:.2f} s |")
    quiet, changed = rounds[1], rounds[3]
    lines += [
        "",
        f"With no change a round makes {quiet.total} requests: one listing each of "
        "`feeds/<key>/` and `t/<site_key>/` (1,000 keys a page) and the one PUT of the "
        "status page, which shows the run's outcome. Everything else is compared by ETag "
        "(MD5) and left alone: the build writes byte-identical feeds, `.gz` twins, index "
        "shards and loader for an unchanged catalogue. After 1 % of the prices changed, "
        f"{changed.requests['PUT']} of {changed.objects} objects went up: the repriced "
        "products are spread over every feed and, by their keys' hash, over the index "
        "shards, so a small change still touches most files; what the comparison saves is "
        "every round in which the catalogue did not change.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--write", action="store_true", help="record in BENCHMARKS.md")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    try:
        rounds = run(args.products, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = "python -m bench.s3_requests" + \
        (f" --products {args.products}" if args.products != 10_000 else "") + \
        (" --write" if args.write else "")
    text = markdown(rounds, args.products, command)
    print(text)
    if args.write:
        write_section("s3-requests", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
