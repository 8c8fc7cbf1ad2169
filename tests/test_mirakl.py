"""Mirakl (Afound): the OF01 offers file, and pushing it to the fake Mirakl on loopback."""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from feeds.demo.catalog import demo_products
from feeds.errors import ConfigError
from feeds.pipeline import deliver
from feeds.pipeline.deliver import mirakl as client
from feeds.pipeline.run import build_feeds
from feeds.storage.ledger import SkuState
from tests.conftest import NOW
from tests.fakes.mirakl import DEFAULT_API_KEY, FakeMirakl
from tests.feedkit import demo_cfg, fill
from tests.goldens import assert_golden

HEADER = ("sku;product-id;product-id-type;description;price;quantity;state;discount-price;"
          "discount-start-date;discount-end-date;leadtime-to-ship;update-delete")
ENV = {"AFOUND_API_KEY": DEFAULT_API_KEY}
OFFERS = 28  # the demo shop's sellable items with an EAN


class Clock:
    """The fake's clock, moved by the pushes' pauses instead of real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def virtual_sleep(clock, monkeypatch):
    """`push-status` (check_status) sleeps with time.sleep: on the test's clock instead."""
    monkeypatch.setattr(time, "sleep", clock.sleep)


@pytest.fixture
def mirakl(clock):
    with FakeMirakl(clock=clock) as fake:
        yield fake


def afound_cfg(tmp_path: Path, fake: FakeMirakl | None = None, name: str = "afound",
               **settings: Any):
    table = {"enabled": True, "api_url": fake.url if fake else "https://afound.example",
             **settings}
    return demo_cfg(tmp_path, channels={name: table})


def build(cfg, name="afound", now=NOW):
    (result,) = build_feeds(cfg, codes=[name], now=now)
    assert result.published, result.reason
    return result


def rows(cfg, name="afound") -> dict[str, dict[str, str]]:
    text = (cfg.data_dir / "feeds" / f"{name}.csv").read_text("utf-8")
    return {r["sku"]: r for r in csv.DictReader(io.StringIO(text, newline=""), delimiter=";")}


def push(cfg, clock: Clock, name="afound", env=ENV, **kw: Any):
    return deliver.push(cfg, name, env=env, now=NOW, sleep=clock.sleep, **kw)


def rebuild(cfg, change, name="afound"):
    products = [dict(p) for p in demo_products(NOW)]
    for product in products:
        change(product)
    fill(cfg, NOW, products=products)
    build(cfg, name, now=NOW.replace(hour=13))


# ---------------------------------------------------------------- the file


@pytest.fixture
def built(tmp_path):
    cfg = demo_cfg(tmp_path, channels={"afound": {"enabled": True},
                                       "mirakl": {"enabled": True}})
    fill(cfg, NOW)
    results = {r.stem: r for r in build_feeds(cfg, codes=["afound", "mirakl"], now=NOW)}
    assert all(r.published for r in results.values())
    return cfg, results


def test_golden_offer_files(built):
    cfg, _ = built
    for name in ("afound", "mirakl"):
        assert_golden(f"feeds/{name}.csv", (cfg.data_dir / "feeds" / f"{name}.csv").read_text())


def test_the_file_is_a_semicolon_utf8_offers_file_of_mirakl_columns(built):
    cfg, results = built
    data = (cfg.data_dir / "feeds" / "afound.csv").read_bytes()
    assert data.decode("utf-8").split("\r\n", 1)[0] == HEADER
    assert not data.startswith(b"\xef\xbb\xbf")
    offers = rows(cfg)
    assert len(offers) == results["afound"].counts.items == OFFERS
    assert offers["1001"] == {
        "sku": "1001", "product-id": "7350001001012", "product-id-type": "EAN",
        "description": offers["1001"]["description"], "price": "349.00", "quantity": "14",
        "state": "11", "discount-price": "", "discount-start-date": "", "discount-end-date": "",
        "leadtime-to-ship": "2", "update-delete": "update"}
    assert offers["1001"]["description"].startswith("Ett stämningsfullt familjespel")
    assert "\n" in offers["1001"]["description"]  # quoted, line breaks kept
    assert offers["1003"]["discount-price"] == "379.00"
    assert (offers["1003"]["discount-start-date"], offers["1003"]["discount-end-date"]) == \
        ("2026-11-23T12:00:00Z", "2026-12-08T12:00:00Z")
    assert offers["1014"]["product-id"] == "0081234001018"  # a UPC as a 13-digit EAN
    assert rows(cfg, "mirakl") == offers


