"""Load test of the feed server against a plain static file server.

    python -m bench.server_load [--duration 5] [--big-mb 50] [--write]

Starts the real server (`feeds.server.run.run_server`: waitress, the
configured threads, no schedule) in a subprocess on 127.0.0.1 over a temporary
data dir holding a generated ~50 MB feed and a small one, and, as the baseline
measured in the same run, `python -m http.server` over the same `feeds/`
folder. It measures with `wrk` when installed (else a multi-threaded httpx
client): conditional GETs (304) per second, and full-download throughput with
and without gzip, at a few concurrencies. It prints a Markdown section; with
`--write` it replaces the part of BENCHMARKS.md between `<!-- server-bench -->`
and `<!-- /server-bench -->` (appended when absent; other sections are left alone).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import httpx

from bench.common import BENCHMARKS_FILE, ROOT, child_env, machine_info, write_section

SECTION = "server-bench"  # its markers in BENCHMARKS.md
KEY = "bench-access-key-0123456789"
WORDS = ("soft warm wool cotton linen blue red green black white large small classic modern "
         "shirt dress jacket sweater scarf boots shoes bag cap socks organic recycled nordic "
         "summer winter outdoor indoor premium basic slim regular").split()


@dataclass(frozen=True)
class Result:
    """One measurement: requests per second and bytes per second on the wire."""

    requests_s: float
    bytes_s: float
    errors: int = 0


# ---------------------------------------------------------------- data


def _item(rng: random.Random, i: int) -> str:
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))).capitalize()
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(25, 60)))
    return (f"<item><g:id>{i}</g:id><g:title>{title}</g:title>"
            f"<g:description>{text}.</g:description>"
            f"<g:link>https://shop.example/p/{i}-{title.lower().replace(' ', '-')}</g:link>"
            f"<g:image_link>https://shop.example/img/{i}.jpg</g:image_link>"
            f"<g:price>{rng.randint(49, 4999)}.00 SEK</g:price>"
            f"<g:availability>in_stock</g:availability><g:brand>Brand {i % 97}</g:brand>"
            f"<g:gtin>{rng.randrange(10**12, 10**13)}</g:gtin></item>\n")


def make_feed(target_bytes: int, seed: int = 1) -> bytes:
    """A Google-shaped RSS feed of about `target_bytes`, compressible like a real one."""
    rng = random.Random(seed)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
             'xmlns:g="http://base.google.com/ns/1.0"><channel><title>Bench</title>\n']
    size, i = len(parts[0]), 0
    while size < target_bytes:
        i += 1
        parts.append(_item(rng, i))
        size += len(parts[-1])
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def publish(data_dir: Path, stem: str, body: bytes) -> int:
    """Publish a feed the way the build does: file, .gz and the state JSON; the .gz size."""
    from feeds.storage.layout import Layout, PublishedFeed, write_json_atomic

    layout = Layout(data_dir)
    layout.feeds.mkdir(parents=True, exist_ok=True)
    packed = gzip.compress(body, compresslevel=6)
    (layout.feeds / f"{stem}.xml.gz").write_bytes(packed)
    (layout.feeds / f"{stem}.xml").write_bytes(body)
    feed = PublishedFeed(stem=stem, channel="google", file=f"{stem}.xml",
                         content_type="application/xml", items=body.count(b"<item>"),
                         published_at=datetime.now(UTC), bytes=len(body), sha256="")
    write_json_atomic(layout.feed_state(stem), feed.as_json())
    return len(packed)


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@contextmanager
def process(args: list[str], port: int, **kwargs: object) -> Iterator[str]:
    """Run a server process until the block ends; yields its base URL."""
    # Output is discarded: http.server logs every request, and an unread pipe would
    # fill up and stall it.
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            **kwargs)  # type: ignore[call-overload]
    try:
        wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def feed_server(config: Path, port: int) -> Iterator[str]:
    script = ("from feeds.config import load_config\n"
              "from feeds.server.run import run_server\n"
              f"run_server(load_config({str(config)!r}, env={{}}), '127.0.0.1', {port}, "
              "schedule=False, echo=lambda line: None)\n")
    return process([sys.executable, "-c", script], port, env=child_env(), cwd=str(ROOT))


def static_server(folder: Path, port: int) -> Iterator[str]:
    return process([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                    "--directory", str(folder)], port)


# ---------------------------------------------------------------- load


_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def run_wrk(url: str, headers: dict[str, str], connections: int, seconds: float) -> Result:
    threads = max(1, min(connections, os.cpu_count() or 1))
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    amount, unit = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out).groups()
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Result(rate, float(amount) * _UNITS[unit],
                  (int(bad.group(1)) if bad else 0) + socket_errors)


def run_python(url: str, headers: dict[str, str], connections: int, seconds: float) -> Result:
    """The fallback load generator: one httpx client per thread, bodies read raw."""
    counts = [[0, 0, 0] for _ in range(connections)]
    deadline = time.monotonic() + seconds

    def worker(slot: list[int]) -> None:
        with httpx.Client(timeout=30, headers=headers) as client:
            while time.monotonic() < deadline:
                with client.stream("GET", url) as response:
                    slot[1] += sum(len(chunk) for chunk in response.iter_raw(1 << 16))
                slot[0] += 1
                slot[2] += response.status_code >= 400

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in counts]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - started
    return Result(sum(c[0] for c in counts) / took, sum(c[1] for c in counts) / took,
                  sum(c[2] for c in counts))


def measure(url: str, headers: dict[str, str], connections: int, seconds: float) -> Result:
    runner = run_wrk if shutil.which("wrk") else run_python
    return runner(url, headers, connections, seconds)


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    concurrency: tuple[int, ...]
    unit: str  # "req" or "mb"


SCENARIOS = (
    Scenario("conditional GET of the small feed, 304", (1, 8, 32), "req"),
    Scenario("full download of the big feed, identity", (1, 4), "mb"),
    Scenario("full download of the big feed, gzip", (1, 4), "mb"),
)


def requests_for(base: str, baseline: bool) -> dict[str, tuple[str, dict[str, str]]]:
    """Per scenario: the URL and headers, checked once to answer as the scenario says."""
    prefix = base if baseline else f"{base}/feeds/{KEY}"
    first = httpx.get(f"{prefix}/small.xml", headers={"Accept-Encoding": "identity"})
    # http.server has no ETag; its conditional GET is If-Modified-Since.
    conditional = ({"If-Modified-Since": first.headers["last-modified"]} if baseline
                   else {"If-None-Match": first.headers["etag"]})
    conditional["Accept-Encoding"] = "identity"  # the ETag above is the identity variant's
    plans = {
        SCENARIOS[0].name: (f"{prefix}/small.xml", conditional),
        SCENARIOS[1].name: (f"{prefix}/big.xml", {"Accept-Encoding": "identity"}),
        # http.server does not negotiate gzip: the baseline fetches the .gz file itself.
        SCENARIOS[2].name: ((f"{prefix}/big.xml.gz", {}) if baseline else
                            (f"{prefix}/big.xml", {"Accept-Encoding": "gzip"})),
    }
    _check(plans, baseline)
    return plans


def _check(plans: dict[str, tuple[str, dict[str, str]]], baseline: bool) -> None:
    """Fail before measuring if a scenario would not measure what its name says."""
    url, headers = plans[SCENARIOS[0].name]
    if httpx.get(url, headers=headers).status_code != 304:
        raise RuntimeError(f"the conditional GET of {url} is not answered with 304")
    url, headers = plans[SCENARIOS[2].name]
    with httpx.stream("GET", url, headers=headers) as response:
        gzipped = baseline or response.headers.get("content-encoding") == "gzip"
        if response.status_code != 200 or not gzipped:
            raise RuntimeError(f"{url} is not served gzipped")


def run_all(base: str, baseline: bool, seconds: float) -> dict[tuple[str, int], Result]:
    plans = requests_for(base, baseline)
    results = {}
    for scenario in SCENARIOS:
        url, headers = plans[scenario.name]
        for connections in scenario.concurrency:
            results[scenario.name, connections] = measure(url, headers, connections, seconds)
            print(f"  {'baseline' if baseline else 'vendre-feeds'}: {scenario.name}, "
                  f"c={connections}: {_cell(scenario, results[scenario.name, connections])}",
                  file=sys.stderr)
    return results


# ---------------------------------------------------------------- report


def _cell(scenario: Scenario, result: Result) -> str:
    errors = f", {result.errors} errors" if result.errors else ""
    if scenario.unit == "req":
        return f"{result.requests_s:,.0f} req/s{errors}"
    return f"{result.bytes_s / 1e6:,.0f} MB/s ({result.requests_s:.1f} downloads/s){errors}"


def tool_name() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        return "a multi-threaded httpx client (wrk is not installed)"
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    match = re.search(r"wrk (\S+)", out.stdout + out.stderr)
    return f"wrk {match.group(1) if match else ''}".strip()


def report(ours: dict, base: dict, facts: dict[str, str]) -> str:
    lines = [
        "## Feed server (`python -m bench.server_load`)",
        "",
        f"- Machine: {facts['cpu']}, {facts['cores']} cores; Python {facts['python']}, "
        f"waitress {version('waitress')}, Werkzeug {version('werkzeug')}, Flask "
        f"{version('flask')}.",
        f"- Date: {facts['date']}. Command: `{facts['command']}`.",
        f"- Load generator: {facts['tool']}, on the same machine; {facts['seconds']} s per cell.",
        f"- Feeds: big.xml {facts['big']} (gzip {facts['big_gz']}), small.xml {facts['small']}.",
        f"- vendre-feeds: `run_server` (waitress, {facts['threads']} threads, no schedule). "
        "Baseline: `python -m http.server` (ThreadingHTTPServer) over the same `feeds/` "
        "folder, started in the same run; it has no ETag (its conditional GET uses "
        "If-Modified-Since) and no gzip negotiation (it serves `big.xml.gz` by name).",
        "",
        "| scenario | concurrency | vendre-feeds | baseline http.server |",
        "| --- | ---: | ---: | ---: |",
    ]
    for scenario in SCENARIOS:
        for connections in scenario.concurrency:
            key = (scenario.name, connections)
            lines.append(f"| {scenario.name} | {connections} | {_cell(scenario, ours[key])} | "
                         f"{_cell(scenario, base[key])} |")
    return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--big-mb", type=float, default=50.0, help="size of the big feed")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="vendre-feeds-bench-") as tmp:
        data = Path(tmp) / "data"
        big = make_feed(int(args.big_mb * 1e6))
        small = make_feed(40_000, seed=2)
        big_gz = publish(data, "big", big)
        publish(data, "small", small)
        config = Path(tmp) / "vendre-feeds.toml"
        config.write_text(f'data_dir = "{data}"\n[server]\naccess_key = "{KEY}"\n'
                          "[schedule]\nevery_minutes = 0\n"
                          '[shop]\nbase_url = "https://shop.example"\n')
        with feed_server(config, free_port()) as url:
            ours = run_all(url, False, args.duration)
        with static_server(data / "feeds", free_port()) as url:
            base = run_all(url, True, args.duration)
    from feeds.config import ServerSettings

    command = "python -m bench.server_load" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    facts = {**machine_info(), "tool": tool_name(), "command": command,
             "seconds": f"{args.duration:g}", "big": _size(len(big)),
             "big_gz": _size(big_gz), "small": _size(len(small)),
             "threads": str(ServerSettings().threads)}
    section = report(ours, base, facts)
    print(section)
    if args.write:
        write_section(SECTION, section)
        print(f"wrote {BENCHMARKS_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
