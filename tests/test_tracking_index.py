"""The product index the loader reads: keys, entries, shards, versions, and the functions
that Python and loader.js must compute alike (the JavaScript side runs in Node)."""

from __future__ import annotations

import copy
import html
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from feeds.config import Config
from feeds.demo.catalog import demo_categories, demo_products
from feeds.events.index import (
    CATEGORY_FIELDS,
    KEYS_PER_SHARD,
    PRODUCT_FIELDS,
    IndexInfo,
    build_index,
    choose_shards,
    fnv1a_32,
    link_key,
    normalise_path,
    read_index,
    shard_of,
)
from feeds.events.source import LIST_LENGTH, EventSource
from feeds.formats.templates import make_env
from feeds.jobs.refresh import build_all
from feeds.pipeline.run import build_feeds
from feeds.progress import make_progress
from feeds.server.tracking_routes import render_loader
from feeds.storage.layout import Layout
from feeds.storage.store import Store
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill

NODE = shutil.which("node")
HOSTILE = "</script><script>alert(1)</script>"
SEPARATORS = "line\u2028para\u2029end"


def entries(info: IndexInfo) -> dict[str, dict[str, Any]]:
    """Every key of the index with its entry, checking each sits in its own shard."""
    found: dict[str, dict[str, Any]] = {}
    for shard in range(info.shards):
        data = json.loads((info.folder / f"{shard}.json").read_text("utf-8"))
        for key, entry in data.items():
            assert shard_of(key, info.shards) == shard, key
            found[key] = entry
    assert len(found) == info.count
    return found


def built(cfg: Config, products: list[dict] | None = None,
          categories: list[dict] | None = None) -> IndexInfo:
    store = fill(cfg, NOW, products=products, categories=categories)
    build_feeds(cfg, now=NOW)    # each entry names the published feeds that hold its id
    return build_index(cfg, store, NOW)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, IndexInfo]:
    cfg = demo_cfg(tmp_path_factory.mktemp("index"))
    return cfg, built(cfg)


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(("path", "key"), [
    ("/en/rpgs/x/", "en/rpgs/x"),
    ("en/rpgs/x", "en/rpgs/x"),
    ("/EN/RPGs/X?visitorid=123#top", "en/rpgs/x"),
    ("/nb/b%C3%B8ker/", "nb/bøker"),
    ("nb/bøker/", "nb/bøker"),
    ("/", ""),
    ("", ""),
    ("//spel//", "spel"),
    ("/a%3Fb/", "a?b"),  # an encoded ? is part of the path, not a query
])
def test_normalise_path(path, key):
    assert normalise_path(path) == key


def test_absolute_links_lose_the_shops_own_path():
    assert link_key("https://shop.se/butik/en/x/", "butik") == "en/x"
    assert link_key("https://shop.se/en/x/", "") == "en/x"
    assert link_key("butik/en/x/", "butik") == "butik/en/x"  # relative: kept as it is


def test_fnv1a_known_values():
    # Reference values of 32-bit FNV-1a.
    assert fnv1a_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968


def test_shard_count_is_a_maximum():
    assert choose_shards(0, 64) == 1
    assert choose_shards(KEYS_PER_SHARD, 64) == 1
    assert choose_shards(KEYS_PER_SHARD + 1, 64) == 2
    assert choose_shards(10**6, 64) == 64
    assert choose_shards(10**6, 1) == 1


def test_demo_keys_lead_to_the_feed_id(demo):
    cfg, info = demo
    found = entries(info)
    raw = {p["id"]: p for p in demo_products(NOW)}
    for language in ("sv", "en", "nb"):
        assert found[f"p:{normalise_path(raw[1001]['seo_link'][language])}"]["id"] == "1001"
    assert found["i:1001"] == found["a:DB-1001"] == found["p:spel/bradspel/stigar-genom-skogen"]
    assert found["i:1001"]["name"] == "Stigar genom skogen"  # the home (sv) feed's values
    assert found["i:1001"]["feeds"] == ["criteo", "google", "meta"]
    # No image: in no feed, but sellable, so its page still sends events.
    assert found["i:1012"]["id"] == "1012" and found["i:1012"]["feeds"] == []
    assert "i:1010" not in found and "i:1013" not in found  # hidden; no price
    assert info.shards == choose_shards(info.count, cfg.tracking.index_shards) == 3
    assert read_index(Layout(cfg.data_dir)).languages == ("en", "nb")


