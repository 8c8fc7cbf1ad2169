"""The command line end to end: a real sync against a fake shop on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from feeds.cli import main
from tests.fakes.vendre_api import FakeVendre

KEY = "sekret-api-key-1234567890"


def products(n):
    return [{"id": i, "article_number": f"A-{i}", "parent": 0, "date_modified": 1,
             "name": {"sv": f"Produkt {i}"}, "price": 80, "tax_class_id": 2, "status": True,
             "show": True, "quantity": 1} for i in range(1, n + 1)]


def write_config(tmp_path: Path, api_url: str) -> Path:
    path = tmp_path / "vendre-feeds.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[vendre]\napi_url = "{api_url}"\n'
                    'retries = 1\ntimeout_s = 2\n[shop]\nbase_url = "https://shop.example"\n')
    return path


def run(*args, env=None):
    runner = CliRunner()
    return runner.invoke(main, list(args), env={"VENDRE_API_KEY": KEY, **(env or {})},
                         catch_exceptions=False)


def all_files_text(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_init_writes_a_private_commented_file(tmp_path):
    target = tmp_path / "vendre-feeds.toml"
    result = run("--config", str(target), "init")
    assert result.exit_code == 0, result.output
    assert "api_url" in target.read_text() and oct(target.stat().st_mode)[-3:] == "600"
    again = run("--config", str(target), "init")
    assert again.exit_code == 1 and "exists" in again.output


def test_sync_and_status_against_a_fake_shop(tmp_path, caplog):
    with FakeVendre(products=products(25), categories=[{"id": 1}], orders=[],
                    api_key=KEY, max_page_size=10) as shop:
        cfg = write_config(tmp_path, shop.url)
        result = run("--config", str(cfg), "-v", "sync")
        assert result.exit_code == 0, result.output
        assert "synced 25 products" in result.output
        assert {r.authorized for r in shop.requests} == {True}
    status = run("--config", str(cfg), "status")
    assert "last sync ok" in status.output and "25 products" in status.output
    secret = KEY.encode()
    assert secret not in all_files_text(tmp_path)
    assert KEY not in result.output + status.output + caplog.text


def test_failed_sync_is_one_line_and_keeps_the_snapshot(tmp_path):
    with FakeVendre(products=products(25), categories=[], orders=[], api_key=KEY,
                    max_page_size=10) as shop:
        cfg = write_config(tmp_path, shop.url)
        assert run("--config", str(cfg), "sync").exit_code == 0
        shop.broken_json("products", 10, times=None)
        result = run("--config", str(cfg), "sync")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: ") and "offset=10" in lines[-1]
    assert "Traceback" not in result.output and KEY not in result.output
    status = run("--config", str(cfg), "status").output
    assert "last sync FAILED" in status and "25 products" in status


def test_refused_key(tmp_path):
    with FakeVendre(products=products(1), api_key="another-key-0000") as shop:
        result = run("--config", str(write_config(tmp_path, shop.url)), "sync")
    assert result.exit_code == 1
    assert "the API key was refused" in result.output and KEY not in result.output


def test_orders_missing_is_a_warning(tmp_path):
    with FakeVendre(products=products(3), categories=[], api_key=KEY) as shop:
        shop.missing("orders")
        result = run("--config", str(write_config(tmp_path, shop.url)), "sync")
    assert result.exit_code == 0
    assert "warning: orders:" in result.output


@pytest.mark.parametrize(("content", "key"), [
    ('[vendre]\npage_size = "x"\n', "vendre.page_size"),
    ('[vendre]\napi_url = ""\n[shop]\nbase_url = "https://shop.example"\n', "vendre.api_url"),
    ('[vendre]\napi_url = "https://shop.example/API/1"\n', "shop.base_url"),
])
def test_config_errors_exit_2_naming_the_key(tmp_path, content, key):
    path = tmp_path / "c.toml"
    path.write_text(content)
    result = run("--config", str(path), "sync")
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {key}")
    assert len(result.output.strip().splitlines()) == 1


def test_missing_key_names_the_variable(tmp_path):
    with FakeVendre(products=products(1)) as shop:
        cfg = write_config(tmp_path, shop.url)
        result = CliRunner().invoke(main, ["--config", str(cfg), "sync"], env={})
    assert result.exit_code == 2 and "VENDRE_API_KEY" in result.output


def test_installed_command_runs_the_demo_from_any_directory(tmp_path):
    """The console script of the installed package (CI installs it with `pip install .`)."""
    script = shutil.which("vendre-feeds", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("vendre-feeds is not installed in this environment (pip install .)")
    result = subprocess.run([script, "demo", "--no-serve", "--data-dir", str(tmp_path / "d")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "demo shop synced: 36 products" in result.stdout
    for marketplace in ("cdon", "fyndiq"):   # built, and shown as a dry run
        assert f"{marketplace}: would send create 30; 2 dropped by the rules" in result.stdout
