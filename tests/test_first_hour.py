"""A newcomer's first hour (issue 17), end to end through the command line: nothing empty
or wrong is published the first time, failures are visible at once, the commands speak
one vocabulary, and the demo shop works offline.

The README's own claims are checked in tests/test_readme.py; the status page in a real
browser in tests/server/test_browser.py; its banner and /health in
tests/server/test_status_page.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feeds.cli import main
from feeds.demo.catalog import demo_products
from feeds.demo.run import DEMO_ACCESS_KEY, demo_toml, run_demo
from feeds.progress import make_progress
from feeds.server import create_app
from feeds.storage.layout import Layout
from tests.conftest import ROOT
from tests.fakes.vendre_api import FakeVendre

KEY = "first-hour-api-key-0123456789"


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def errors(result: Any) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vendre-feeds.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n' + text, encoding="utf-8")
    return path


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo shop, synced and built (no server); its config file."""
    run_demo(tmp_path / "demo", host="127.0.0.1", port=8000, serve=False,
             echo=lambda _line: None, progress=make_progress(quiet=True))
    return tmp_path / "demo" / "vendre-feeds.toml"


def demo_variant(tmp_path: Path, change: dict[str, Any]) -> Path:
    """The demo's config with `change` (a dict in the file's shape) merged over it, in a
    fresh data dir; nothing synced or built yet."""
    data = merged(tomllib.loads(demo_toml(tmp_path / "data")), change)
    path = tmp_path / "vendre-feeds.toml"
    path.write_text("\n".join(toml_lines(data)) + "\n", encoding="utf-8")
    assert tomllib.loads(path.read_text()) == data
    return path


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and \
            isinstance(out.get(key), dict) and value else value
    return out


def toml_lines(data: dict[str, Any], prefix: str = "") -> list[str]:
    """`data` as TOML: a dict holding dicts or lists is a table, other dicts inline."""
    def is_table(value: Any) -> bool:
        return isinstance(value, dict) and (not prefix or any(
            isinstance(v, (dict, list)) for v in value.values()))

    lines = [f"[{prefix}]"] if prefix else []
    lines += [f"{k} = {_toml(v)}" for k, v in data.items() if not is_table(v)]
    for key, value in data.items():
        if is_table(value):
            lines += toml_lines(value, f"{prefix}.{key}" if prefix else key)
    return lines


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


# ---------------------------------------------------------------- nothing empty or wrong


def test_a_config_without_base_url_builds_nothing_and_exits_2(tmp_path):
    """The issue's first finding: it used to publish four feeds of 0 items."""
    path = demo_variant(tmp_path, {"shop": {"base_url": ""}})
    result = run("--config", str(path), "build")
    assert result.exit_code == 2
    assert errors(result) == [
        'error: shop.base_url: missing; set it to the shop\'s storefront address, e.g. '
        'base_url = "https://shop.se" (every product link starts with it, so no feed can be '
        "built without it)"]
    assert not (tmp_path / "data" / "feeds").exists()


@pytest.mark.parametrize(("change", "key"), [
    ({"channels": {"cdon": {"enabled": True, "default_category": "", "categories": {}}}},
     "channels.cdon.default_category: missing (or categories)"),
    ({"channels": {"amazon": {"enabled": True, "seller_id": ""}}},
     "channels.amazon.seller_id: missing"),
])
def test_a_marketplace_without_what_it_needs_exits_2(tmp_path, change, key):
    result = run("--config", str(demo_variant(tmp_path, change)), "build")
    assert result.exit_code == 2 and errors(result)[0].startswith(f"error: {key}")


def first_build(tmp_path: Path, products: list[dict] | None = None, **channels: Any):
    """A fresh data dir with the demo shop (or `products`) synced; `build google`."""
    from tests.feedkit import fill

    one_feed = {"google": {"targets": [], **channels.get("google", {})}}
    path = demo_variant(tmp_path, {"channels": one_feed})
    from feeds.config import load_config

    fill(load_config(path, env={}), datetime.now(UTC), products=products)
    return path, run("--config", str(path), "build", "google")


