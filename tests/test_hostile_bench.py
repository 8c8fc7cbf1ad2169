"""Smoke test of bench/hostile_sync.py: it runs the real CLI per case and reads the
outcome right (a few small cases; the timings are for reading, not asserted)."""

from __future__ import annotations

from bench.hostile_sync import CASES, run_benchmark, table


def test_the_hostile_bench_runs_and_reports_each_case(tmp_path):
    cases = [c for c in CASES if c.name in ("reason-echo", "redirect")]
    outcomes = run_benchmark(products=30, cases=cases, work_dir=tmp_path)
    assert [o.name for o in outcomes] == ["baseline", "reason-echo", "redirect"]
    baseline, echo, redirect = outcomes
    assert baseline.exit_code == 0 and baseline.requests == 3  # categories, products, orders
    assert echo.exit_code == 1 and echo.error.endswith("the shop answered HTTP 400 ***")
    assert redirect.exit_code == 1 and "redirects are not followed" in redirect.error
    assert not any(o.key_on_disk or o.key_elsewhere for o in outcomes)
    assert all(o.wall_s > 0 and o.peak_rss_mb > 0 for o in outcomes)
    assert len(table(outcomes).splitlines()) == 1 + 3