def test_a_variant_parent_leads_to_its_first_sellable_variant(demo):
    _cfg, info = demo
    found = entries(info)
    parent_path = normalise_path(next(p for p in demo_products(NOW)
                                      if p["id"] == 1030)["seo_link"]["en"])
    for key in ("i:1030", "a:DB-1030", f"p:{parent_path}"):
        assert (found[key]["id"], found[key]["group_id"], found[key]["variant"]) == \
            ("1031", "1030", "S"), key
    assert found["i:1032"]["id"] == "1032"  # each variant's own page names itself


def test_entries_hold_only_what_the_shops_pages_show(demo):
    _cfg, info = demo
    for key, entry in entries(info).items():
        if key.startswith("p:") and "items" in entry:
            assert tuple(entry) == CATEGORY_FIELDS, key
            assert 0 < len(entry["items"]) <= LIST_LENGTH
            for item in entry["items"]:
                assert tuple(item) == PRODUCT_FIELDS, key
        else:
            assert tuple(entry) == PRODUCT_FIELDS, key
            assert entry["availability"] in {"in_stock", "out_of_stock", "preorder",
                                             "backorder"}


def test_category_lists_are_those_of_the_events(demo):
    cfg, info = demo
    found = entries(info)
    source = EventSource(cfg, Store.in_dir(cfg.data_dir), NOW)
    for category in demo_categories(NOW):
        event = source.category_list(category["id"])
        for language in ("sv", "en", "nb"):
            entry = found[f"p:{normalise_path(category['seo_link'][language])}"]
            assert (entry["list_id"], entry["list_name"]) == (event.list_id, event.list_name)
            assert [i["id"] for i in entry["items"]] == [i.id for i in event.items]
            assert [i["price"] for i in entry["items"]] == [float(i.price) for i in event.items]


def test_article_number_policy(tmp_path):
    info = built(demo_cfg(tmp_path, shop={"id_field": "article_number"}))
    found = entries(info)
    assert found["i:1001"]["id"] == "DB-1001"
    assert found["i:1021"]["id"] == "DB-1021-RED" and found["i:1021"]["group_id"] == "DB-1021"


def test_a_shared_article_number_is_no_key(tmp_path):
    products = demo_products(NOW)
    by_id = {p["id"]: p for p in products}
    by_id[1002]["article_number"] = "DB-1001"
    info = built(demo_cfg(tmp_path), products=products)
    found = entries(info)
    assert "a:DB-1001" not in found and found["i:1001"]["id"] == "1001"
    info = built(demo_cfg(tmp_path, shop={"id_field": "article_number"}), products=products)
    # Both products have the id DB-1001: the feeds drop both, events name both by it.
    found = entries(info)
    assert found["i:1001"]["id"] == found["i:1002"]["id"] == "DB-1001"
    assert found["i:1001"]["feeds"] == found["i:1002"]["feeds"] == []


# ---------------------------------------------------------------- hostile names


def _hostile_catalogue() -> tuple[list[dict], list[dict]]:
    # Deep copies: the demo shares some dicts (category names) between calls.
    products, categories = copy.deepcopy(demo_products(NOW)), copy.deepcopy(demo_categories(NOW))
    # Vendre names are HTML-escaped text: a name that *shows* "</script>..." is stored
    # escaped (raw tags would be removed as markup before anything reaches an event).
    shown = html.escape(HOSTILE)
    by_id = {p["id"]: p for p in products}
    by_id[1001]["name"] = {"sv": shown, "en": shown, "nb": shown}
    by_id[1002]["name"] = {"sv": SEPARATORS, "en": SEPARATORS, "nb": SEPARATORS}
    by_id[1002]["manufacturer_name"] = html.escape("<!--" + HOSTILE)
    by_id[1002]["article_number"] = "DB\u20281002"
    next(c for c in categories if c["id"] == 110)["name"]["sv"] = shown
    return products, categories