def test_an_empty_first_publication_is_refused_then_forced(tmp_path):
    everything = {"exclude_categories": [110, 120, 130, 140]}
    path, result = first_build(tmp_path, google=everything)
    assert result.exit_code == 1
    assert errors(result) == [
        "error: 1 of 1 feeds not published: google (first publication: 0 items of 0 "
        "sellable products); the tracking index was not rebuilt either"]
    assert Layout(tmp_path / "data").published() == []
    forced = run("--config", str(path), "build", "google", "--force")
    assert forced.exit_code == 0, forced.output
    (google,) = Layout(tmp_path / "data").published()
    assert google.items == 0
    banner = status_page(path)
    assert "google.xml is published with 0 items" in banner


def test_a_first_publication_of_fewer_than_half_is_refused(tmp_path):
    """Most products without an image: Google drops them; a first feed of the few left is
    refused (a setting or the data is wrong), `--force` publishes it."""
    products = [dict(p, images=[]) if p["id"] % 3 else p for p in demo_products(
        datetime.now(UTC))]
    path, result = first_build(tmp_path, products)
    assert result.exit_code == 1
    (line,) = errors(result)
    assert line.startswith("error: 1 of 1 feeds not published: google (first publication: ")
    assert "fewer than half of the" in line
    assert "NOT PUBLISHED: first publication:" in result.output
    assert Layout(tmp_path / "data").published() == []
    assert run("--config", str(path), "build", "google", "--force").exit_code == 0
    # now there is a published feed: the drop guard takes over (the same items: no drop)
    assert run("--config", str(path), "build", "google").exit_code == 0


def test_a_channels_own_filters_do_not_trip_the_first_publication_guard(tmp_path):
    """Products a channel's own settings leave out (min_price) are not counted: what the
    shop owner asked for is published the first time."""
    path, result = first_build(tmp_path, google={"min_price": 300})
    assert result.exit_code == 0, result.output
    (google,) = Layout(tmp_path / "data").published()
    assert google.items == 9


# ---------------------------------------------------------------- failures visible at once


def status_page(path: Path) -> str:
    from feeds.config import load_config

    cfg = load_config(path, env={})
    client = create_app(cfg).test_client()
    return client.get(f"/?key={cfg.server.access_key}").get_data(as_text=True)


def test_health_is_503_after_a_failed_sync(tmp_path):
    from feeds.config import load_config
    from feeds.demo.catalog import demo_categories

    now = datetime.now(UTC)
    with FakeVendre(products=demo_products(now), categories=demo_categories(now), orders=[],
                    api_key=KEY) as shop:
        path = demo_variant(tmp_path, {"vendre": {"api_url": shop.url, "retries": 0,
                                                  "timeout_s": 2}})
        env = {"VENDRE_API_KEY": KEY}
        assert run("--config", str(path), "sync", env=env).exit_code == 0
        built = run("--config", str(path), "build", env=env)
        assert built.exit_code == 0, built.output
        client = create_app(load_config(path, env={})).test_client()
        assert client.get("/health").status_code == 200
        shop.fail("products", 0, 503, times=None)
        failed = run("--config", str(path), "sync", env=env)
    assert failed.exit_code == 1
    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["failing"] == ["sync_failed"]
    page = client.get(f"/?key={DEMO_ACCESS_KEY}").get_data(as_text=True)
    assert 'id="banner"' in page and "The last sync failed" in page


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(("extra", "env", "named"), [
    ("", {}, "vendre.api_url: missing"),
    ('[vendre]\napi_url = "https://shop.example/API/1"\n', {}, "VENDRE_API_KEY"),
    ('[vendre]\napi_url = "https://shop.example/API/1"\n[channels.cdon]\nenabled = true\n'
     'default_category = "1"\npush = true\n', {"VENDRE_API_KEY": KEY},
     "channels.cdon.push: is true, but the environment variable CDON_MERCHANT_ID"),
])
def test_serve_and_worker_exit_2_at_start_on_a_config_error(tmp_path, command, extra, env,
                                                            named):
    """Not a log line at every interval: one line, exit 2, before anything starts."""
    path = config_file(tmp_path, f'{extra}[shop]\nbase_url = "https://shop.example"\n'
                                 f'[server]\naccess_key = "{DEMO_ACCESS_KEY}"\n'
                                 "[schedule]\nevery_minutes = 60\n")
    result = run("--config", str(path), command, env=env)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and named in line
    assert "every_minutes = 0 serves without refreshing" in line


