from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from feeds.config import IdField, load_config, readme_table, settings_table, starter_toml
from feeds.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vendre-feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert cfg.vendre.page_size == 250
    assert cfg.vendre.concurrency == 4
    assert cfg.shop.language == "sv"
    assert cfg.shop.id_field is IdField.ID
    assert cfg.shop.tax_classes[2] == Decimal(25)
    assert cfg.data_dir == Path("vendre-feeds-data")


def test_starter_file_parses_and_documents_every_setting():
    text = starter_toml(access_key="k" * 20, site_key="s" * 8)
    data = tomllib.loads(text)
    cfg = load_config(env={}, overrides=data, use_file=False)
    assert cfg.server.access_key == "k" * 20
    for dotted, _default, _env, doc in settings_table():
        key = dotted.split(".")[-1]
        assert f"{key} = " in text, dotted
        assert doc in text, dotted


def test_readme_settings_table_is_the_generated_one():
    """The README's table is `python -m feeds.config` (regenerate it when it differs)."""
    readme = (ROOT / "README.md").read_text("utf-8")
    start = readme.index("-->\n", readme.index("<!-- settings-table")) + 4
    end = readme.index("<!-- /settings-table -->")
    assert readme[start:end] == readme_table()
    missing = [dotted for dotted, *_ in settings_table() if f"`{dotted}`" not in readme]
    assert not missing, f"README lacks: {missing}"


def test_starter_file_has_no_placeholder_urls():
    """An untouched starter file must not send the API key to an example host."""
    cfg = load_config(env={}, overrides=tomllib.loads(starter_toml()), use_file=False)
    assert cfg.vendre.api_url == "" and cfg.shop.base_url == "" and cfg.server.public_url == ""


def test_starter_keys_are_random():
    assert starter_toml() != starter_toml()


def test_lookup_order_explicit_then_env(tmp_path):
    a = write(tmp_path, 'data_dir = "from-file"\n')
    other = tmp_path / "other.toml"
    other.write_text('data_dir = "from-env-file"\n')
    assert load_config(a, env={}).data_dir == tmp_path.resolve() / "from-file"
    assert load_config(None, env={"VENDRE_FEEDS_CONFIG": str(other)}).data_dir == \
        tmp_path.resolve() / "from-env-file"


def test_paths_in_the_file_are_relative_to_the_file(tmp_path, monkeypatch):
    (tmp_path / "mine").mkdir()
    path = write(tmp_path, 'data_dir = "data"\n[build]\ntemplates_dir = "mine"\n')
    monkeypatch.chdir("/")
    cfg = load_config(path, env={})
    assert cfg.data_dir == tmp_path.resolve() / "data"
    assert cfg.build.templates_dir == str(tmp_path.resolve() / "mine")
    assert load_config(path, env={"VENDRE_FEEDS_DATA_DIR": "rel"}).data_dir == Path("rel")
    broken = write(tmp_path, '[build]\ntemplates_dir = "nope"\n')
    with pytest.raises(ConfigError, match="build.templates_dir"):
        load_config(broken, env={})


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, '[vendre]\napi_url = "https://a.se/API/1"\npage_size = 100\n')
    cfg = load_config(path, env={"VENDRE_API_URL": "https://b.se/API/1",
                                 "VENDRE_FEEDS_VENDRE_PAGE_SIZE": "50",
                                 "VENDRE_FEEDS_DATA_DIR": "/tmp/x"})
    assert cfg.vendre.api_url == "https://b.se/API/1"
    assert cfg.vendre.page_size == 50
    assert cfg.data_dir == Path("/tmp/x")


@pytest.mark.parametrize(("text", "key"), [
    ("[vendre]\npage_size = \"many\"\n", "vendre.page_size"),
    ("[vendre]\npage_size = 0\n", "vendre.page_size"),
    ("[vendre]\napi_url = \"shop.se\"\n", "vendre.api_url"),
    ("[vendre]\napi_url = \"http://shop.se/API/1\"\n", "vendre.api_url"),
    ("[shop]\nid_field = \"sku\"\n", "shop.id_field"),
    ("[shop]\ncurrency = \"kronor\"\n", "shop.currency"),
    ("[shop]\ntax_classes = { 2 = \"lots\" }\n", "shop.tax_classes"),
    ("[shop]\nbogus = 1\n", "shop.bogus"),
    ("nonsense = 1\n", "nonsense"),
    ("[bestsellers]\nlabel = \"custom_label_9\"\n", "bestsellers.label"),
    ("[channels.google]\nmin_price = \"cheap\"\n", "channels.google.min_price"),
    ("[[channels.google.targets]]\nfile = \"g-no\"\ncurrency = \"NOK\"\n",
     "channels.google.targets[0].rate"),
    ("[[channels.google.targets]]\nfile = \"google\"\n", "channels.google.targets"),
    ("[tracking]\ncart_path = \"(\"\n", "tracking.cart_path"),
    ("[tracking]\nga4_id = \"UA-12345\"\n", "tracking.ga4_id"),
    ("[tracking]\ngtm_id = \"GTM-x y\"\n", "tracking.gtm_id"),
    ("[tracking]\nmeta_pixel_id = \"pixel\"\n", "tracking.meta_pixel_id"),
    ("[tracking]\ncriteo_account = \"12a\"\n", "tracking.criteo_account"),
    ("[tracking]\nsite_key = \"a b\"\n", "tracking.site_key"),
    ("[server]\naccess_key = \"abc\"\n", "server.access_key"),
])
def test_bad_settings_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    message = str(info.value)
    assert message.startswith(key), message
    assert "\n" not in message


