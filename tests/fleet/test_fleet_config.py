"""The fleet file and its shops' configs: data dirs, shards, [publish], the environment."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest

from feeds.config import load_config, load_fleet, starter_toml
from feeds.config.fleet import inherit_publish
from feeds.errors import ConfigError
from tests.conftest import NOW, ROOT
from tests.fleetkit import FleetDir, demo_api, toml_text

BROKER = "redis://127.0.0.1:6399/0"


@pytest.fixture
def fleet(tmp_path: Path) -> FleetDir:
    fleet = FleetDir(tmp_path / "f", BROKER, shards=3)
    fleet.add_shop("acme", "http://127.0.0.1:9/API/1", "k" * 20)
    return fleet


def test_a_shop_uses_its_fleet_state_unless_it_sets_data_dir(fleet: FleetDir) -> None:
    loaded = fleet.load()
    assert loaded.load_shop("acme").data_dir == fleet.state_root / "acme"
    own = fleet.shops_dir / "own.toml"
    own.write_text('data_dir = "elsewhere"\n[shop]\nbase_url = "https://own.example"\n',
                   encoding="utf-8")
    assert loaded.load_shop("own").data_dir == fleet.shops_dir / "elsewhere"


def test_shards_are_crc32_of_the_name_unless_the_shop_says(fleet: FleetDir) -> None:
    loaded = fleet.load()
    assert loaded.shard_of("acme", loaded.load_shop("acme")) == zlib.crc32(b"acme") % 3
    fleet.add_shop("pinned", "http://127.0.0.1:9/API/1", "k" * 20, shard=2)
    assert loaded.shard_of("pinned", loaded.load_shop("pinned")) == 2
    fleet.add_shop("beyond", "http://127.0.0.1:9/API/1", "k" * 20, shard=3)
    with pytest.raises(ConfigError, match=r"shop beyond: fleet.shard: 3 is not a shard .*0 to 2"):
        loaded.shard_of("beyond", loaded.load_shop("beyond"))


def test_a_shop_fleet_table_holds_shard_only(fleet: FleetDir) -> None:
    (fleet.shops_dir / "odd.toml").write_text(toml_text({"fleet": {"shards": 4}}), "utf-8")
    with pytest.raises(ConfigError, match=r"shop odd: fleet.shards: unknown setting"):
        fleet.load().load_shop("odd")


def test_the_shard_of_a_shop_is_not_read_from_the_environment(fleet: FleetDir) -> None:
    """One variable in a fleet's shared environment would move every shop."""
    loaded = load_fleet(fleet.file, env={"VENDRE_FEEDS_FLEET_SHARD": "2"})
    assert loaded.load_shop("acme").fleet.shard is None
    single = load_config(env={"VENDRE_FEEDS_FLEET_SHARD": "2"}, use_file=False,
                         overrides={"shop": {"base_url": "https://shop.example"}})
    assert single.fleet.shard is None


@pytest.mark.parametrize("name", ["VENDRE_FEEDS_DATA_DIR", "VENDRE_FEEDS_ACCESS_KEY",
                                  "VENDRE_FEEDS_TRACKING_SITE_KEY", "VENDRE_API_URL"])
def test_per_shop_settings_from_a_fleet_environment_are_refused(fleet: FleetDir,
                                                                name: str) -> None:
    loaded = load_fleet(fleet.file, env={name: "x" * 20})
    with pytest.raises(ConfigError, match=f"{name}: set in the environment of a fleet"):
        loaded.load_shop("acme")


def test_fleet_settings_come_from_the_environment_too(fleet: FleetDir) -> None:
    loaded = load_fleet(fleet.file, env={"VENDRE_FEEDS_FLEET_BROKER_URL": "redis://r:1/2"})
    assert loaded.settings.broker_url == "redis://r:1/2"
    assert loaded.shops_dir == fleet.shops_dir and loaded.settings.shards == 3


@pytest.mark.parametrize(("table", "message"), [
    ({"fleet": {"shards": 0}}, r"fleet.shards: must be from 1 to 1024"),
    ({"fleet": {"broker_url": "amqp://x"}}, r"fleet.broker_url: a redis:// or rediss:// URL"),
    ({"fleet": {"time_limit_s": 3600}}, r"time_limit_s: must be below visibility_timeout_s"),
    ({"fleet": {"lock_lease_s": 1}}, r"fleet.lock_lease_s: must be from 5"),
    ({"shop": {"name": "x"}}, r"shop: unknown section \(a fleet file holds \[fleet\] and"),
    ({"fleet": {"shops": "x"}}, r"fleet.shops: unknown setting"),
])
def test_a_malformed_fleet_file_is_one_line(tmp_path: Path, table: dict, message: str) -> None:
    file = tmp_path / "fleet.toml"
    file.write_text(toml_text(table), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_fleet(file, env={})


def test_no_fleet_file_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no fleet file: pass --fleet PATH or set "
                                          "VENDRE_FEEDS_FLEET"):
        load_fleet(None, env={})