def test_hostile_names_survive_as_data(tmp_path):
    info = built(demo_cfg(tmp_path), *_hostile_catalogue())
    text = "".join(p.read_text("utf-8") for p in info.folder.glob("*.json"))
    assert "<" not in text and ">" not in text and "\u2028" not in text and "\u2029" not in text
    found = entries(info)
    assert found["i:1001"]["name"] == HOSTILE
    # Names are cleaned text (U+2028 is whitespace to clean_text); what is left is data.
    assert found["i:1002"]["name"] == "line para end"
    assert found["i:1002"]["brand"] == "<!--" + HOSTILE
    assert found["a:DB\u20281002"]["id"] == "1002"  # article numbers are only trimmed
    assert found["p:spel"]["list_name"] == HOSTILE
    assert found["p:spel"]["items"][0]["name"] == HOSTILE


# ---------------------------------------------------------------- versions


def test_versions(tmp_path):
    cfg = demo_cfg(tmp_path)
    first = built(cfg)
    again = build_index(cfg, Store.in_dir(cfg.data_dir), NOW)
    assert again.version == first.version and again.previous == ""
    products = demo_products(NOW)
    products[0]["price"] = 300  # 1001 costs more now
    second = built(cfg, products=products)
    assert second.version != first.version and second.previous == first.version
    assert first.folder.is_dir()  # a loader cached before the build may still ask for it
    assert entries(second)["i:1001"]["price"] == 375.0
    products[0]["price"] = 320
    third = built(cfg, products=products)
    assert third.previous == second.version
    assert not first.folder.exists()  # older than the previous: deleted
    state = json.loads((cfg.data_dir / "tracking" / "index.json").read_text("utf-8"))
    assert state == {"version": third.version, "previous": second.version,
                     "shards": third.shards, "count": third.count,
                     "built_at": NOW.isoformat(), "languages": ["en", "nb"]}
    assert sorted(p.name for p in (cfg.data_dir / "tracking" / "index").iterdir()) == \
        sorted([second.version, third.version])


def test_build_all_builds_the_index_when_there_is_a_site_key(tmp_path):
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build_all(cfg, now=NOW, progress=make_progress(quiet=True))
    assert read_index(Layout(cfg.data_dir)) is not None
    off = demo_cfg(tmp_path / "off", tracking={"site_key": ""})
    fill(off, NOW)
    build_all(off, now=NOW, progress=make_progress(quiet=True))
    assert read_index(Layout(off.data_dir)) is None


def test_one_shard_when_asked(tmp_path):
    info = built(demo_cfg(tmp_path, tracking={"index_shards": 1}))
    assert info.shards == 1 and len(entries(info)) == info.count


# ---------------------------------------------------------------- Python and JS agree

# Runs loader.js in a vm whose global is `window`, with a stub DOM and a fetch that
# serves the given shards; prints what the loader computed and pushed.
_HARNESS = r"""
const vm = require('vm');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const noop = () => {};
const inserted = [];
const element = () => ({setAttribute: noop, getAttribute: () => null});
const append = (node) => inserted.push(node.src);
const document = {
  readyState: 'complete', currentScript: {src: input.src, getAttribute: () => null},
  createElement: element, head: {appendChild: append}, documentElement: {appendChild: append},
  querySelectorAll: () => [], addEventListener: noop,
};
const ctx = {document, location: {pathname: input.path}, Promise, JSON, Date, setTimeout};
ctx.window = ctx;
ctx.fetch = (url) => {
  const m = /\/index\/(\d+)\.json/.exec(url);
  const body = m && input.shards[m[1]];
  return Promise.resolve({ok: !!body, json: () => Promise.resolve(JSON.parse(body))});
};
vm.createContext(ctx);
vm.runInContext(input.code, ctx);
const loader = ctx.vendreFeedsLoader;
const wait = () => {
  if (!loader.done) return setTimeout(wait, 5);
  console.log(JSON.stringify({
    shards: input.keys.map((k) => loader.shardOf(k, input.count)),
    paths: input.paths.map((p) => loader.pathKey(p)),
    page: loader.page,
    scripts: inserted,
    consentFunctions: typeof ctx.vendreFeedsConsent + ' ' + typeof ctx.vendreFeedsWhenGranted,
    dataLayer: ctx.dataLayer.map((x) => typeof x.length === 'number' ? Array.from(x) : x),
  }));
};
wait();
"""


