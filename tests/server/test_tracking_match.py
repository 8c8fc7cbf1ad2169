"""The status page's match rate: per tracking service, how many of the shop's sellable
products its catalogue holds.

Worked out by hand on the demo shop (feeds/demo/catalog.py): 36 products, of which 31
are sellable (less 1010, hidden; 1011, priced 0; 1013, of an unknown tax class; and
the variant parents 1021 and 1030). Every feed leaves out 1012, which has no image, so
Google and Criteo hold 30 of 31 (96 %); Meta also leaves out 1016, which has neither a
brand nor an MPN and whose EAN fails its check digit (Meta needs one of the three), so it
holds 29 of 31 (93 %). With `[channels.criteo] min_price = 300`
Criteo holds the 9 that cost 300 SEK or more today: 1001 (349), 1003 (379 on sale),
1006 (399), 1008 (379), 1009 (1499), 1024 (349), 1026 (399), 1027 (349), 1029 (449),
so 9 of 31 (29 %).
"""

from __future__ import annotations

from lxml import html

from feeds.config import Config
from feeds.events.match import read_match
from feeds.jobs.refresh import build_all
from feeds.progress import make_progress
from feeds.server import create_app
from feeds.storage.layout import Layout
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill

GOOGLE = ("Google Tag Manager", "Google Analytics 4 (gtag.js)")


def match_rows(cfg: Config) -> dict[str, list[str]]:
    """Service title -> the texts of its row's cells, as the status page shows them."""
    app = create_app(cfg, snippets=lambda _cfg: [])
    r = app.test_client().get(f"/?key={cfg.server.access_key}")
    assert r.status_code == 200
    doc = html.fromstring(r.data)
    return {tr.get("data-service"): [" ".join(td.text_content().split())
                                     for td in tr.xpath("td")]
            for tr in doc.xpath("//section[@id='tracking-match']//tr[@class='match']")}


def build(cfg: Config, *codes: str) -> None:
    build_all(cfg, codes=codes, now=NOW, progress=make_progress(quiet=True))


def test_match_rate_per_service(tmp_path):
    cfg = demo_cfg(tmp_path, channels={"criteo": {"min_price": 300}})
    fill(cfg, NOW)
    build(cfg)
    rows = match_rows(cfg)
    assert list(rows) == [*GOOGLE, "Meta Pixel", "Criteo OneTag"]
    no_image = "1012 Extra spelpjäser, 40 st: dropped: image_link: missing image"
    for service in GOOGLE:
        assert rows[service][:4] == [service, "google", "30 of 31 sellable", "96 %"]
        assert rows[service][4] == f"{no_image} (Google requires one)"
    assert rows["Meta Pixel"][:4] == ["Meta Pixel", "meta", "29 of 31 sellable", "93 %"]
    assert rows["Meta Pixel"][4] == (
        f"{no_image} (Meta requires one) 1016 Tolv troll: dropped: brand: missing brand, "
        "GTIN and MPN (Meta requires one of them)")
    assert rows["Criteo OneTag"][:4] == ["Criteo OneTag", "criteo", "9 of 31 sellable",
                                         "29 %"]
    match = read_match(Layout(cfg.data_dir))
    assert (match.products, dict(match.feeds)) == (31, {"criteo": 9, "google": 30, "meta": 29})
    # 22 missing: the first 20 named, each skipped by the channel's own filter
    criteo = match.missing["criteo"]
    assert len(criteo) == 20 and rows["Criteo OneTag"][4].endswith("and 2 more")
    assert {m.reason for m in criteo} == {"skipped: cheaper than min_price 300"}
    assert "1001" not in {m.id for m in criteo} and "1002" in {m.id for m in criteo}
    # under 90 %, the banner says so; 93 % and 96 % are no failure
    app = create_app(cfg, snippets=lambda _cfg: [])
    doc = html.fromstring(app.test_client().get(f"/?key={cfg.server.access_key}").data)
    problems = [" ".join(li.text_content().split())
                for li in doc.xpath("//section[@id='banner']//li")]
    assert [p for p in problems if " matches only " in p] == [
        "Criteo OneTag matches only 9 of 31 sellable products (29 %): the criteo catalogue "
        "lacks the others; the products and the reasons are listed under Tracking. Events "
        "are still sent for every product, but Criteo OneTag can show only the products "
        "its catalogue holds."]


def test_a_channel_never_built_or_disabled_is_named(tmp_path):
    cfg = demo_cfg(tmp_path, channels={"meta": {"enabled": False}})
    fill(cfg, NOW)
    rows = match_rows(cfg)
    assert rows["Meta Pixel"][2] == "the meta channel is disabled: no catalogue to match"
    assert rows["Criteo OneTag"][2] == "not counted yet (counted at every build)"
    build(cfg, "google")    # Criteo is enabled but never built: it blocks nothing
    rows = match_rows(cfg)
    assert rows["Google Analytics 4 (gtag.js)"][2:4] == ["30 of 31 sellable", "96 %"]
    assert rows["Criteo OneTag"][2] == "criteo has not been published yet"


def test_counted_without_a_loader_too(tmp_path):
    """No site key: no index to build, the match is still counted for the services."""
    cfg = demo_cfg(tmp_path, tracking={"site_key": ""})
    fill(cfg, NOW)
    build(cfg)
    assert not (Layout(cfg.data_dir).tracking / "index.json").exists()
    assert match_rows(cfg)["Meta Pixel"][2:4] == ["29 of 31 sellable", "93 %"]
    assert [m.id for m in read_match(Layout(cfg.data_dir)).missing["meta"]] == ["1012", "1016"]


def test_no_section_without_a_tracking_service(tmp_path):
    cfg = demo_cfg(tmp_path, tracking={"gtm_id": "", "ga4_id": "", "meta_pixel_id": "",
                                       "criteo_account": ""})
    fill(cfg, NOW)
    build(cfg)
    assert match_rows(cfg) == {}
    app = create_app(cfg, snippets=lambda _cfg: [])
    body = app.test_client().get(f"/?key={cfg.server.access_key}").data.decode()
    assert "tracking-match" not in body
