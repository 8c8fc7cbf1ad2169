"""Slow clients against the feed server: does /health (and a feed) still answer?

    python -m bench.slow_clients [--trickle 300] [--readers 200] [--big-mb 50] [--hold 10]

Starts the real server (`feeds.server.run.run_server`: waitress with the default
`[server]` settings, no schedule) in a subprocess on 127.0.0.1 over a temporary
data dir holding a generated feed of about 50 MB (the size of 100,000 products'
items; nothing is built). Then, one phase after the other, each `--hold` seconds:

1. baseline: no other client;
2. `--trickle` connections that each send a request line and then one more header
   line every `--trickle-every` seconds, never ending the header;
3. `--readers` connections that each download the big feed reading 16 KB a second;
4. both at once;
5. the trickling of phase 2 against a second server with waitress's old default
   limit of 100 connections (`connection_limit = 100`): what the issue reproduced.

In each phase, from half a second after the attackers connected, /health is
fetched every 0.25 s on a new connection (its latency, and how many answered
within `--timeout`), then the big feed is downloaded once,
and the attackers are checked to be still connected (and the readers still
mid-download), so that the numbers are taken under the attack, not after it. It
prints a Markdown section for BENCHMARKS.md; with `--write` it replaces the part
between `<!-- slow-clients-bench -->` and `<!-- /slow-clients-bench -->`.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from bench.common import BENCHMARKS_FILE, ROOT, child_env, machine_info, write_section
from bench.server_load import free_port, make_feed, publish, wait_listening

SECTION = "slow-clients-bench"  # its markers in BENCHMARKS.md
KEY = "bench-access-key-0123456789"
HEALTH_EVERY_S = 0.25
READ_CHUNK = 16 * 1024  # what a slow reader takes per second, and its receive buffer
OLD_LIMIT = 100  # waitress's default connection_limit, which the server used before


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    health_ms: list[float] = field(default_factory=list)  # answered /health, 200 or 503
    health_failed: int = 0  # timed out or refused
    download_s: float | None = None  # the big feed, whole; None: it failed
    download_error: str = ""
    attackers: str = ""  # how many were still connected at the end
    server_rss_mb: float = 0.0


# ---------------------------------------------------------------- attackers


class Tricklers:
    """Connections that send a request line, then one header line every `every` s."""

    def __init__(self, port: int, count: int, every: float) -> None:
        self.socks = [_connect(port) for _ in range(count)]
        for sock in self.socks:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        self._every, self._stop = every, threading.Event()
        self._thread = threading.Thread(target=self._run, name="tricklers", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            for sock in self.socks:  # spread over the interval, as independent clients would
                if self._stop.wait(self._every / len(self.socks)):
                    return
                try:
                    sock.send(f"X-Trickle-{n}: 1\r\n".encode())
                except OSError:
                    pass  # closed by the server: `alive` counts it
            n += 1

    def alive(self) -> int:
        return sum(_open(sock) for sock in self.socks)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.socks:
            sock.close()


class SlowReaders:
    """Connections that GET `path` and then read READ_CHUNK bytes a second."""

    def __init__(self, port: int, count: int, path: str) -> None:
        self.socks = [_connect(port, rcvbuf=READ_CHUNK) for _ in range(count)]
        request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Accept-Encoding: identity\r\n\r\n").encode()
        for sock in self.socks:
            sock.sendall(request)
            sock.setblocking(False)
        self.received = [b""] * count  # the first bytes (the status line), then counts
        self.counts = [0] * count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="readers", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for i, sock in enumerate(self.socks):
                if self._stop.wait(1 / len(self.socks)):
                    return
                try:
                    data = sock.recv(READ_CHUNK)
                except (BlockingIOError, OSError):
                    continue
                if not self.received[i]:
                    self.received[i] = data[:16]
                self.counts[i] += len(data)

    def alive(self, total: int) -> int:
        """Readers still connected, answered 200 and not done yet."""
        return sum(_open(sock) and self.received[i].startswith(b"HTTP/1.1 200")
                   and self.counts[i] < total for i, sock in enumerate(self.socks))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.socks:
            sock.close()


def _connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    try:
        sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def _open(sock: socket.socket) -> bool:
    """Whether the server still holds `sock` open (peeking, never consuming)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)  # with a timeout, recv would wait for data first
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)


# ---------------------------------------------------------------- the server


