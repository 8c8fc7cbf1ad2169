"""Shared fixtures: the reference material in ../shared, configs, fixed clocks."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feeds.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def shared_dir() -> Path | None:
    """../shared (or $VENDRE_FEEDS_SHARED): other people's data, read at test time only."""
    candidate = Path(os.environ.get("VENDRE_FEEDS_SHARED") or ROOT.parent / "shared")
    return candidate if (candidate / "fixtures").is_dir() else None


@pytest.fixture
def shared() -> Path:
    """The shared reference folder; the test skips where it is absent."""
    found = shared_dir()
    if found is None:
        pytest.skip("../shared (real Vendre fixtures and schemas) is not present; "
                    "set VENDRE_FEEDS_SHARED to run this test")
    return found


@pytest.fixture
def real_products(shared: Path) -> list[dict[str, Any]]:
    """The 41 real product objects from a live Vendre shop."""
    data = json.loads((shared / "fixtures" / "vendre-sample-products.json").read_text("utf-8"))
    return data["list"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own vendre-feeds settings."""
    for name in list(os.environ):
        if name.startswith("VENDRE_") and name not in {"VENDRE_FEEDS_SHARED",
                                                        "VENDRE_FEEDS_REQUIRE_BROWSER"}:
            monkeypatch.delenv(name)


@pytest.fixture
def now() -> datetime:
    return NOW


def make_config(tmp_path: Path, **sections: Any) -> Config:
    """A Config with a temporary data dir and the given sections over the defaults."""
    overrides: dict[str, Any] = {"data_dir": str(tmp_path / "data"),
                                 "shop": {"base_url": "https://shop.example", "name": "Testshop"}}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(overrides.get(key), dict):
            overrides[key] = {**overrides[key], **value}
        else:
            overrides[key] = value
    return load_config(env={}, overrides=overrides, use_file=False)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """Debian's Chromium (the project never downloads a browser of its own)."""
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium, or a skip (a failure where VENDRE_FEEDS_REQUIRE_BROWSER=1)."""
    required = os.environ.get("VENDRE_FEEDS_REQUIRE_BROWSER") == "1"
    executable = chromium_path()
    if executable is None:
        message = "Chromium is not installed (/usr/bin/chromium or `chromium` on PATH)"
        if required:
            pytest.fail(f"{message}, and VENDRE_FEEDS_REQUIRE_BROWSER=1")
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("the playwright package is missing and VENDRE_FEEDS_REQUIRE_BROWSER=1")
        pytest.skip("the playwright package is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# ---------------------------------------------------------------- object storage

BUCKET = "feeds-test"


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1 (one per session; `s3` empties it for each test)."""
    from tests.fakes.s3 import S3Fake

    with S3Fake() as fake:
        yield fake


@pytest.fixture
def s3(s3_server, monkeypatch: pytest.MonkeyPatch):
    """An empty S3 API with one bucket, `BUCKET`, and credentials in the environment (as
    the AWS chain reads them). No config file, and no instance metadata lookup: nothing
    but loopback is ever asked."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    s3_server.reset()
    client = s3_server.client()
    client.create_bucket(Bucket=BUCKET,
                         CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
    # Anyone may read the objects, as a CDN's origin (or a public bucket) lets it.
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    s3_server.clear()
    return s3_server
