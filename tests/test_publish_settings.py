"""`[publish]`: the target's bucket and prefix, and the one-line errors for bad values."""

from __future__ import annotations

import pytest

from feeds.config import load_config
from feeds.errors import ConfigError


def publish(tmp_path, **values):
    return load_config(env={}, overrides={"data_dir": str(tmp_path / "d"), "publish": values,
                                             "shop": {"base_url": "https://shop.se"}},
                       use_file=False)


@pytest.mark.parametrize(("target", "bucket", "prefix"), [
    ("", "", ""),
    ("s3://feeds", "feeds", ""),
    ("s3://feeds/", "feeds", ""),
    ("s3://my.feeds-1/shops/acme", "my.feeds-1", "shops/acme/"),
    ("s3://my-feeds/shops/acme/", "my-feeds", "shops/acme/"),
])
def test_the_target_names_a_bucket_and_a_prefix(tmp_path, target, bucket, prefix):
    cfg = publish(tmp_path, target=target)
    assert (cfg.publish.bucket, cfg.publish.prefix) == (bucket, prefix)


@pytest.mark.parametrize("target", ["feeds", "s3://", "s3://b", "s3://Feeds/x", "s3://bb//x",
                                    "s3://bb/../x", "s3://bb/a b", "https://bb/x",
                                    "s3://bb/x\\y"])
def test_a_malformed_target_is_one_line_naming_the_key(tmp_path, target):
    with pytest.raises(ConfigError, match=r"^publish\.target: s3://bucket") as caught:
        publish(tmp_path, target=target)
    assert "\n" not in str(caught.value)


def test_endpoint_must_be_https_except_on_loopback(tmp_path):
    with pytest.raises(ConfigError, match=r"^publish\.endpoint_url: must be https"):
        publish(tmp_path, target="s3://bkt", endpoint_url="http://minio.example:9000")
    cfg = publish(tmp_path, target="s3://bkt", endpoint_url="http://127.0.0.1:9000")
    assert cfg.publish.endpoint_url == "http://127.0.0.1:9000"


def test_public_url_needs_a_target_and_a_url(tmp_path):
    with pytest.raises(ConfigError, match=r"^publish\.public_url: set without publish\.target"):
        publish(tmp_path, public_url="https://cdn.example")
    with pytest.raises(ConfigError, match=r"^publish\.public_url: an http\(s\) URL"):
        publish(tmp_path, target="s3://bkt", public_url="cdn.example")


def test_a_target_without_public_url_is_a_warning(tmp_path):
    assert any("publish.public_url" in w for w in publish(tmp_path, target="s3://bkt").warnings)
    cfg = publish(tmp_path, target="s3://bkt", public_url="https://cdn.example")
    assert not any("publish" in w for w in cfg.warnings)


def test_settings_come_from_the_environment_too(tmp_path):
    cfg = load_config(env={"VENDRE_FEEDS_PUBLISH_TARGET": "s3://bkt/p",
                           "VENDRE_FEEDS_PUBLISH_MAX_AGE_S": "60",
                           "VENDRE_FEEDS_PUBLISH_GZIP_OBJECTS": "true"},
                      overrides={"data_dir": str(tmp_path / "d"),
                                 "shop": {"base_url": "https://shop.se"}}, use_file=False)
    assert (cfg.publish.prefix, cfg.publish.max_age_s, cfg.publish.gzip_objects) == \
        ("p/", 60, True)
    with pytest.raises(ConfigError, match=r"^publish\.max_age_s: must be from 0"):
        publish(tmp_path, max_age_s=-1)