def test_broken_toml_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[vendre\n"), env={})
    assert "not valid TOML" in str(info.value)


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_channel_targets(tmp_path):
    path = write(tmp_path, """
[shop]
base_url = "https://shop.se"
[channels.google]
exclude_categories = [3, 4]
min_price = 10
extra = { condition = "new" }
[[channels.google.targets]]
file = "google-no"
country = "NO"
language = "nb"
currency = "NOK"
rate = 0.98
rounding = 1
tax_classes = { 2 = 25 }
""")
    cfg = load_config(path, env={})
    google = cfg.channel("google")
    assert [t.file for t in google.targets] == ["google", "google-no"]
    no = google.targets[1]
    assert (no.country, no.language, no.currency) == ("NO", "nb", "NOK")
    assert no.rate == Decimal("0.98") and no.rounding == Decimal(1)
    assert google.exclude_categories == (3, 4)
    assert google.min_price == Decimal(10)
    assert cfg.channel("meta").targets[0].file == "meta"


def test_a_foreign_target_without_its_own_vat_is_a_warning(tmp_path):
    norway = "[[channels.google.targets]]\nfile = \"google-no\"\ncountry = \"NO\"\n" \
             "currency = \"NOK\"\nrate = 0.98\n"
    cfg = load_config(write(tmp_path, norway), env={})
    assert cfg.warnings == ("channels.google: google-no sells to NO but has no tax_classes "
                            "of its own, so its prices carry SE VAT ([shop] tax_classes)",)
    own = load_config(write(tmp_path, norway + "tax_classes = { 2 = 25, 3 = 12 }\n"), env={})
    assert own.warnings == ()
    off = load_config(write(tmp_path, norway + "[channels.google]\nenabled = false\n"), env={})
    assert off.warnings == ()


def test_variant_axes_are_read_in_any_case_and_checked(tmp_path):
    cfg = load_config(write(tmp_path, '[shop]\nvariant_axes = { "Färg" = "color", '
                                      '"Längd" = "size" }\n'), env={})
    assert cfg.shop.variant_axes == {"färg": "color", "längd": "size"}
    with pytest.raises(ConfigError, match="shop.variant_axes.längd"):
        load_config(write(tmp_path, '[shop]\nvariant_axes = { "Längd" = "length" }\n'),
                    env={})


def test_a_data_dir_that_is_a_file_or_cannot_be_made_is_a_config_error(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="^data_dir: .* is not a folder"):
        load_config(write(tmp_path, 'data_dir = "a-file"\n'), env={})
    with pytest.raises(ConfigError, match="^data_dir: .* cannot be created"):
        load_config(write(tmp_path, 'data_dir = "a-file/below"\n'), env={})
    assert load_config(write(tmp_path, 'data_dir = "new/deeper"\n'), env={})


@pytest.mark.parametrize(("text", "key"), [
    ("[server]\nport = 99999\n", "server.port"),
    ("[vendre]\ntimeout_s = 3601\n", "vendre.timeout_s"),
    ("[server]\nthreads = 1000000\n", "server.threads"),
    ("[vendre]\nconcurrency = 500\n", "vendre.concurrency"),
    ("[server]\nconnection_limit = 0\n", "server.connection_limit"),
    ("[shop]\ntax_classes = { 2 = 250 }\n", "shop.tax_classes"),
    ("[channels.google]\nmax_drop_percent = 101\n", "channels.google.max_drop_percent"),
])
def test_every_setting_has_a_range(tmp_path, text, key):
    with pytest.raises(ConfigError, match=f"^{key}: must be from"):
        load_config(write(tmp_path, text), env={})


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_a_timeout_must_be_finite(tmp_path, value):
    with pytest.raises(ConfigError, match="^vendre.timeout_s: a number expected"):
        load_config(write(tmp_path, f"[vendre]\ntimeout_s = {value}\n"), env={})


def test_a_config_file_that_is_no_text_file_is_one_line(tmp_path):
    import os

    bad = tmp_path / "latin1.toml"
    bad.write_bytes('[shop]\nname = "Bl\xe5b\xe4r"\n'.encode("latin-1"))
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    for path, why in ((bad, "is not UTF-8 text"), (tmp_path, "is not a regular file"),
                      (fifo, "is not a regular file"),
                      (Path("/dev/zero"), "is not a regular file")):
        with pytest.raises(ConfigError) as info:
            load_config(path, env={})
        assert why in str(info.value) and "\n" not in str(info.value)
