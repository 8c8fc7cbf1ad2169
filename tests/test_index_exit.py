"""`build` and `refresh` exit 1 when the tracking index was due but not rebuilt (the
feeds are published all the same), naming the failed part in one line; when no
`[tracking] site_key` is set, the index is not due and cannot fail a build."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from feeds import events
from feeds.cli import main
from feeds.config import load_config
from feeds.demo.catalog import demo_categories, demo_products
from feeds.events.index import read_index
from feeds.jobs.refresh import IndexNotRebuilt, build_all
from feeds.progress import make_progress
from feeds.storage.layout import Layout
from tests.conftest import NOW
from tests.fakes.vendre_api import FakeVendre
from tests.feedkit import fill

KEY = "index-exit-key-51c9e2"
NO_SPACE = "[Errno 28] No space left on device"
FAILED = ("error: tracking index not rebuilt, the previous one stays (the feeds were "
          f"published): {NO_SPACE}")


def write_config(tmp_path: Path, *, site_key: str, api_url: str = "") -> Path:
    path = tmp_path / "vendre-feeds.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n'
                    f'[vendre]\napi_url = "{api_url}"\nretries = 0\norders = false\n'
                    '[shop]\nbase_url = "https://demo.vendre-feeds.test"\nname = "Demo"\n'
                    f'[tracking]\nsite_key = "{site_key}"\n')
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args],
                              env={"VENDRE_API_KEY": KEY}, catch_exceptions=False)


def fill_the_disk(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every index build fails as on a full disk; returns the data dirs it was tried on."""
    tried: list[str] = []

    def build_index(cfg, store, now):
        tried.append(str(cfg.data_dir))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(events.index, "build_index", build_index)
    return tried


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return fill_the_disk(monkeypatch)


def published(tmp_path: Path) -> list[str]:
    return sorted(feed.file for feed in Layout(tmp_path / "data").published())


def test_build_exits_1_when_the_due_index_fails(tmp_path, monkeypatch):
    config = write_config(tmp_path, site_key="demo")
    fill(load_config(str(config), env={}), NOW)
    assert run(config, "build").exit_code == 0
    assert read_index(Layout(tmp_path / "data")) is not None
    feeds = published(tmp_path)

    fill_the_disk(monkeypatch)
    result = run(config, "build", "--force")
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if "index" in line] == [FAILED]
    assert "products read" in result.stdout  # the feeds' summary is still shown
    assert published(tmp_path) == feeds and feeds


def test_build_without_a_site_key_does_not_need_the_index(tmp_path, disk_full):
    config = write_config(tmp_path, site_key="")
    fill(load_config(str(config), env={}), NOW)
    result = run(config, "build")
    assert result.exit_code == 0, result.output
    assert disk_full == [] and "index" not in result.output


def test_refresh_exits_1_when_the_due_index_fails(tmp_path, disk_full):
    with FakeVendre(products=demo_products(NOW), categories=demo_categories(NOW),
                    api_key=KEY) as shop:
        config = write_config(tmp_path, site_key="demo", api_url=shop.url)
        result = run(config, "refresh")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == FAILED
    assert published(tmp_path) and disk_full


def test_build_all_hands_over_the_results_with_the_failure(tmp_path, disk_full):
    cfg = load_config(str(write_config(tmp_path, site_key="demo")), env={})
    fill(cfg, NOW)
    with pytest.raises(IndexNotRebuilt, match=r"^tracking index not rebuilt") as caught:
        build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    assert caught.value.results and all(r.published for r in caught.value.results)
