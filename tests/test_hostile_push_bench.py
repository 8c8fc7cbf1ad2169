"""Smoke test of bench/hostile_push.py: it runs the real CLI per case and reads the
outcome right (a few small cases; the timings are for reading, not asserted)."""

from __future__ import annotations

from bench.hostile_push import CASES, run_benchmark, table


def test_the_hostile_push_bench_runs_and_reports_each_case(tmp_path):
    names = ("echo-cdon-basic", "nested-200000", "error-body-cdon", "cdon-statuses-other")
    cases = [c for c in CASES if c.name in names]
    outcomes = run_benchmark(products=30, cases=cases, work_dir=tmp_path)
    assert [o.name for o in outcomes] == ["baseline-cdon", *names]
    baseline, echo, nested, error_body, other = outcomes
    assert baseline.exit_code == 0 and baseline.line.startswith("cdon: sent create ")
    assert echo.exit_code == 1 and echo.line.startswith(
        'error: CDON create: HTTP 400: {"error": "invalid_request Basic *** ')
    assert nested.exit_code == 1 and nested.line == (
        "error: CDON create: the answer is not readable (JSON nested too deeply)")
    # every article of a 200 with an error body is unconfirmed
    assert error_body.exit_code == 1 and error_body.line.startswith(
        "error: cdon: sent nothing acknowledged in 1 requests; ")
    assert ' unconfirmed (CDON create: an answer in no known shape ({"error":"internal"})): ' \
        "the next push confirms them or sends them again" in error_body.line
    # after a first push (its setup) left every article unconfirmed, CDON's statuses in
    # no known shape: the articles are sent again by SKU, and the push exits 1
    assert other.exit_code == 1 and other.line.startswith("error: cdon: sent update content ")
    assert "; CDON statuses: an unreadable answer (neither 'batches' nor 'statuses' holds a " \
        "list): " in other.line
    assert all(o.error_lines == (o.exit_code != 0) for o in outcomes)
    assert not any(o.leaked for o in outcomes)
    assert all(o.wall_s > 0 and o.peak_rss_mb > 0 for o in outcomes)
    assert len(table(outcomes).splitlines()) == 1 + 5
