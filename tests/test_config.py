from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from feeds.config import IdField, load_config, readme_table, settings_table, starter_toml
from feeds.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


BASE_URL = 'base_url = "https://shop.se"\n'


def write(tmp_path: Path, text: str, *, shop: bool = True) -> Path:
    """`text` as the config file, with the one setting every config needs (`[shop]
    base_url`) added unless `shop` is False or the text sets it."""
    if shop and "base_url" not in text:
        if "[shop]\n" in text:
            text = text.replace("[shop]\n", "[shop]\n" + BASE_URL, 1)
        else:  # top-level keys stay first; the [shop] table goes before the other tables
            lines = text.splitlines(keepends=True)
            cut = next((i for i, line in enumerate(lines) if line.startswith("[")),
                       len(lines))
            text = "".join(lines[:cut]) + f"[shop]\n{BASE_URL}" + "".join(lines[cut:])
    path = tmp_path / "vendre-feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={"VENDRE_FEEDS_SHOP_BASE_URL": "https://shop.se"})
    assert cfg.vendre.page_size == 250
    assert cfg.vendre.concurrency == 4
    assert cfg.shop.language == "sv"
    assert cfg.shop.id_field is IdField.ID
    assert cfg.shop.tax_classes[2] == Decimal(25)
    assert cfg.data_dir == Path("vendre-feeds-data")


def test_starter_file_parses_and_documents_every_setting():
    text = starter_toml(access_key="k" * 20, site_key="s" * 8)
    data = tomllib.loads(text)
    data["shop"]["base_url"] = "https://shop.se"  # the one setting a user must fill in
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


def test_starter_file_has_no_placeholder_urls(tmp_path):
    """An untouched starter file must not send the API key to an example host: it is
    refused until the user fills in the shop's address (and names the key to fill in)."""
    data = tomllib.loads(starter_toml())
    assert data["vendre"]["api_url"] == "" and data["shop"]["base_url"] == ""
    assert data["server"]["public_url"] == ""
    path = tmp_path / "vendre-feeds.toml"
    path.write_text(starter_toml())
    with pytest.raises(ConfigError, match=r"^shop\.base_url: missing; set it"):
        load_config(path, env={})


def test_starter_keys_are_random():
    assert starter_toml() != starter_toml()


def test_lookup_order_explicit_then_env(tmp_path):
    a = write(tmp_path, 'data_dir = "from-file"\n')
    other = tmp_path / "other.toml"
    other.write_text(f'data_dir = "from-env-file"\n[shop]\n{BASE_URL}')
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


# ---------------------------------------------------------------- a newcomer's first config


@pytest.mark.parametrize("text", ["", "[shop]\nname = \"Butiken\"\n", "[shop]\nbase_url = \"\"\n"])
def test_a_config_without_base_url_is_a_config_error(tmp_path, text):
    """Without it every link is missing and every feed would be published empty."""
    with pytest.raises(ConfigError, match=r"^shop\.base_url: missing; set it") as info:
        load_config(write(tmp_path, text, shop=False), env={})
    assert info.value.exit_code == 2


