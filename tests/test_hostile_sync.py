"""`vendre-feeds sync` against a hostile shop, end to end through the CLI.

Under every mode of `tests/fakes/hostile_vendre.py` the sync ends within seconds,
exits 1 with one line that says why, records that line for `status`, leaves the
previous snapshot as it was, stops its threads, and the key is found in no file
under the data dir and in no output or log line. Deadlines and caps are small
here; `bench/hostile_sync.py` measures the full-size cases.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from feeds.cli import main
from feeds.storage.layout import Layout
from feeds.storage.lock import hold
from feeds.storage.store import Store
from tests.fakes.hostile_vendre import HostileVendre

# Unique to this file: no other test registers it as a secret, so nothing masks it for us.
KEY = "hostile-sync-key-4f9b2d17e0"
ONE_LINE_WITHIN_S = 10.0


@dataclass(frozen=True)
class Case:
    """One attack: the shop's mode and settings, ours, and the one line it must end in."""

    mode: str
    error: str  # the whole error line after "error: "; {url} is the shop's API URL
    shop: dict[str, Any] = field(default_factory=dict)
    vendre: dict[str, Any] = field(default_factory=dict)


CASES = {
    "drip": Case(
        "drip", "{url}/products?offset=0: ReadTimeout: no complete answer within 0.3 s "
        "(vendre.timeout_s) (gave up after 1 tries)",
        shop={"drip_s": 0.05}, vendre={"timeout_s": 0.3}),
    "drip-past-the-sync-deadline": Case(
        "drip", "the sync did not finish within 0.02 minutes (vendre.sync_deadline_minutes); "
        "stopped, the previous snapshot stays",
        shop={"drip_s": 0.05}, vendre={"timeout_s": 30, "sync_deadline_minutes": 0.02}),
    "liar-above-max-products": Case(
        "liar", "products: the first page promises 1000000000 items, more than "
        "vendre.max_products = 1000; not paging through them",
        shop={"liar_total": 10**9}, vendre={"max_products": 1000}),
    "liar-empty-page": Case(
        "liar", "products: page at offset 10 is empty although the first page promised "
        "1000000 items", shop={"liar_total": 1_000_000}),
    "huge": Case(
        "huge", "{url}/products?offset=0: the answer is larger than 1 MB "
        "(vendre.max_response_mb); stopped reading it", vendre={"max_response_mb": 1}),
    "nested": Case(
        "nested", "{url}/products?offset=0: the answer is not the {{list, remaining}} JSON "
        "envelope (JSON nested too deeply)"),
    "reason-echo": Case("reason_echo", "{url}/products?offset=0: the shop answered HTTP 400 ***"),
    "redirect": Case(
        "redirect", "{url}/products?offset=0: the shop answered HTTP 302, a redirect to "
        "{elsewhere}/products; redirects are not followed (they could carry the key "
        "elsewhere), set vendre.api_url to the final https URL"),
}


def products(n: int) -> list[dict]:
    return [{"id": i, "article_number": f"A-{i}", "parent": 0, "date_modified": 1,
             "name": {"sv": f"Produkt {i}"}, "price": 80, "tax_class_id": 2, "status": True,
             "show": True, "quantity": 1} for i in range(1, n + 1)]


def shop_for(case: Case) -> HostileVendre:
    return HostileVendre(products=products(25), categories=[{"id": 1}], api_key=KEY,
                         max_page_size=10, **case.shop)


def write_config(tmp_path: Path, api_url: str, vendre: dict[str, Any]) -> Path:
    settings = {"api_url": api_url, "page_size": 10, "concurrency": 2, "retries": 0, **vendre}
    lines = [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"'
             for k, v in settings.items()]
    path = tmp_path / "vendre-feeds.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[vendre]\n' + "\n".join(lines)
                    + '\n[shop]\nbase_url = "https://shop.example"\n')
    return path