def test_items_without_a_product_id_of_the_type_are_reported(built):
    cfg, results = built
    assert {"1016", "1017", "1018"}.isdisjoint(rows(cfg))
    assert results["afound"].counts.errors["product_id_required"] == 3


def test_prices_without_vat_when_the_operator_wants_them(tmp_path):
    cfg = afound_cfg(tmp_path, prices_include_vat=False, leadtime_to_ship=5)
    fill(cfg, NOW)
    build(cfg)
    offers = rows(cfg)
    assert offers["1001"]["price"] == "279.20"  # 349.00 less 25 % VAT
    assert offers["1020"]["price"] == "43.75"  # 49.00 less 12 % VAT
    assert offers["1003"]["discount-price"] == "303.20"
    assert offers["1001"]["leadtime-to-ship"] == "5"


def test_formula_starts_are_stripped_with_a_warning(tmp_path):
    cfg = demo_cfg(tmp_path, shop={"id_field": "article_number"},
                   channels={"afound": {"enabled": True}})
    products = [dict(p) for p in demo_products(NOW)]
    for p in products:
        if p["id"] == 1001:
            p["description"] = {k: "=HYPERLINK(\"http://x\") Farligt" for k in ("sv", "en", "nb")}
        if p["id"] == 1002:
            p["article_number"] = "@-\tDB-1002"
    fill(cfg, NOW, products=products)
    result = build(cfg)
    offers = rows(cfg)
    assert offers["DB-1001"]["description"] == 'HYPERLINK("http://x") Farligt'
    assert "DB-1002" in offers
    text = (cfg.data_dir / "feeds" / "afound.csv").read_text("utf-8")
    cells = [c for row in csv.reader(io.StringIO(text, newline=""), delimiter=";") for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert result.counts.warnings["description_formula"] == 1
    assert result.counts.warnings["sku_formula"] == 1


@pytest.mark.parametrize("table, words", [
    ({"api_url": "http://afound.example"}, "must be https"),
    ({"product_id_type": "GTIN"}, "one of 'EAN', 'UPC'"),
    ({"leadtime_to_ship": -1}, "from 0 to 365"),
])
def test_settings_are_checked_at_load(tmp_path, table, words):
    with pytest.raises(ConfigError, match=words):
        demo_cfg(tmp_path, channels={"afound": table})


def test_afound_needs_no_kind_and_kind_mirakl_gives_the_same_file(tmp_path):
    plain = demo_cfg(tmp_path / "a", channels={"afound": {"enabled": True}})
    kinded = demo_cfg(tmp_path / "b", channels={"afound": {"enabled": True, "kind": "mirakl"}})
    assert plain.channels["afound"].kind == "afound"
    assert kinded.channels["afound"].kind == "mirakl"
    for cfg in (plain, kinded):
        fill(cfg, NOW)
        build(cfg)
    assert (plain.data_dir / "feeds" / "afound.csv").read_bytes() == \
        (kinded.data_dir / "feeds" / "afound.csv").read_bytes()


# ---------------------------------------------------------------- pushing


def test_first_push_is_accepted_and_a_rerun_sends_nothing(tmp_path, mirakl, clock):
    cfg = afound_cfg(tmp_path, mirakl)
    fill(cfg, NOW)
    build(cfg)
    first = push(cfg, clock)
    assert first.actions == {"create": OFFERS} and not first.rejected
    (job,) = mirakl.imports
    assert (job.mode, job.status, job.utf8, job.bom) == ("NORMAL", "COMPLETE", True, False)
    assert job.filename.endswith(".csv") and not job.suspicious_cells
    assert set(mirakl.offers()) == set(rows(cfg))
    assert mirakl.offers()["1001"].price == 349
    entries = deliver.ledger_of(cfg).entries("afound")
    assert {e.state for e in entries.values()} == {SkuState.LIVE}
    assert {r.authorized for r in mirakl.requests} == {True}

    again = push(cfg, clock)
    assert again.sent_nothing and again.requests == 0 and len(mirakl.imports) == 1


def test_a_price_change_sends_only_that_row_a_minute_after_the_last_import(
        tmp_path, clock):
    with FakeMirakl(clock=clock, min_import_interval=60) as mirakl:
        cfg = afound_cfg(tmp_path, mirakl)
        fill(cfg, NOW)
        build(cfg)
        push(cfg, clock)
        rebuild(cfg, lambda p: p.update(price=300) if p["id"] == 1001 else None)
        second = push(cfg, clock)
        assert second.actions == {"price": 1}
        assert [r["sku"] for r in mirakl.imports[-1].rows] == ["1001"]
        assert mirakl.offers()["1001"].price == 375
        assert mirakl.calls("OF01", 429) == 0  # it waited instead of being refused
    assert any(55 < s <= 61 for s in clock.slept)


def test_a_removed_offer_is_a_delete_row(tmp_path, mirakl, clock):
    cfg = afound_cfg(tmp_path, mirakl)
    fill(cfg, NOW)
    build(cfg)
    push(cfg, clock)
    last = rows(cfg)["1004"]
    rebuild(cfg, lambda p: p.update(show=False) if p["id"] == 1004 else None)
    second = push(cfg, clock)
    assert second.actions == {"delete": 1}
    # The same product columns as an update row: its last published row, as a delete.
    assert mirakl.imports[-1].rows == [{**last, "update-delete": "delete"}]
    assert last["product-id"] == "7350001001043" and last["price"] == "279.00"
    assert "1004" not in mirakl.offers()
    assert deliver.ledger_of(cfg).entries("afound")["1004"].state is SkuState.DELETED
    assert push(cfg, clock).sent_nothing


def test_a_rejected_row_is_recorded_and_shown_by_push_status(tmp_path, mirakl, clock,
                                                              virtual_sleep):
    mirakl.unknown_product("7350001001029")
    cfg = afound_cfg(tmp_path, mirakl)
    fill(cfg, NOW)
    build(cfg)
    report = push(cfg, clock)
    assert report.rejected == {"1002": "The product does not exist"}
    status = deliver.check_status(cfg, "afound", env=ENV)
    assert status.by_state == {"live": OFFERS - 1, "rejected": 1}
    assert "  rejected 1002: The product does not exist" in status.lines()


def test_a_429_waits_as_told(tmp_path, mirakl, clock):
    mirakl.fail_next("OF01", 429, retry_after=7)
    cfg = afound_cfg(tmp_path, mirakl)
    fill(cfg, NOW)
    build(cfg)
    report = push(cfg, clock)
    assert report.actions == {"create": OFFERS} and 7 in clock.slept
    assert mirakl.calls("OF01", 429) == 1 and len(mirakl.imports) == 1


def test_a_failed_import_fails_the_push_and_the_next_sends_the_rows_again(
        tmp_path, mirakl, clock):
    mirakl.fail_next_import("The file could not be read")
    cfg = afound_cfg(tmp_path, mirakl)
    fill(cfg, NOW)
    build(cfg)
    with pytest.raises(deliver.PushError, match="FAILED: The file could not be read"):
        push(cfg, clock)
    assert {e.state for e in deliver.ledger_of(cfg).entries("afound").values()} == \
        {SkuState.PENDING}
    assert push(cfg, clock).actions == {"update": OFFERS}
    assert len(mirakl.offers()) == OFFERS


def test_an_import_still_running_is_settled_by_push_status(tmp_path, clock, monkeypatch,
                                                            virtual_sleep):
    monkeypatch.setattr(client, "POLLS", 3)
    with FakeMirakl(clock=clock, polls_to_complete=50) as mirakl:
        cfg = afound_cfg(tmp_path, mirakl)
        fill(cfg, NOW)
        build(cfg)
        assert "still processing" in push(cfg, clock).message
        assert push(cfg, clock).sent_nothing
        mirakl.finish()
        status = deliver.check_status(cfg, "afound", env=ENV)
    assert status.by_state == {"live": OFFERS}


def test_another_mirakl_marketplace_is_configuration_only(tmp_path, clock):
    """e.g. Elgiganten, should it turn out to run on Mirakl: its own name, file and key."""
    with FakeMirakl(clock=clock, api_key="elgiganten-key-12345", shop_ids=(7, 8)) as mirakl:
        cfg = afound_cfg(tmp_path, mirakl, name="elgiganten", kind="mirakl", shop_id="8")
        fill(cfg, NOW)
        build(cfg, "elgiganten")
        with pytest.raises(ConfigError, match="ELGIGANTEN_API_KEY"):
            push(cfg, clock, "elgiganten", env=ENV)
        report = push(cfg, clock, "elgiganten", env={"ELGIGANTEN_API_KEY": "elgiganten-key-12345"})
        assert report.actions == {"create": OFFERS}
        assert len(mirakl.offers(8)) == OFFERS and not mirakl.offers(7)
        assert {r.shop_id for r in mirakl.requests} == {"8"}
    assert (cfg.data_dir / "feeds" / "elgiganten.csv").is_file()


def test_a_dry_run_needs_no_key_and_sends_nothing(tmp_path, mirakl):
    cfg = afound_cfg(tmp_path, mirakl)
    fill(cfg, NOW)
    build(cfg)
    report = deliver.push(cfg, "afound", env={}, dry_run=True, now=NOW)
    assert report.actions == {"create": OFFERS} and mirakl.requests == []


def test_the_key_is_in_no_output_log_or_file(tmp_path, mirakl, clock, caplog):
    caplog.set_level(logging.DEBUG)
    mirakl.reject_sku("1001")
    mirakl.fail_next("OF02", 500)
    cfg = afound_cfg(tmp_path, mirakl)
    fill(cfg, NOW)
    build(cfg)
    lines: list[str] = []
    with httpx.Client() as http:
        report = push(cfg, clock, http=http, echo=lines.append)
        with pytest.raises(ConfigError, match="AFOUND_API_KEY"):
            push(cfg, clock, env={"AFOUND_API_KEY": "not-the-key-0000"}, http=http)
    seen = "\n".join([*lines, report.summary(), caplog.text, *report.rejected.values()])
    files = b"".join(p.read_bytes() for p in cfg.data_dir.rglob("*") if p.is_file())
    assert report.rejected and DEFAULT_API_KEY not in seen
    assert DEFAULT_API_KEY.encode() not in files


# ---------------------------------------------------------------- what Mirakl allows (issue 15)


def test_of02_and_of03_are_called_at_most_once_a_minute(tmp_path, clock):
    with FakeMirakl(clock=clock, polls_to_complete=3) as mirakl:   # 60 s apart, as documented
        mirakl.reject_sku("1001")
        cfg = afound_cfg(tmp_path, mirakl)
        fill(cfg, NOW)
        build(cfg)
        report = push(cfg, clock)
        assert report.rejected == {"1001": "The offer was rejected by the operator"}
        assert mirakl.calls("OF02") == 4 and mirakl.calls("OF03") == 1
        assert mirakl.calls("OF02", 429) == mirakl.calls("OF03", 429) == 0
        assert clock.slept == pytest.approx([61.0] * 3, abs=0.5)   # between the four polls
        rebuild(cfg, lambda p: p.update(price=300) if p["id"] == 1002 else None)
        push(cfg, clock)                    # a minute after the last push's calls, again
        assert mirakl.calls("OF01", 429) == mirakl.calls("OF02", 429) == 0


def test_a_removed_offer_whose_row_left_the_history_is_not_sent(tmp_path, mirakl, clock):
    cfg = afound_cfg(tmp_path, mirakl)
    fill(cfg, NOW)
    build(cfg)
    push(cfg, clock)
    rebuild(cfg, lambda p: p.update(show=False) if p["id"] == 1004 else None)
    for old in (cfg.data_dir / "history").rglob("*"):
        if old.is_file():
            old.unlink()
    report = push(cfg, clock)
    assert report.sent_nothing and len(mirakl.imports) == 1
    assert "1 offers to delete (1004) are no longer in the file's history" in report.message
    assert deliver.ledger_of(cfg).entries("afound")["1004"].state is SkuState.LIVE


@pytest.mark.parametrize("name, table, currency", [
    ("afound", {}, "EUR"),                                   # Afound reads SEK
    ("elgiganten", {"kind": "mirakl", "currency": "NOK"}, "SEK"),
])
def test_the_shops_currency_must_be_the_operators(tmp_path, name, table, currency):
    with pytest.raises(ConfigError, match=rf"channels\.{name}\.currency: {name} reads prices "
                                          rf"in .*, but the shop's are in {currency}"):
        demo_cfg(tmp_path, shop={"currency": currency},
                 channels={name: {"enabled": True, **table}, "cdon": {"enabled": False},
                           "fyndiq": {"enabled": False}})


def test_the_currency_check_passes_and_can_be_left_empty(tmp_path):
    cfg = demo_cfg(tmp_path, shop={"currency": "EUR"}, channels={
        "elgiganten": {"enabled": True, "kind": "mirakl"}, "afound": {"enabled": False},
        "cdon": {"enabled": False}, "fyndiq": {"enabled": False}})
    assert cfg.channels["elgiganten"].currency == "" and cfg.channels["afound"].currency == "SEK"