@pytest.mark.parametrize("args", [["urls"], ["status"], ["validate", "--limit", "500"],
                                  ["snippet", "all"]])
def test_a_closed_pipe_ends_quietly_with_0(demo, args):
    """`vendre-feeds urls | head -1`: the reader has gone; no error, no traceback."""
    read, write = os.pipe()
    os.close(read)   # the reader is gone before the first byte is written
    try:
        proc = subprocess.run([sys.executable, "-m", "feeds", "--config", str(demo), *args],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(write)
    assert proc.returncode == 0, proc.stderr
    # quietly: no error, no traceback, no note; only the config's own warnings
    assert all(line.startswith("warning: ") for line in proc.stderr.splitlines()), proc.stderr


# ---------------------------------------------------------------- one vocabulary


def test_the_build_summary_counts_dropped_items_and_says_skipped(demo):
    result = run("--config", str(demo), "build", "amazon")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("amazon: 36 products"))
    # 4 items dropped by 5 errors (1013 breaks two rules): never "dropped 5"
    assert "4 dropped by 5 errors (gtin_required 3, tax_class_unknown 1, price_required 1)" \
        in line
    assert "; 4 skipped (" in line
    assert "amazon: 28 items published, 4 dropped" in result.output
    for old in ("excluded", "not for sale or filtered", "in step"):
        assert old not in result.output


def test_the_report_and_status_use_the_same_words(demo, tmp_path):
    import json

    from feeds.storage.report import read

    report = json.loads((demo.parent / "reports" / "amazon.json").read_text())
    assert report["counts"]["dropped"] == 4 and sum(report["counts"]["skipped"].values()) == 4
    assert "excluded" not in report["counts"]
    status = run("--config", str(demo), "status")
    assert "feed amazon.json: 28 items, published " in status.output
    assert "last build: 4 dropped, 4 warnings, 4 skipped" in status.output
    # a report written before "skipped" was the word is read the same
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"counts": {"dropped": 1, "excluded": {"hidden": 2}}}))
    assert read(old).excluded == {"hidden": 2}


def test_validate_says_how_many_more_it_did_not_list(demo):
    result = run("--config", str(demo), "validate", "meta", "--limit", "2")
    assert result.exit_code == 0
    listed = [x for x in result.output.splitlines() if x.startswith(("  error", "  warning"))]
    assert len(listed) == 2
    assert "  and 4 more (--limit N lists more)" in result.output   # 3 errors + 3 warnings
    everything = run("--config", str(demo), "validate", "meta", "--limit", "50")
    assert "more (--limit" not in everything.output


def test_a_push_with_nothing_to_send_says_so_in_words():
    from feeds.pipeline.deliver import PushReport

    assert PushReport("cdon").summary() == \
        "cdon: nothing to send: the marketplace already holds this"
    assert PushReport("cdon", dry_run=True, left_out={"1012": "no image"}).summary() == \
        "cdon: nothing to send: the marketplace already holds this; 1 dropped by the rules"


# ---------------------------------------------------------------- the demo