@contextmanager
def feed_server(config: Path) -> Iterator[tuple[str, int]]:
    """`run_server` over `config` in a child process: its base URL and pid."""
    port = free_port()
    script = ("from feeds.config import load_config\n"
              "from feeds.server.run import run_server\n"
              f"run_server(load_config({str(config)!r}, env={{}}), '127.0.0.1', {port}, "
              "schedule=False, echo=lambda line: None)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env=child_env(), cwd=str(ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kb = next((int(line.split()[1]) for line in text.splitlines()
               if line.startswith("VmRSS:")), 0)
    return kb / 1024


# ---------------------------------------------------------------- measuring


def fetch(port: int, path: str, timeout: float) -> tuple[int, int]:
    """GET `path` on a new connection and read the answer to its end: (status, body
    bytes). A raw socket, so that what is timed is the server, not a client library.

    :raises OSError: (TimeoutError among them) connecting or reading failed.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: identity"
                     "\r\nConnection: close\r\n\r\n".encode())
        buffer = bytearray(1 << 20)
        head, total = b"", 0
        while n := sock.recv_into(buffer):
            if len(head) < 4096:
                head += bytes(buffer[:n])
            total += n
    end = head.find(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 ") or end < 0:
        raise OSError(f"not an HTTP answer: {head[:40]!r}")
    return int(head[9:12]), total - end - 4


def measure(phase: Phase, port: int, hold: float, timeout: float, big_bytes: int,
            pid: int) -> None:
    """/health every HEALTH_EVERY_S for `hold` seconds, then one download of big.xml."""
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            status, _ = fetch(port, "/health", timeout)
            if status not in (200, 503):  # 503: a feed is old; still an answer
                raise OSError(f"/health answered {status}")
            phase.health_ms.append((time.perf_counter() - started) * 1000)
        except OSError:
            phase.health_failed += 1
        time.sleep(max(0.0, HEALTH_EVERY_S - (time.perf_counter() - started)))
    started = time.perf_counter()
    try:
        status, got = fetch(port, f"/feeds/{KEY}/big.xml", timeout)
        if status != 200 or got != big_bytes:
            raise OSError(f"answered {status} with {got} bytes")
        phase.download_s = time.perf_counter() - started
    except OSError as exc:
        phase.download_error = str(exc) or type(exc).__name__
    phase.server_rss_mb = _rss_mb(pid)


def run_phases(args: argparse.Namespace, data: Path, big_bytes: int) -> list[Phase]:
    config = data.parent / "vendre-feeds.toml"
    config.write_text(f'data_dir = "{data}"\n[server]\naccess_key = "{KEY}"\n'
                      "[schedule]\nevery_minutes = 0\n"
                      '[shop]\nbase_url = "https://shop.example"\n')
    old = data.parent / "old-limit.toml"
    old.write_text(config.read_text().replace("[server]\n",
                                              f"[server]\nconnection_limit = {OLD_LIMIT}\n"))
    trickle = f"{args.trickle} connections trickling headers"
    readers = f"{args.readers} slow readers of big.xml"
    phases = []
    with feed_server(config) as (base, pid):
        port = int(base.rsplit(":", 1)[1])
        phases.append(_phase("baseline: no other client", args, base, pid, big_bytes))
        with _attack(port, args, tricklers=True) as (tr, _):
            phases.append(_phase(trickle, args, base, pid, big_bytes))
            phases[-1].attackers = f"{tr.alive()}/{args.trickle} tricklers connected"
        with _attack(port, args, readers=True) as (_, rd):
            phases.append(_phase(readers, args, base, pid, big_bytes))
            phases[-1].attackers = (f"{rd.alive(big_bytes)}/{args.readers} readers "
                                    f"mid-download, {sum(rd.counts) / 1e6:.0f} MB read")
        with _attack(port, args, tricklers=True, readers=True) as (tr, rd):
            phases.append(_phase(f"{trickle} + {readers}", args, base, pid, big_bytes))
            phases[-1].attackers = (f"{tr.alive()}/{args.trickle} tricklers, "
                                    f"{rd.alive(big_bytes)}/{args.readers} readers")
    with feed_server(old) as (base, pid):
        port = int(base.rsplit(":", 1)[1])
        with _attack(port, args, tricklers=True) as (tr, _):
            phases.append(_phase(f"{trickle}, old limit ({OLD_LIMIT})", args, base, pid,
                                 big_bytes))
            phases[-1].attackers = f"{tr.alive()}/{args.trickle} tricklers connected"
    return phases


@contextmanager
def _attack(port: int, args: argparse.Namespace, *, tricklers: bool = False,
            readers: bool = False) -> Iterator[tuple[Tricklers | None, SlowReaders | None]]:
    tr = Tricklers(port, args.trickle, args.trickle_every) if tricklers else None
    rd = SlowReaders(port, args.readers, f"/feeds/{KEY}/big.xml") if readers else None
    try:
        # Let the server accept them; measuring starts while it fills the readers'
        # socket buffers, the costliest moment of the attack.
        time.sleep(0.5)
        yield tr, rd
    finally:
        for attacker in (tr, rd):
            if attacker:
                attacker.close()


def _phase(name: str, args: argparse.Namespace, base: str, pid: int, big_bytes: int) -> Phase:
    phase = Phase(name)
    print(f"  {name} ...", file=sys.stderr)
    measure(phase, int(base.rsplit(":", 1)[1]), args.hold, args.timeout, big_bytes, pid)
    return phase


# ---------------------------------------------------------------- report


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "–"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.1f} ms"


def _download(phase: Phase, big_bytes: int) -> str:
    if phase.download_s is None:
        return f"failed ({phase.download_error})"
    return f"{phase.download_s:.2f} s ({big_bytes / 1e6 / phase.download_s:,.0f} MB/s)"


def report(phases: list[Phase], facts: dict[str, str]) -> str:
    lines = [
        "## Slow clients (`python -m bench.slow_clients`)",
        "",
        f"- Machine: {facts['cpu']}, {facts['cores']} cores; Python {facts['python']}, "
        f"waitress {facts['waitress']}.",
        f"- Date: {facts['date']}, load average {facts['load']} at the start. "
        f"Command: `{facts['command']}`.",
        f"- Server: `run_server` with the default `[server]` settings ({facts['threads']} "
        f"threads, connection_limit {facts['limit']}, channel_timeout_s {facts['timeout_s']}),"
        f" no schedule; big.xml {facts['big']} ({facts['items']} items), served identity.",
        f"- Tricklers send a request line, then one header line every "
        f"{facts['trickle_every']} s and never end the header. Slow readers download "
        f"big.xml reading 16 KB a second (receive buffer 16 KB). Each phase starts 0.5 s "
        f"after the attackers connected and holds for {facts['hold']} s, fetching /health "
        f"every {HEALTH_EVERY_S} s on a new connection (socket timeout {facts['timeout']} s;"
        " latency = connect to last byte), then "
        "downloads big.xml once (raw socket, identity); all clients run on the same "
        "machine.",
        "",
        "| phase | /health answered | median | p95 | max | big.xml download | "
        "attackers at the end | server RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for p in phases:
        answered = len(p.health_ms)
        lines.append(
            f"| {p.name} | {answered}/{answered + p.health_failed} | "
            f"{_ms(p.health_ms, 0.5) if p.health_ms else '–'} | {_ms(p.health_ms, 0.95)} | "
            f"{f'{max(p.health_ms):.1f} ms' if p.health_ms else '–'} | "
            f"{_download(p, facts['big_bytes'])} | {p.attackers or '–'} | "
            f"{p.server_rss_mb:.0f} MB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trickle", type=int, default=300, help="trickling connections")
    parser.add_argument("--trickle-every", type=float, default=5.0,
                        help="seconds between a trickler's header lines")
    parser.add_argument("--readers", type=int, default=200, help="slow readers")
    parser.add_argument("--big-mb", type=float, default=50.0, help="size of the big feed")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--timeout", type=float, default=5.0, help="client timeout, seconds")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="vendre-feeds-bench-") as tmp:
        data = Path(tmp) / "data"
        big = make_feed(int(args.big_mb * 1e6))
        publish(data, "big", big)
        items = big.count(b"<item>")
        print(f"big.xml: {len(big) / 1e6:.1f} MB, {items:,} items", file=sys.stderr)
        phases = run_phases(args, data, len(big))
    from feeds.config import ServerSettings

    defaults = ServerSettings()
    command = "python -m bench.slow_clients" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    facts = {**machine_info(), "command": command, "waitress": version("waitress"),
             "threads": str(defaults.threads), "limit": str(defaults.connection_limit),
             "timeout_s": str(defaults.channel_timeout_s), "big": f"{len(big) / 1e6:.1f} MB",
             "big_bytes": len(big), "items": f"{items:,}",
             "trickle_every": f"{args.trickle_every:g}", "hold": f"{args.hold:g}",
             "timeout": f"{args.timeout:g}"}
    section = report(phases, facts)
    print(section)
    if args.write:
        write_section(SECTION, section)
        print(f"wrote {BENCHMARKS_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
