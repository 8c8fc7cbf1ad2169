"""A real `redis-server` (Debian's package) on 127.0.0.1 and a free port, for the fleet's
tests and its benchmark (so: no pytest here)::

    with RedisServer() as redis:
        redis.url          # redis://127.0.0.1:PORT/0
        redis.used_memory()

No persistence (no RDB, no AOF) and its own temporary folder; it is shut down without
saving when the block ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any, Self

__all__ = ["RedisServer", "redis_server_path"]


def redis_server_path() -> str | None:
    """Where `redis-server` is, or None (apt-get install redis-server)."""
    found = shutil.which("redis-server")
    if found:
        return found
    for candidate in ("/usr/bin/redis-server", "/usr/sbin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """start() / stop() / `with` for one redis-server process."""

    def __init__(self) -> None:
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> Self:
        binary = redis_server_path()
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self._dir = tempfile.TemporaryDirectory(prefix="vendre-feeds-redis-")
        for _attempt in range(5):  # another process may take the port we picked first
            self.port = _free_port()
            self._process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self._dir.name, "--protected-mode", "yes",
                 "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready(timeout):
                return self
            self._process.kill()
            self._process.wait()
        raise RuntimeError("redis-server did not start on 127.0.0.1")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                return False
            try:
                if self.client().ping():
                    return True
            except Exception:
                time.sleep(0.05)
        return False

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def used_memory(self) -> int:
        """Bytes Redis holds now (`INFO memory` used_memory)."""
        return int(self.client().info("memory")["used_memory"])

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

