"""Smoke test of bench/hostile_push.py: it runs the real CLI per case and reads the
outcome right (a few small cases; the timings are for reading, not asserted)."""

from __future__ import annotations

from bench.hostile_push import CASES, run_benchmark, table


def test_the_hostile_push_bench_runs_and_reports_each_case(tmp_path):
    cases = [c for c in CASES if c.name in ("echo-cdon-basic", "nested-200000")]
    outcomes = run_benchmark(products=30, cases=cases, work_dir=tmp_path)
    assert [o.name for o in outcomes] == ["baseline-cdon", "echo-cdon-basic", "nested-200000"]
    baseline, echo, nested = outcomes
    assert baseline.exit_code == 0 and baseline.line.startswith("cdon: sent create ")
    assert echo.exit_code == 1 and echo.line.startswith(
        'error: CDON create: HTTP 400: {"error": "invalid_request Basic *** ')
    assert nested.exit_code == 1 and nested.line == (
        "error: CDON create: the answer is not readable (JSON nested too deeply)")
    assert not any(o.leaked for o in outcomes)
    assert all(o.wall_s > 0 and o.peak_rss_mb > 0 for o in outcomes)
    assert len(table(outcomes).splitlines()) == 1 + 3