def test_a_missing_fleet_file_is_named_a_fleet_file(tmp_path: Path) -> None:
    """Not a config file, and `vendre-feeds init` writes none: no such advice."""
    with pytest.raises(ConfigError) as caught:
        load_fleet(tmp_path / "fleet.toml", env={})
    assert str(caught.value) == f"fleet file {tmp_path / 'fleet.toml'} not found"


def test_shop_files_must_be_named_like_shops(fleet: FleetDir) -> None:
    (fleet.shops_dir / "Big Shop.toml").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="a shop's file name is its name"):
        fleet.load().shop_names()


def test_a_config_outside_the_shops_folder_is_refused(fleet: FleetDir, tmp_path: Path) -> None:
    stray = tmp_path / "acme.toml"
    stray.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="not in the fleet's shops folder"):
        fleet.load().name_of(stray)
    assert fleet.load().name_of(fleet.shops_dir / "acme.toml") == "acme"


# ---------------------------------------------------------------- [publish]


def test_publish_is_inherited_with_the_shop_name_appended() -> None:
    fleet = {"target": "s3://bucket/feeds", "public_url": "https://cdn.example/",
             "max_age_s": 60}
    assert inherit_publish(fleet, None, "acme") == {
        "target": "s3://bucket/feeds/acme/", "public_url": "https://cdn.example/acme",
        "max_age_s": 60}
    assert inherit_publish({"target": "s3://bucket"}, None, "acme") == {
        "target": "s3://bucket/acme/"}


def test_a_shop_with_its_own_publish_keeps_it() -> None:
    assert inherit_publish({"target": "s3://bucket/feeds"}, {"target": "s3://own"}, "a") is None
    assert inherit_publish({"target": "s3://bucket/feeds"}, {}, "a") is None
    assert inherit_publish({}, None, "a") is None


def test_a_shop_loads_the_inherited_publish(tmp_path: Path) -> None:
    fleet = FleetDir(tmp_path / "f", BROKER)
    text = fleet.file.read_text("utf-8") + toml_text(
        {"publish": {"target": "s3://bucket/feeds", "public_url": "https://cdn.example"}})
    fleet.file.write_text(text, encoding="utf-8")
    fleet.add_shop("acme", "http://127.0.0.1:9/API/1", "k" * 20)
    fleet.add_shop("own", "http://127.0.0.1:9/API/1", "k" * 20,
                   publish={"target": "s3://other/x"})
    loaded = fleet.load()
    acme = loaded.load_shop("acme").publish
    assert (acme.bucket, acme.prefix, acme.public_url) == ("bucket", "feeds/acme/",
                                                           "https://cdn.example/acme")
    assert loaded.load_shop("own").publish.target == "s3://other/x"


def test_a_fleet_publish_table_holds_publish_settings_only(tmp_path: Path) -> None:
    fleet = FleetDir(tmp_path / "f", BROKER)
    fleet.file.write_text(fleet.file.read_text("utf-8")
                          + toml_text({"publish": {"bucket": "s3://b"}}), "utf-8")
    with pytest.raises(ConfigError, match=r"publish.bucket: unknown setting"):
        fleet.load()


# ---------------------------------------------------------------- the CLI and the demo fleet


def test_every_command_works_on_a_shop_of_the_fleet(tmp_path: Path) -> None:
    fleet = FleetDir(tmp_path / "f", BROKER)
    with demo_api(NOW, api_key="acme-key-0123456789") as api:
        fleet.add_shop("acme", api.url, "acme-key-0123456789")
        done = fleet.cli("--config", "shops/acme.toml", "refresh")
        assert done.returncode == 0, done.stderr
    assert (fleet.state_root / "acme" / "catalog.sqlite3").is_file()
    assert (fleet.state_root / "acme" / "feeds" / "google.xml").is_file()
    done = fleet.cli("--config", "shops/acme.toml", "status")
    assert done.returncode == 0, done.stderr
    assert f"data dir: {fleet.state_root / 'acme'}" in done.stdout
    missing = fleet.cli("status")
    assert missing.returncode == 2
    assert missing.stderr.strip() == ("error: --config: name one shop's file of the fleet, "
                                      "e.g. --config shops/acme.toml")


def test_init_in_a_fleet_leaves_data_dir_to_the_fleet(fleet: FleetDir) -> None:
    text = starter_toml(in_fleet=True)
    assert "\ndata_dir =" not in text and "# data_dir =" in text
    done = fleet.cli("--config", "shops/new.toml", "init")
    assert done.returncode == 0, done.stderr
    new = fleet.shops_dir / "new.toml"  # the owner fills in the shop's address
    new.write_text(re.sub(r'(?m)^base_url = "".*$', 'base_url = "https://new.example"',
                          new.read_text("utf-8")), "utf-8")
    assert fleet.load().load_shop("new").data_dir == fleet.state_root / "new"


def test_the_demo_fleet_of_the_compose_file_loads() -> None:
    demo = ROOT / "deploy" / "fleet"
    loaded = load_fleet(demo / "fleet.toml", env={})
    names = loaded.shop_names()
    assert names == ["acme", "bravo", "cirrus"]
    shards = {n: loaded.shard_of(n, loaded.load_shop(n, reader=True)) for n in names}
    assert shards == {"acme": 0, "bravo": 1, "cirrus": 0}
    assert loaded.settings.shards == 2