def test_the_demo_header_separates_feeds_to_paste_from_payloads_to_push(tmp_path):
    lines: list[str] = []
    run_demo(tmp_path / "demo", host="127.0.0.1", port=8000, serve=False, echo=lines.append,
             progress=make_progress(quiet=True))
    text = "\n".join(lines).splitlines()
    feeds = text.index("Ad feeds: paste these URLs")
    payloads = next(i for i, x in enumerate(text) if x.startswith("Marketplace payloads:"))
    assert feeds < payloads
    ad = [x.split(":")[0].strip() for x in text[feeds + 1:payloads] if x.startswith("  ")
          and not x.startswith("    ")]
    pushed = [x.split(":")[0].strip() for x in text[payloads + 1:] if x.startswith("  ")
              and ".json" in x or ".csv" in x.split(":")[0]]
    assert ad == ["criteo.xml", "google-no.xml", "google.xml", "meta.xml"]
    assert set(pushed) == {"afound.csv", "amazon.json", "cdon.json", "fyndiq.json"}
    assert sum(x.startswith("    paste into ") for x in text[feeds:payloads]) == 4


def test_sync_and_refresh_work_offline_on_the_demo(demo, monkeypatch):
    """No network and no key: the demo's address is a reserved .test host, read through
    the bundled transport."""
    import httpx

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the demo must not open a connection")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", no_network)
    sync = run("--config", str(demo), "sync")
    assert sync.exit_code == 0, sync.output
    assert "the demo shop: read from the bundled catalogue, offline" in sync.output
    assert "synced 36 products" in sync.output
    refresh = run("--config", str(demo), "refresh")
    assert refresh.exit_code == 0, refresh.output
    assert refresh.output.startswith("refresh done: synced 36 products")
    assert "google (30 items), google-no (30 items), meta (29 items)" in refresh.output


def test_the_status_page_uses_the_port_it_was_opened_at(demo, live):
    """`serve --port 8765` on the demo's config: the page's URLs name 8765, not 8000."""
    import httpx

    from feeds.config import load_config

    server = live(create_app(load_config(demo, env={})))
    page = httpx.get(f"{server.url}/?key={DEMO_ACCESS_KEY}", timeout=10).text
    assert f"{server.url}/feeds/{DEMO_ACCESS_KEY}/google.xml" in page
    assert f"{server.url}/t/demo/loader.js" in page
    assert "127.0.0.1:8000" not in page


@pytest.fixture
def live():
    from tests.server.conftest import LiveServer

    servers: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        servers.append(LiveServer(app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_the_reasons_for_missing_products_read_only_their_lines(tmp_path):
    """`dropped_items(path, ids)` finds exactly those ids' first errors in a report as the
    build writes it (one violation per line), and in any other JSON report."""
    import json

    from feeds.core.validation import Severity, Violation
    from feeds.storage.report import Counts, ReportWriter, dropped_items

    path = tmp_path / "google.json"
    writer, counts = ReportWriter(path), Counts()
    odd = 'A "quoted", id}'
    writer.add([Violation(Severity.WARNING, "12", "title", "long", "title_long"),
                Violation(Severity.ERROR, "12", "image_link", "missing image", "image"),
                Violation(Severity.ERROR, "123", "price", "no price", "price"),
                Violation(Severity.ERROR, odd, "gtin", "bad, \"very\" bad", "gtin")], counts)
    writer.finish({"feed": "google"}, counts)
    assert dropped_items(path, {"12"}) == {"12": "image_link: missing image"}
    assert dropped_items(path, {odd, "nope"}) == {odd: 'gtin: bad, "very" bad'}
    assert dropped_items(path, set()) == {}
    assert set(dropped_items(path)) == {"12", "123", odd}
    whole = tmp_path / "other.json"   # e.g. written in one piece by another tool
    whole.write_text(json.dumps(json.loads(path.read_text()), indent=2))
    assert dropped_items(whole, {"123"}) == {"123": "price: no price"}
