"""Fixtures for the fleet: a real redis-server on loopback, a fleet folder, workers.

Redis is Debian's `redis-server`, started once per session on a free port of
127.0.0.1 and emptied before each test that uses it. Where it is not installed the
tests that need it skip, except in CI (`VENDRE_FEEDS_REQUIRE_REDIS=1`), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.redis_server import RedisServer, redis_server_path
from tests.fleetkit import FleetDir, WorkerProcess

# Read once at import: the autouse fixture that clears VENDRE_* runs before each test.
REQUIRED = os.environ.get("VENDRE_FEEDS_REQUIRE_REDIS") == "1"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session (skips, or fails in CI, where it is absent)."""
    if redis_server_path() is None:
        if REQUIRED:
            pytest.fail("redis-server is required here (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The server's URL, its data emptied first."""
    redis_server.client().flushall()
    return redis_server.url


@pytest.fixture
def redis(redis_server: RedisServer, redis_url: str):  # noqa: ANN201
    """A redis-py client (decoded responses) on the emptied server."""
    return redis_server.client()


@pytest.fixture
def fleet_dir(tmp_path: Path, redis_url: str) -> FleetDir:
    """A fleet file (2 shards, 5 s leases) and an empty shops folder."""
    return FleetDir(tmp_path / "fleet", redis_url)


@pytest.fixture
def workers(fleet_dir: FleetDir) -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts (`workers.append(WorkerProcess(...).start())`),
    stopped at its end."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill()
