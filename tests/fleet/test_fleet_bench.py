"""Smoke test of `python -m bench.fleet` at a tiny size: it runs, every shop ends ok, and
the counts add up (no timing assertions)."""

from __future__ import annotations

import pytest

from bench.fleet import run_benchmark

pytestmark = pytest.mark.slow


def test_the_fleet_benchmark_runs_and_counts(redis_server, monkeypatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                 "AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, "x")  # restored after the test (the benchmark sets its own)
    result = run_benchmark(shops=3, latency=0.0, shards=2, concurrency=1,
                           command="python -m bench.fleet --shops 3", log=lambda _line: None)
    assert [(r.ok, r.failed) for r in result.rounds] == [(3, []), (3, [])]
    assert result.sequential is not None and result.sequential.ok == 3
    first, second = result.rounds
    assert first.s3_puts >= 3 * 8  # feeds and twins, loader, index, status page per shop
    assert second.s3_puts == 3  # nothing changed: only each shop's status page
    assert sum(result.split.values()) == 3
    assert len(result.workers) == 2 and all(main > 0 for _, main, _ in result.workers)
    text = result.markdown()
    assert "| fleet, first round |" in text and "sequential loop" in text
