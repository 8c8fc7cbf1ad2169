"""Smoke test of bench/marketplaces_ii.py: its 1 % change and its table (no timing)."""

from __future__ import annotations

from bench import marketplaces_ii as bench
from bench.common import Measured
from feeds.storage.store import Store


def prices(data_dir):
    return {raw["id"]: raw["price"] for raw, _parent in Store.in_dir(data_dir).iter_products()}


def test_one_product_in_a_hundred_gets_a_new_price(tmp_path):
    bench.fill_store(tmp_path / "a", 300)
    bench.fill_store(tmp_path / "b", 300, changed=True)
    before, after = prices(tmp_path / "a"), prices(tmp_path / "b")
    changed = [pid for pid in before if before[pid] != after[pid]]
    assert len(changed) == 3 and before.keys() == after.keys()


def test_the_section_names_feeds_imports_and_the_baseline():
    run = Measured(2.0, 51200, 0, 1.5, "")
    result = bench.Result(1000, [bench.Build("google", 900, run), bench.Build("amazon", 600, run)],
                          [bench.Push("amazon", "first push", 1, [600], run)])
    text = bench.markdown(result)
    assert "| `build amazon` | 600 | 2.0 s | 300 | 1.00x | 50 MB | - |" in text
    assert "| `push amazon` | first push | 1 | 600 | 2.0 s | 50 MB |" in text