def run_loader(cfg: Config, info: IndexInfo, path: str, *, keys: list[str] = (),
               paths: list[str] = (), count: int = 1) -> dict[str, Any]:
    code = render_loader(cfg, make_env(), read_index(Layout(cfg.data_dir)), "http://f.test")
    shards = {str(n): (info.folder / f"{n}.json").read_text("utf-8")
              for n in range(info.shards)}
    payload = json.dumps({"code": code, "src": "http://f.test/t/demo/loader.js", "path": path,
                          "shards": shards, "keys": list(keys), "paths": list(paths),
                          "count": count})
    result = subprocess.run([NODE, "-e", _HARNESS], input=payload, capture_output=True,
                            text=True, check=True, timeout=30)
    return json.loads(result.stdout)


KEYS = ["", "i:1001", "a:DB-1021-RED", "p:spel/bradspel/stigar-genom-skogen",
        "p:nb/bøker/rollespillbøker", "p:ünïcödé/日本語/🎲", "a:\ud800lone", "p:" + HOSTILE,
        "p:" + SEPARATORS]
PATHS = ["/en/rpgs/x/", "/EN/Games/", "/nb/b%C3%B8ker/", "/", "//spel//", "/a%3Fb/",
         "/bad%E0%A4%A"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize("count", [1, 3, 7, 64, 4096])
def test_js_shards_and_paths_equal_pythons(demo, count):
    cfg, info = demo
    out = run_loader(cfg, info, "/", keys=KEYS, paths=PATHS, count=count)
    assert out["shards"] == [shard_of(k, count) for k in KEYS]
    # A malformed escape is the one place the two may differ (no page has such a link).
    assert out["paths"][:-1] == [normalise_path(p) for p in PATHS[:-1]]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_hostile_names_reach_the_events_as_data(tmp_path):
    cfg = demo_cfg(tmp_path)
    info = built(cfg, *_hostile_catalogue())
    out = run_loader(cfg, info, "/spel/bradspel/stigar-genom-skogen/")
    assert out["page"] == "product"
    pushes = [x for x in out["dataLayer"] if isinstance(x, dict) and x.get("event")]
    assert pushes[-1]["ecommerce"]["items"][0]["item_name"] == HOSTILE
    out = run_loader(cfg, info, "/spel/")
    (push,) = [x for x in out["dataLayer"] if isinstance(x, dict)
               and x.get("event") == "view_item_list"]
    assert push["ecommerce"]["item_list_name"] == HOSTILE
    assert push["ecommerce"]["items"][1]["item_brand"] == "<!--" + HOSTILE


def test_hostile_catalogue_is_not_shared_state():
    # _hostile_catalogue builds fresh objects: the demo catalogue itself is unchanged.
    before = copy.deepcopy(demo_products(NOW))
    _hostile_catalogue()
    assert demo_products(NOW) == before and "Spel" in json.dumps(demo_categories(NOW))


def test_stale_work_folders_are_removed(tmp_path):
    cfg = demo_cfg(tmp_path)
    stale = Path(cfg.data_dir) / "tracking" / "index" / ".build-crashed"
    stale.mkdir(parents=True)
    built(cfg)
    assert not stale.exists()


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize("consent_mode", [True, False])
def test_consent_mode_switch(tmp_path, consent_mode):
    cfg = demo_cfg(tmp_path, tracking={"consent_mode": consent_mode})
    out = run_loader(cfg, built(cfg), "/")
    assert out["page"] == "home"
    assert out["consentFunctions"] == "function function"  # a banner's call never fails
    consent = [x for x in out["dataLayer"] if isinstance(x, list) and x[0] == "consent"]
    criteo = [s for s in out["scripts"] if "criteo" in s]
    if consent_mode:
        assert consent and consent[0][1] == "default" and criteo == []
    else:
        assert consent == [] and len(criteo) == 1