def test_no_config_file_at_all_says_to_run_init(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no config file was found.*vendre-feeds init"):
        load_config(env={})


@pytest.mark.parametrize(("text", "message"), [
    ('[channels.cdon]\nenabled = true\n',
     r"^channels\.cdon\.default_category: missing \(or categories\); cdon is enabled"),
    ('[channels.fyndiq]\nenabled = true\n',
     r"^channels\.fyndiq\.default_category: missing \(or categories\); fyndiq is enabled"),
    ('[channels.amazon]\nenabled = true\n',
     r"^channels\.amazon\.seller_id: missing; amazon is enabled and every offer"),
    ('[channels.amazon-de]\nkind = "amazon"\nenabled = true\n',
     r"^channels\.amazon-de\.seller_id: missing"),
])
def test_an_enabled_marketplace_without_what_it_needs_is_a_config_error(tmp_path, text,
                                                                         message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_a_marketplace_needs_only_one_way_to_a_category_and_nothing_while_off(tmp_path):
    mapped = load_config(write(tmp_path, "[channels.cdon]\nenabled = true\n"
                                         "categories = { 11 = \"1124\" }\n"), env={})
    assert mapped.channel("cdon").categories == {11: "1124"}
    fallback = load_config(write(tmp_path, "[channels.fyndiq]\nenabled = true\n"
                                           "default_category = \"10\"\n"), env={})
    assert fallback.channel("fyndiq").default_category == "10"
    off = load_config(write(tmp_path, "[channels.amazon]\nenabled = false\n"), env={})
    assert off.channel("amazon").seller_id == ""
    from_env = load_config(write(tmp_path, ""), env={
        "VENDRE_FEEDS_CHANNELS_AMAZON_ENABLED": "true",
        "VENDRE_FEEDS_CHANNELS_AMAZON_SELLER_ID": "A1SELLER"})
    assert from_env.channel("amazon").enabled and from_env.channel("amazon").seller_id


@pytest.mark.parametrize(("text", "message"), [
    ('[channels.meta]\nenabled = "false"\n',
     "channels.meta.enabled: true or false expected, got 'false' in quotes; write it "
     "without the quotes"),
    ('[server]\nport = "8000"\n',
     "server.port: a whole number expected, got '8000' in quotes"),
    ('[vendre]\ntimeout_s = "30"\n', "vendre.timeout_s: a number expected, got '30' in quotes"),
    ('[shop]\ntax_classes = { 2 = "25" }\n',
     "shop.tax_classes: a table of a whole number = a number expected, got {'2': '25'} in "
     "quotes"),
    ('[channels.google]\nmin_price = "100"\n', "channels.google.min_price: a number"),
    ('[channels.google]\nexclude_categories = ["3"]\n',
     "channels.google.exclude_categories: a list of whole numbers expected"),
    ('[channels.google]\nexclude_categories = "3, 4"\n',
     "channels.google.exclude_categories: a list of whole numbers expected"),
    ('[tracking]\nconsent_mode = "no"\n', "tracking.consent_mode: true or false expected"),
    ('[[channels.google.targets]]\nfile = "g-no"\ncurrency = "NOK"\nrate = "0.98"\n',
     r"channels.google.targets[0].rate: a number (or empty) expected"),
])
def test_booleans_and_numbers_in_quotes_are_config_errors(tmp_path, text, message):
    """"false" must never be read as true, nor "8000" quietly as a number: the file's
    values have their type. (The environment is text, and is read as text.)"""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.exit_code == 2


def test_the_environment_still_gives_booleans_and_numbers_as_text(tmp_path):
    cfg = load_config(write(tmp_path, ""), env={"VENDRE_FEEDS_CHANNELS_META_ENABLED": "false",
                                                "VENDRE_FEEDS_SERVER_PORT": "8100",
                                                "VENDRE_FEEDS_CHANNELS_GOOGLE_EXCLUDE_"
                                                "CATEGORIES": "3, 4"})
    assert cfg.channel("meta").enabled is False and cfg.server.port == 8100
    assert cfg.channel("google").exclude_categories == (3, 4)


@pytest.mark.parametrize(("text", "message"), [
    ("[shop]\nbase_ulr = \"https://shop.se\"\n",
     "shop.base_ulr: unknown setting (did you mean base_url?)"),
    ("[shopp]\nname = \"x\"\n", "shopp: unknown setting or section (did you mean shop?)"),
    ("[server]\naccesskey = \"x\"\n", "server.accesskey: unknown setting (did you mean "
                                      "access_key?)"),
    ("[channels.googel]\nenabled = true\n",
     "channels.googel.kind: unknown channel 'googel'"),
    ("[channels.google]\nexclude_category = [1]\n",
     "channels.google.exclude_category: unknown setting (did you mean exclude_categories?)"),
    ("[shop]\nzzz = 1\n", "shop.zzz: unknown setting"),
    ("[server]\nmax_feed_age_minutes = 60\n",
     "server.max_feed_age_minutes: renamed; write stale_after_minutes instead"),
])
def test_unknown_keys_suggest_the_nearest_known_one(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert str(info.value).startswith(message), str(info.value)
    if "googel" in text:
        assert str(info.value).endswith("(did you mean google?)")
    if "zzz" in text:
        assert "did you mean" not in str(info.value)


def test_stale_after_defaults_to_three_schedule_intervals(tmp_path):
    assert load_config(write(tmp_path, ""), env={}).stale_after_minutes() == 180
    every = load_config(write(tmp_path, "[schedule]\nevery_minutes = 15\n"), env={})
    assert every.stale_after_minutes() == 45
    off = load_config(write(tmp_path, "[schedule]\nevery_minutes = 0\n"), env={})
    assert off.stale_after_minutes() == 180
    own = load_config(write(tmp_path, "[server]\nstale_after_minutes = 20\n"), env={})
    assert own.stale_after_minutes() == 20