def run(config: Path, *args: str, key: str = KEY) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args],
                              env={"VENDRE_API_KEY": key}, catch_exceptions=False)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def snapshot(tmp_path: Path) -> list[Any]:
    return list(Store.in_dir(tmp_path / "data").iter_products())


def files_holding(root: Path, secret: str) -> list[Path]:
    """Every file under `root` whose bytes contain `secret` (SQLite's WAL included)."""
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def page_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vendre-page")]


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_shop_fails_the_sync_in_one_line(tmp_path, caplog, name):
    case = CASES[name]
    caplog.set_level(logging.DEBUG)
    with shop_for(case) as shop:
        config = write_config(tmp_path, shop.url, case.vendre)
        first = run(config, "sync")
        assert first.exit_code == 0, first.output
        before = snapshot(tmp_path)
        shop.mode = case.mode
        started = time.monotonic()
        result = run(config, "-vv", "sync")
        elapsed = time.monotonic() - started
        expected = case.error.format(url=shop.url, elsewhere=shop.elsewhere.url)
        assert shop.requests[-1].mode == case.mode  # the attack was really made
        elsewhere = shop.elsewhere.requests
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {expected}"]
    assert "Traceback" not in result.output
    assert elapsed < ONE_LINE_WITHIN_S
    assert page_threads() == []

    status = run(config, "status")
    assert status.exit_code == 0
    assert f" ago): {expected}\n" in status.output  # "last sync FAILED <when> (<age>): ..."
    assert "last sync FAILED" in status.output and "store: 25 products" in status.output
    assert "the store holds the last good snapshot" in status.output
    assert snapshot(tmp_path) == before
    assert elsewhere == []  # nothing, so certainly not the key, reached the other host

    assert files_holding(tmp_path, KEY) == []
    assert KEY not in first.output + result.output + status.output + caplog.text


def test_a_nested_orders_endpoint_is_a_warning(tmp_path):
    case = Case("nested", "", shop={"targets": ("orders",)})
    with shop_for(case) as shop:
        config = write_config(tmp_path, shop.url, {})
        shop.mode = case.mode
        result = run(config, "sync")
        url = shop.url
    assert result.exit_code == 0, result.output
    warning = (f"warning: orders: {url}/orders?offset=0: the answer is not the {{list, "
               "remaining} JSON envelope (JSON nested too deeply); the catalogue was synced, "
               "previous orders kept")
    assert warning in result.stdout.splitlines(), result.output
    status = run(config, "status").output
    assert "last sync ok" in status and "25 products" in status


def test_a_stuck_shop_under_refresh_ends_and_frees_the_refresh_lock(tmp_path):
    case = CASES["drip-past-the-sync-deadline"]
    with shop_for(case) as shop:
        config = write_config(tmp_path, shop.url, case.vendre)
        shop.mode = case.mode
        started = time.monotonic()
        result = run(config, "refresh")
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {case.error}"]
    assert time.monotonic() - started < ONE_LINE_WITHIN_S
    with hold(Layout(tmp_path / "data").lock("refresh"), "refresh"):
        pass  # a later refresh can run: the stuck one did not keep the lock


def test_status_masks_a_key_stored_before_the_reader_scrubbed_it(tmp_path):
    """The second line of defence: text already on disk is masked when shown."""
    # A key no reader in this process was given, so no registered secret masks it.
    key = "never-registered-key-8d2a61"
    config = write_config(tmp_path, "https://shop.example/API/1", {})
    store = Store.in_dir(tmp_path / "data")
    with store.write_snapshot(datetime.now(UTC)) as writer:
        writer.add_products([{"id": 1, "parent": 0}])
        writer.warnings = [f"orders: HTTP 400 {key}"]
    store.record_failure(datetime.now(UTC), f"the shop answered HTTP 400 {key}")
    status = run(config, "status", key=key)
    assert "the shop answered HTTP 400 ***" in status.output
    assert "warning: orders: HTTP 400 ***" in status.output
    assert key not in status.output
