"""A fleet on this machine, for the fleet's tests and its benchmark (no pytest here):

- `FleetDir`: a fleet file and a shops folder in a temporary folder, shops added one
  by one (each with its own keys and the variable holding its Vendre API key);
- `demo_api(...)`: a fake Vendre `/API/1` on loopback serving the demo shop's catalogue
  (`feeds.demo`), with latency if asked;
- `WorkerProcess`: a real `vendre-feeds fleet worker` process in its own process group
  (so that a test can SIGKILL the whole worker, pool processes included, as a lost
  machine or an OOM-killed container loses them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds.config import Fleet, load_fleet
from feeds.demo import demo_categories, demo_orders, demo_products
from tests.fakes.vendre_api import FakeVendre

__all__ = ["FleetDir", "WorkerProcess", "demo_api", "toml_text"]

ROOT = Path(__file__).resolve().parent.parent


def toml_text(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """TOML for tables of plain values (strings, numbers, booleans)."""
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        for key, value in table.items():
            if isinstance(value, bool):
                shown = "true" if value else "false"
            elif isinstance(value, (int, float)):
                shown = str(value)
            else:
                shown = json.dumps(str(value), ensure_ascii=False)
            lines.append(f"{key} = {shown}")
        lines.append("")
    return "\n".join(lines)


def demo_api(now: datetime, *, api_key: str, latency: float = 0.0) -> FakeVendre:
    """A fake Vendre serving the demo shop's products, categories and orders (not started:
    `with demo_api(...) as api` or `.start()`)."""
    return FakeVendre(products=demo_products(now), categories=demo_categories(now),
                      orders=demo_orders(now), api_key=api_key, latency=latency,
                      max_page_size=50)


class FleetDir:
    """A fleet file and its shops folder under `root`."""

    def __init__(self, root: Path, broker_url: str, **fleet: Any) -> None:
        self.root = root
        self.shops_dir = root / "shops"
        self.shops_dir.mkdir(parents=True, exist_ok=True)
        self.state_root = root / "state"
        self.file = root / "fleet.toml"
        self.keys: dict[str, str] = {}  # environment: the shops' API key variables
        settings = {"broker_url": broker_url, "shops_dir": "shops", "state_root": "state",
                    "shards": 2, "lock_lease_s": 5, "visibility_timeout_s": 600,
                    "time_limit_s": 300, **fleet}
        self.file.write_text(toml_text({"fleet": settings}), encoding="utf-8")

    def add_shop(self, name: str, api_url: str, api_key: str, *, shard: int | None = None,
                 every_minutes: int = 0, **tables: Mapping[str, Any]) -> Path:
        """Write `shops/<name>.toml`: its API, its key's variable, its own keys."""
        key_env = f"{name.upper().replace('-', '_')}_VENDRE_KEY"
        self.keys[key_env] = api_key
        config: dict[str, dict[str, Any]] = {
            "vendre": {"api_url": api_url, "api_key_env": key_env, "page_size": 50,
                       "retries": 0, "timeout_s": 10},
            "shop": {"name": f"Shop {name}", "base_url": "https://shop.example"},
            "server": {"access_key": f"{name}-access-key-0123456789"},
            "schedule": {"every_minutes": every_minutes},
            "tracking": {"site_key": f"{name}-site"},
        }
        if shard is not None:
            config["fleet"] = {"shard": shard}
        for table, values in tables.items():
            config[table] = {**config.get(table, {}), **values}
        path = self.shops_dir / f"{name}.toml"
        path.write_text(toml_text(config), encoding="utf-8")
        return path

    def load(self) -> Fleet:
        return load_fleet(self.file, env=self.env())

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a fleet process gets: ours without VENDRE_ settings, the
        shops' API keys, and `extra`."""
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("VENDRE_") or k == "VENDRE_FEEDS_SHARED"}
        return {**base, **self.keys, "PYTHONPATH": str(ROOT), **extra}

    def cli(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        """`vendre-feeds --fleet <file> ARGS` as a separate process."""
        return subprocess.run([sys.executable, "-m", "feeds", "--fleet", str(self.file), *args],
                              capture_output=True, text=True, timeout=timeout,
                              env=self.env(**env), cwd=self.root)


class WorkerProcess:
    """`vendre-feeds -v --fleet F fleet worker --shard K` in its own process group."""

    def __init__(self, fleet: FleetDir, shard: int, *, concurrency: int = 1,
                 log: Path | None = None, **env: str) -> None:
        self.fleet = fleet
        self.shard = shard
        self.concurrency = concurrency
        self.log = log or fleet.root / f"worker-{shard}-{time.monotonic_ns()}.log"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        """Start it and wait until Celery says it is ready."""
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "feeds", "-v", "--fleet", str(self.fleet.file),
                 "fleet", "worker", "--shard", str(self.shard),
                 "--concurrency", str(self.concurrency)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env=self.fleet.env(**self.env), cwd=self.fleet.root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.output():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the worker of shard {self.shard} did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""

    def pids(self) -> list[int]:
        """The worker's processes: its main process and its pool's."""
        if self.process is None:
            return []
        group = os.getpgid(self.process.pid) if self.process.poll() is None else None
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == group:
                        found.append(int(entry))
                except OSError:
                    continue
        return sorted(found)

    def kill(self) -> None:
        """SIGKILL the whole worker (main and pool processes) at once: nothing runs on."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL after ten seconds."""
        self._signal(signal.SIGTERM, wait=10)

    def _signal(self, sig: int, wait: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
