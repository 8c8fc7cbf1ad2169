"""Smoke test of the benchmarks in bench/: they run and count right (no timing assertions)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from stdnum import ean

from bench import server_load, synthetic
from bench.common import machine_info, machine_line, write_section
from bench.sqlite_replace import replace_rounds
from bench.sync_bench import run_benchmark
from feeds.vendre.parse import parse_order


def test_synthetic_products_are_deterministic_and_shaped_like_real_ones(real_products):
    page = synthetic.products(0, 120)
    assert page == synthetic.products(0, 120)
    assert page[7] == synthetic.product(7)
    for item in page:
        assert list(item) == list(real_products[0])  # the 68 keys, in Vendre's order
        for key, value in item.items():
            if value is not None and real_products[0][key] is not None:
                assert isinstance(value, type(real_products[0][key])), key
    ids = [p["id"] for p in page]
    assert ids == sorted(set(ids))
    valid = [p["ean1"] for p in page if p["ean1"] and ean.is_valid(p["ean1"])]
    assert len(valid) > len(page) // 2
    assert all(2_000 < len(json.dumps(p, ensure_ascii=False, separators=(",", ":"))) < 5_000
               for p in page)


def test_synthetic_variants_and_categories_are_consistent():
    parent, first_child = synthetic.product(0), synthetic.product(1)
    assert parent["is_parent"] is True
    assert parent["child_product_ids"] == [synthetic.product(n)["id"] for n in (1, 2, 3)]
    assert first_child["parent"] == parent["id"]
    assert first_child["category_ids"] == parent["category_ids"]
    assert synthetic.product(4)["parent"] == 0
    categories = {c["id"]: c for c in synthetic.categories(synthetic.CATEGORY_COUNT)}
    assert len(categories) == synthetic.CATEGORY_COUNT
    for item in synthetic.products(0, 200):
        (cid,) = item["category_ids"]
        assert cid in categories
        leaf = categories[cid]
        root = categories[categories[leaf["parent_id"]]["parent_id"]]
        assert item["category_paths"][0].split("|") == [
            root["name"]["sv"], categories[leaf["parent_id"]]["name"]["sv"], leaf["name"]["sv"]]


def test_synthetic_orders_are_recent_and_name_generated_products():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    orders = synthetic.orders(50, now=int(now.timestamp()), product_count=1000)
    assert orders == synthetic.orders(50, now=int(now.timestamp()), product_count=1000)
    known = {synthetic.product(i)["id"] for i in range(1000)}
    for raw in orders:
        order = parse_order(raw)
        assert order is not None and order.date is not None
        assert now - timedelta(days=60) < order.date <= now
        assert order.lines and all(line.product_id in known for line in order.lines)


def test_sync_benchmark_runs_and_stores_every_item(tmp_path):
    result = run_benchmark(products=600, latency=0.0, categories=120, orders=30,
                           concurrencies=(1, 4), work_dir=tmp_path)
    assert [(run.concurrency, run.again, run.prepared) for run in result.runs] == \
        [(1, False, True), (4, False, True), (4, True, True), (4, False, False),
         (4, True, False)]
    # every product prepared, except where no channel is enabled
    assert [run.forms for run in result.runs] == [600, 600, 600, 0, 0]
    expected = {"products": 600, "categories": 120, "orders": 30}
    for run in result.runs:
        assert run.stored == expected
        assert run.items == 750
        assert run.pages == 3 + 1 + 1  # 600 products in pages of 250, categories, orders
        assert run.peak_rss_kb > 0 and run.sync_cpu_s > 0
        assert "synced 600 products, 120 categories, 30 orders" in run.output
    assert result.runs[0].max_in_flight == 1
    assert list(tmp_path.iterdir()) == []  # the temporary data dirs are gone
    text = result.markdown()
    assert "| baseline | 1 |" in text and "| concurrent | 4 |" in text
    assert "| again, same data dir | 4 |" in text
    assert "| concurrent, nothing prepared (no channel enabled) | 4 |" in text
    assert "| again, same data dir, nothing prepared | 4 |" in text
    assert "A later sync of the same catalogue" in text
    assert "0 ms" in text


def test_only_the_marked_section_is_replaced(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    start, end = "<!-- sync-bench -->", "<!-- /sync-bench -->"
    other = "<!-- feed-bench -->\nfeed numbers\n<!-- /feed-bench -->"
    write_section("sync-bench", "## sync\nold", path)
    first = path.read_text(encoding="utf-8")
    assert first.startswith("# Benchmarks") and first.count(start) == 1
    path.write_text(first + "\n" + other + "\n", encoding="utf-8")
    write_section("sync-bench", "## sync\nnew", path)
    both = path.read_text(encoding="utf-8")
    assert "new" in both and "old" not in both and other in both
    assert both.count(start) == 1 and both.count(end) == 1
    write_section("sync-bench", "## sync\nnew", path)
    assert path.read_text(encoding="utf-8") == both


def test_machine_description():
    info = machine_info()
    assert set(info) == {"cpu", "cores", "python", "os", "date", "load"}
    assert info["cpu"] in machine_line() and info["python"] in machine_line()


def test_server_report_leaves_the_markers_to_write_section(tmp_path):
    result = server_load.Result(requests_s=100.0, bytes_s=5e6)
    cells = {(s.name, c): result for s in server_load.SCENARIOS for c in s.concurrency}
    facts = {**machine_info(), "tool": "wrk", "command": "python -m bench.server_load",
             "seconds": "1", "big": "1.0 MB", "big_gz": "200 kB", "small": "40 kB",
             "threads": "8"}
    section = server_load.report(cells, cells, facts)
    assert section.startswith("## Feed server") and "<!--" not in section
    assert "| conditional GET of the small feed, 304 | 32 | 100 req/s | 100 req/s |" in section
    path = tmp_path / "BENCHMARKS.md"
    write_section(server_load.SECTION, section, path)
    write_section(server_load.SECTION, section, path)
    assert path.read_text(encoding="utf-8").count("<!-- server-bench -->") == 1


def test_build_benchmark_interleaves_every_figure_and_reports_the_ratios(tmp_path):
    from bench import build_bench as bench

    said = []
    figures = bench.measure(400, tmp_path, rounds=2, progress=said.append)
    assert list(figures) == [bench.BASELINE, bench.GOOGLE, bench.ONE_PROCESS,
                             bench.THREE_CHANNELS, bench.FROM_JSON, bench.THREE_FROM_JSON]
    assert [line.split(": ")[1].split(" ")[0] for line in said[:6]] == \
        ["baseline", "google", "google,", "google,", "google,", "google,"]  # each once
    google = figures[bench.GOOGLE].items
    assert google == figures[bench.BASELINE].items == figures[bench.ONE_PROCESS].items \
        == figures[bench.FROM_JSON].items > 300
    assert figures[bench.THREE_CHANNELS].items == figures[bench.THREE_FROM_JSON].items \
        > 2 * google  # meta and criteo wrote too, the same items with or without the forms
    assert all(len(f.runs) == 2 for f in figures.values())
    split = bench.profile_split(400, tmp_path)
    for name in ("google", "google, meta, criteo"):
        assert split[name]["build"] >= split[name]["load"] > 0  # the sync prepared them
        assert split[name]["from_json"] == 0  # each valid at the time of the build
    text = bench.markdown(figures, figures, split, products=400, rounds=2, big_products=400,
                          big_rounds=2, command="python -m bench.build_bench",
                          machine=bench.machine_info(), load_after="0.00")
    assert "the baseline's wall time / the build's" in text
    assert "| build google, meta, criteo |" in text and "| google, meta, criteo |" in text
    assert "Without the forms the sync prepares" in text
    assert "three feeds / Google alone = **" in text and "Without the forms: the baseline" in text
    assert list(tmp_path.iterdir()) == []


def test_marketplace_benchmark_runs_and_packs_the_incremental_push(tmp_path):
    from bench import marketplace_bench

    result = marketplace_bench.run_benchmark(300, tmp_path)
    first = result.step("first push fyndiq")
    assert first.items > 250 and dict((k, n) for k, n, _ in first.calls) == {
        "POST /articles/bulk": -(-first.items // 100)}
    assert all(result.packed.values()) and all(n > 0 for n in result.changed.values())
    text = result.markdown("python -m bench.marketplace_bench --articles 300")
    assert text.startswith("## Marketplaces") and "| build google |" in text
    assert list(tmp_path.iterdir()) == []


def test_s3_requests_bench_counts_a_quiet_round_as_listings_and_the_status_page(
        tmp_path, monkeypatch):
    from bench import s3_requests

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                 "AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, "placeholder")  # run() sets them; restored after the test
    first, quiet, everything, changed = s3_requests.run(300, tmp_path)
    assert first.requests["PUT"] == first.objects and first.requests["GET"] == 2
    assert (quiet.requests["PUT"], quiet.requests["GET"], quiet.total) == (1, 2, 3)
    assert everything.requests["PUT"] == everything.objects == first.objects
    assert 1 < changed.requests["PUT"] <= changed.objects
    assert "| no change" in s3_requests.markdown([first, quiet, everything, changed], 300, "x")


def test_sqlite_replace_benchmark_runs(tmp_path):
    path = tmp_path / "s.sqlite3"
    rounds = replace_rounds(path, rows=300, rounds=2, secure_delete=False)
    assert len(rounds) == 2 and all(0 <= inserted <= whole for inserted, whole in rounds)
    with sqlite3.connect(path) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master")]
        assert tables == ["products"]
        assert conn.execute("SELECT count(*) FROM products").fetchone()[0] == 300


def test_feed_stages_times_every_stage_of_every_channel(tmp_path, capsys):
    """`bench.feed_stages` on the prepared forms and on the JSON alone: one line per
    channel, each stage a time."""
    from bench import build_bench, feed_stages
    from feeds.config import load_config

    config = build_bench._config(tmp_path)
    build_bench.fill_store(tmp_path / "data", 300, cfg=load_config(config))
    from_json = build_bench._without_forms(tmp_path)
    for cfg in (config, from_json):
        assert feed_stages.main([str(cfg), "--products", "300", "--rounds", "1"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines] == ["criteo", "google", "meta"]
        for line in lines:
            words = line.split()
            assert words[1::2][:5] == ["map", "check", "finish", "render", "sum"]
            assert all(float(w) > 0 for w in words[2:11:2])


def test_feed_stages_names_a_missing_config_in_one_line(tmp_path, capsys):
    from bench import feed_stages

    with pytest.raises(SystemExit) as exited:
        feed_stages.main([str(tmp_path / "none.toml")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m bench.feed_stages: error: config file")
    assert "Traceback" not in "\n".join(err)


def test_parse_back_times_the_check_next_to_its_floor(capsys):
    """`bench.parse_back` on a golden feed: the floor, the stream check (sure of what the
    built-in renderer writes) and the full check find the same items."""
    from bench import parse_back
    from tests.goldens import GOLDEN

    feed = GOLDEN / "feeds" / "google.xml"
    assert parse_back.main([str(feed), "--rounds", "1", "--full"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "libxml2", "stream check", "write", "full check"]
    found = [line.partition("(")[2] for line in lines[2:]]
    assert found[0] == found[2] and " items, id digest " in found[0]
    sha256 = hashlib.sha256(feed.read_bytes()).hexdigest()[:12]
    assert found[1] == f"file, .gz and SHA-256 {sha256})"


def test_parse_back_names_a_file_that_is_not_a_feed_in_one_line(tmp_path, capsys):
    from bench import parse_back

    bad = tmp_path / "feed.xml"
    bad.write_bytes(b"<rss><channel></rss>")
    with pytest.raises(SystemExit) as exited:
        parse_back.main([str(bad), "--rounds", "1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"python -m bench.parse_back: error: {bad}: libxml2:")
    assert "Traceback" not in "\n".join(err)


def test_feed_ids_bench_times_both_commits(capsys):
    from bench import feed_ids

    assert feed_ids.main(["--ids", "500", "--rounds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "stage", "commit, 1 % changed", "commit, unchanged"]
    # Each figure was measured (the first round alone has nothing to replace: inf).
    assert all(0 <= float(line.split(":")[1].split()[0]) < 60 for line in lines[1:])


def test_feed_ids_bench_wants_two_rounds(capsys):
    from bench import feed_ids

    with pytest.raises(SystemExit) as exited:
        feed_ids.main(["--ids", "10", "--rounds", "1"])
    assert exited.value.code == 2
    assert "--rounds must be at least 2" in capsys.readouterr().err
