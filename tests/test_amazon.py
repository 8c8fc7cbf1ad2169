"""Amazon: the JSON_LISTINGS_FEED document, and pushing it to the fake SP-API on loopback."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.cli import main
from feeds.config import load_config
from feeds.demo.catalog import demo_products
from feeds.demo.run import demo_toml
from feeds.errors import ConfigError
from feeds.pipeline import deliver
from feeds.pipeline.deliver import amazon as client
from feeds.pipeline.run import build_feeds
from feeds.storage.ledger import SkuState
from tests.conftest import NOW
from tests.fakes.spapi import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_SELLER_ID,
    SWEDEN,
    FakeSpApi,
)
from tests.feedkit import demo_cfg, fill
from tests.goldens import assert_golden

ENV = {"AMAZON_LWA_CLIENT_ID": DEFAULT_CLIENT_ID,
       "AMAZON_LWA_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
       "AMAZON_LWA_REFRESH_TOKEN": DEFAULT_REFRESH_TOKEN}
CREDENTIALS = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN)
ITEM = [{"value": "Stigar genom skogen", "language_tag": "sv_SE", "marketplace_id": SWEDEN}]
SELLABLE_WITH_GTIN = 28  # the demo shop's sellable items that have a valid GTIN


class Sleeps(list):
    """Records the pauses asked for instead of sleeping (truthy even when empty, so
    that `push` does not fall back to time.sleep); the fakes' clock moves by them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    def __bool__(self) -> bool:
        return True

    def now(self) -> float:
        return 1000.0 + sum(self)


SLEEPS = Sleeps()


@pytest.fixture(autouse=True)
def sleeps():
    """This test's pauses (a fresh record each test), which the fake's clock follows."""
    SLEEPS.clear()
    return SLEEPS


def spapi(**kwargs: Any) -> FakeSpApi:
    """A fake SP-API on the pushes' clock (getListingsItem is limited to 5 a second)."""
    return FakeSpApi(clock=SLEEPS.now, **kwargs)


@pytest.fixture
def amazon():
    """A fake SP-API whose feeds are done on the third getFeed."""
    with spapi() as fake:
        yield fake


def amazon_cfg(tmp_path: Path, fake: FakeSpApi | None = None, **settings: Any):
    urls = {"endpoint": fake.url, "token_url": fake.token_url} if fake else {}
    return demo_cfg(tmp_path, channels={"amazon": {
        "enabled": True, "seller_id": DEFAULT_SELLER_ID, **urls, **settings}})


def build(cfg, now=NOW):
    (result,) = build_feeds(cfg, codes=["amazon"], now=now)
    assert result.published, result.reason
    return result


def document(cfg) -> dict[str, Any]:
    return json.loads((cfg.data_dir / "feeds" / "amazon.json").read_text("utf-8"))


def messages(cfg) -> dict[str, dict[str, Any]]:
    return {m["sku"]: m for m in document(cfg)["messages"]}


def push(cfg, **kw: Any):
    return deliver.push(cfg, "amazon", env=ENV, now=NOW, sleep=SLEEPS, **kw)


def rebuild(cfg, change):
    """The demo shop with `change(product)` applied to each product, built again."""
    products = [dict(p) for p in demo_products(NOW)]
    for product in products:
        change(product)
    fill(cfg, NOW, products=products)
    build(cfg, now=NOW.replace(hour=13))


def schema(shared: Path, name: str) -> dict[str, Any]:
    return json.loads((shared / "schemas" / "amazon" / "listings-feed-v2" / name)
                      .read_text("utf-8"))


# ---------------------------------------------------------------- the document


@pytest.fixture
def built(tmp_path):
    """The demo shop, whose config enables Amazon (seller ADEMOSELLER0001, 2 days)."""
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    return cfg, build(cfg)


def test_golden_document(built):
    cfg, _ = built
    assert_golden("feeds/amazon.json", (cfg.data_dir / "feeds" / "amazon.json").read_text())


def test_one_offer_only_update_per_sellable_item_with_a_gtin(built):
    cfg, result = built
    doc = document(cfg)
    assert doc["header"] == {"sellerId": "ADEMOSELLER0001", "version": "2.0",
                             "issueLocale": "sv_SE",
                             "report": {"includedData": ["issues"], "apiVersion": "2021-08-01"}}
    assert [m["messageId"] for m in doc["messages"]] == list(range(1, SELLABLE_WITH_GTIN + 1))
    assert result.counts.items == SELLABLE_WITH_GTIN
    for m in doc["messages"]:
        assert (m["operationType"], m["productType"], m["requirements"]) == \
            ("UPDATE", "PRODUCT", "LISTING_OFFER_ONLY")
        assert all(isinstance(v, list) and v and all(isinstance(e, dict) for e in v)
                   for v in m["attributes"].values())
    one = messages(cfg)["1001"]["attributes"]
    assert one["condition_type"] == [{"value": "new_new", "marketplace_id": SWEDEN}]
    assert one["externally_assigned_product_identifier"] == [
        {"type": "ean", "value": "7350001001012", "marketplace_id": SWEDEN}]
    assert one["purchasable_offer"] == [{"marketplace_id": SWEDEN, "audience": "ALL",
                                         "currency": "SEK",
                                         "our_price": [{"schedule": [{"value_with_tax": 349}]}]}]
    assert one["fulfillment_availability"] == [{"fulfillment_channel_code": "DEFAULT",
                                                "quantity": 14, "lead_time_to_ship_max_days": 2}]
    assert messages(cfg)["1014"]["attributes"]["externally_assigned_product_identifier"][0][
        "type"] == "upc"


def test_a_sale_price_is_a_discounted_price_schedule(built):
    cfg, _ = built
    offer = messages(cfg)["1003"]["attributes"]["purchasable_offer"][0]
    assert offer["our_price"][0]["schedule"][0]["value_with_tax"] == 449
    assert offer["discounted_price"] == [{"schedule": [{
        "start_at": "2026-11-23T12:00:00Z", "end_at": "2026-12-08T12:00:00Z",
        "value_with_tax": 379}]}]
    assert "discounted_price" not in messages(cfg)["1004"]["attributes"]["purchasable_offer"][0]


def test_items_without_a_valid_gtin_are_left_out_with_the_reason(built):
    cfg, result = built
    assert {"1016", "1017", "1018"}.isdisjoint(messages(cfg))
    report = json.loads((cfg.data_dir / "reports" / "amazon.json").read_text("utf-8"))
    why = {v["item_id"]: v["message"] for v in report["violations"]
           if v["rule"] == "gtin_required"}
    assert set(why) == {"1016", "1017", "1018"}
    assert "matched to an Amazon product" in why["1016"]
    assert result.counts.errors["gtin_required"] == 3


def test_lead_time_and_product_type_come_from_the_settings(tmp_path):
    cfg = amazon_cfg(tmp_path, lead_time_days=0, product_type="TOY_FIGURE")
    fill(cfg, NOW)
    build(cfg)
    m = messages(cfg)["1001"]
    assert m["productType"] == "TOY_FIGURE"
    assert m["attributes"]["fulfillment_availability"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 14}]  # 0 days: not sent


def test_an_enabled_amazon_without_a_seller_id_is_a_config_error(tmp_path):
    """Refused at load (exit 2, naming the key), before anything is built."""
    with pytest.raises(ConfigError, match=r"^channels\.amazon\.seller_id: missing"):
        amazon_cfg(tmp_path, seller_id="")


@pytest.mark.parametrize("key, value, words", [
    ("token_url", "http://api.amazon.example/auth/o2/token", "must be https"),
    ("endpoint", "http://sellingpartnerapi-eu.amazon.com", "must be https"),
    ("lead_time_days", 31, "from 0 to 30"),
    ("on_removed", "hide", "one of 'delete', 'zero'"),
])
def test_settings_are_checked_at_load(tmp_path, key, value, words):
    with pytest.raises(ConfigError, match=words):
        amazon_cfg(tmp_path, **{key: value})


def test_documents_pass_the_official_envelope_schema(built, tmp_path, shared, real_products):
    jsonschema = pytest.importorskip("jsonschema")
    envelope = schema(shared, "listings-feed-schema-v2.json")
    message = schema(shared, "listings-feed-message-schema-v2.json")
    demo, _ = built
    real = amazon_cfg(tmp_path / "real", lead_time_days=2)
    fill(real, NOW, products=real_products, categories=[], orders=[])
    result = build(real)
    assert result.counts.items > 0
    for cfg in (demo, real):
        doc = document(cfg)
        jsonschema.Draft7Validator(envelope).validate(doc)
        for m in doc["messages"]:
            jsonschema.Draft7Validator(message).validate(m)
    # What the schema does not say: our own rules keep every item without a GTIN out.
    with_gtin = {str(p["id"]) for p in real_products if p["ean1"]}
    assert set(messages(real)) <= with_gtin


# ---------------------------------------------------------------- pushing


def test_first_push_is_accepted_and_a_rerun_sends_nothing(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    first = push(cfg)
    assert first.actions == {"create": SELLABLE_WITH_GTIN} and not first.rejected
    (feed,) = amazon.feeds
    assert feed.status == "DONE" and feed.report["summary"]["messagesInvalid"] == 0
    assert feed.content_type == "application/json; charset=UTF-8" and feed.utf8
    assert feed.document["header"]["sellerId"] == DEFAULT_SELLER_ID
    assert [m["messageId"] for m in feed.document["messages"]] == \
        list(range(1, SELLABLE_WITH_GTIN + 1))
    assert set(amazon.listings) == set(messages(cfg))
    assert amazon.listings["1001"].requirements == "LISTING_OFFER_ONLY"
    entries = deliver.ledger_of(cfg).entries("amazon")
    assert {e.state for e in entries.values()} == {SkuState.LIVE}
    assert all(r.authorized for r in amazon.requests)

    again = push(cfg)
    assert again.sent_nothing and again.requests == 0 and len(amazon.feeds) == 1


def test_a_price_change_is_one_patch_of_the_offer(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    push(cfg)
    rebuild(cfg, lambda p: p.update(price=300) if p["id"] == 1001 else None)
    second = push(cfg)
    assert second.actions == {"price": 1}
    sent = amazon.feeds[-1].document["messages"]
    assert sent == [{"messageId": 1, "sku": "1001", "operationType": "PATCH",
                     "productType": "PRODUCT", "patches": [{
                         "op": "replace", "path": "/attributes/purchasable_offer",
                         "value": [{"marketplace_id": SWEDEN, "audience": "ALL",
                                    "currency": "SEK",
                                    "our_price": [{"schedule": [{"value_with_tax": 375.0}]}]}]}]}]
    price = amazon.listings["1001"].attributes["purchasable_offer"][0]["our_price"]
    assert Decimal(str(price[0]["schedule"][0]["value_with_tax"])) == Decimal("375")
    assert push(cfg).sent_nothing


def test_a_stock_change_is_one_patch_of_the_availability(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    push(cfg)
    rebuild(cfg, lambda p: p.update(quantity=2) if p["id"] == 1002 else None)
    assert push(cfg).actions == {"stock": 1}
    (message,) = amazon.feeds[-1].document["messages"]
    assert message["patches"] == [{"op": "replace", "path": "/attributes/fulfillment_availability",
                                   "value": [{"fulfillment_channel_code": "DEFAULT",
                                              "quantity": 2}]}]


def test_a_removed_item_is_deleted(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    push(cfg)
    rebuild(cfg, lambda p: p.update(show=False) if p["id"] == 1004 else None)
    assert push(cfg).actions == {"delete": 1}
    assert amazon.feeds[-1].document["messages"] == [
        {"messageId": 1, "sku": "1004", "operationType": "DELETE"}]
    assert "1004" not in amazon.listings
    assert deliver.ledger_of(cfg).entries("amazon")["1004"].state is SkuState.DELETED
    assert push(cfg).sent_nothing


def test_under_on_removed_zero_a_removed_item_gets_quantity_0(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon, on_removed="zero")
    fill(cfg, NOW)
    build(cfg)
    push(cfg)
    rebuild(cfg, lambda p: p.update(show=False) if p["id"] == 1004 else None)
    assert push(cfg).actions == {"pause": 1}
    assert amazon.listings["1004"].attributes["fulfillment_availability"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 0}]
    assert deliver.ledger_of(cfg).entries("amazon")["1004"].state is SkuState.PAUSED
    assert push(cfg).sent_nothing
    rebuild(cfg, lambda p: None)  # for sale again: the whole offer goes back
    assert push(cfg).actions == {"update": 1}
    assert amazon.listings["1004"].attributes["fulfillment_availability"][0]["quantity"] == 9


def test_an_item_the_rules_now_keep_out_is_paused_not_deleted(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    push(cfg)
    rebuild(cfg, lambda p: p.update(ean1="") if p["id"] == 1004 else None)
    assert push(cfg).actions == {"pause": 1}
    assert "1004" in amazon.listings


def test_a_rejected_message_is_recorded_and_shown_by_push_status(tmp_path):
    with FakeSpApi(polls_to_done=0) as amazon:
        amazon.reject_sku("1001", code="90220", attribute="brand")
        config = tmp_path / "vendre-feeds.toml"
        config.write_text(demo_toml(tmp_path / "data"), "utf-8")  # Amazon enabled
        env = {**ENV, "VENDRE_FEEDS_CHANNELS_AMAZON_SELLER_ID": DEFAULT_SELLER_ID,
               "VENDRE_FEEDS_CHANNELS_AMAZON_ENDPOINT": amazon.url,
               "VENDRE_FEEDS_CHANNELS_AMAZON_TOKEN_URL": amazon.token_url}
        runner = CliRunner()

        def cli(*args: str) -> str:
            result = runner.invoke(main, ["--config", str(config), *args], env=env,
                                   catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.output

        fill(load_config(config, env=env), NOW)
        build(load_config(config, env=env))
        pushed = cli("push", "amazon")
        status = cli("push-status", "amazon")
    assert "1 rejected" in pushed and "rejected 1001: 90220" in pushed
    assert f"{SELLABLE_WITH_GTIN - 1} live, 1 rejected" in status
    assert "rejected 1001: 90220: '[brand]' is required but not supplied. (brand)" in status
    for secret in CREDENTIALS:
        assert secret not in pushed + status


def test_a_429_on_create_feed_waits_for_the_rate_limit(tmp_path, amazon):
    amazon.fail_next("createFeed", 429)
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    report = push(cfg)
    assert report.actions == {"create": SELLABLE_WITH_GTIN} and not report.rejected
    assert amazon.calls("createFeed", 429) == 1 and amazon.calls("createFeed", 202) == 1
    assert client.CREATE_FEED_WAIT in SLEEPS and len(amazon.feeds) == 1


def test_a_gzipped_processing_report_is_read(tmp_path):
    with spapi(gzip_reports=True) as amazon:
        amazon.reject_sku("1002", code="8541", message="The EAN matches another product.")
        cfg = amazon_cfg(tmp_path, amazon)
        fill(cfg, NOW)
        build(cfg)
        report = push(cfg)
        assert amazon.document(amazon.feeds[0].result_document_id).compression == "GZIP"
    assert report.rejected == {"1002": "8541: The EAN matches another product."}
    entry = deliver.ledger_of(cfg).entries("amazon")["1002"]
    assert entry.state is SkuState.REJECTED and entry.errors == (
        "8541: The EAN matches another product.",)


def test_a_fatal_feed_fails_the_push_and_the_next_push_sends_it_again(tmp_path, amazon):
    amazon.fatal_next_feed("The feed could not be processed.")
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    with pytest.raises(deliver.PushError, match="FATAL: 4002006: The feed could not be"):
        push(cfg)
    entries = deliver.ledger_of(cfg).entries("amazon")
    assert {e.state for e in entries.values()} == {SkuState.PENDING}
    again = push(cfg)
    assert again.actions == {"update": SELLABLE_WITH_GTIN} and not again.rejected
    assert len(amazon.listings) == SELLABLE_WITH_GTIN


def test_large_pushes_are_split_into_feeds_numbered_from_1(tmp_path, amazon, monkeypatch):
    monkeypatch.setattr(client, "MAX_MESSAGES", 10)
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    report = push(cfg)
    assert [f.message_count for f in amazon.feeds] == [10, 10, 8]
    for feed in amazon.feeds:
        assert [m["messageId"] for m in feed.document["messages"]] == \
            list(range(1, feed.message_count + 1))
    assert report.message.startswith("3 feeds")
    assert len(amazon.listings) == SELLABLE_WITH_GTIN


def test_a_feed_still_processing_is_settled_by_push_status(tmp_path, monkeypatch):
    monkeypatch.setattr(client, "POLL_LIMIT", 5.0)
    with spapi(polls_to_done=50) as amazon:
        cfg = amazon_cfg(tmp_path, amazon)
        fill(cfg, NOW)
        build(cfg)
        report = push(cfg)
        assert "still processing" in report.message
        ledger = deliver.ledger_of(cfg)
        assert {e.state for e in ledger.entries("amazon").values()} == {SkuState.PENDING}
        waiting = push(cfg)  # nothing is sent twice while the feed runs
        assert waiting.sent_nothing and "wait for an earlier feed" in waiting.message
        amazon.finish()
        status = deliver.check_status(cfg, "amazon", env=ENV)
    assert status.by_state == {"live": SELLABLE_WITH_GTIN}


def test_a_dry_run_needs_no_credentials_and_sends_nothing(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    report = deliver.push(cfg, "amazon", env={}, dry_run=True, now=NOW)
    assert report.actions == {"create": SELLABLE_WITH_GTIN} and amazon.requests == []


def test_no_credential_or_token_in_any_output_log_or_file(tmp_path, amazon, caplog):
    caplog.set_level(logging.DEBUG)
    tokens: list[str] = []

    def remember(request: httpx.Request) -> None:
        if "x-amz-access-token" in request.headers:
            tokens.append(request.headers["x-amz-access-token"])

    amazon.reject_sku("1001")
    amazon.fail_next("getFeed", 500)
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    lines: list[str] = []
    with httpx.Client(event_hooks={"request": [remember]}) as http:
        report = push(cfg, http=http, echo=lines.append)
        rebuild(cfg, lambda p: p.update(price=300) if p["id"] == 1002 else None)
        with pytest.raises(ConfigError, match="AMAZON_LWA_REFRESH_TOKEN"):
            deliver.push(cfg, "amazon", env={**ENV, "AMAZON_LWA_REFRESH_TOKEN": "wrong"},
                         now=NOW, http=http, sleep=SLEEPS)
    assert tokens and report.rejected
    seen = "\n".join([*lines, report.summary(), caplog.text, *map(str, report.rejected)])
    files = b"".join(p.read_bytes() for p in cfg.data_dir.rglob("*") if p.is_file())
    for secret in (*CREDENTIALS, *set(tokens)):
        assert secret not in seen
        assert secret.encode() not in files


def test_another_amazon_marketplace_is_configuration_only(tmp_path, amazon):
    germany = "A1PA6795UKMFR9"
    table = {"kind": "amazon", "enabled": True, "seller_id": DEFAULT_SELLER_ID,
             "marketplace_id": germany, "endpoint": amazon.url, "token_url": amazon.token_url}
    sek = demo_cfg(tmp_path / "sek", channels={"amazon-de": table})
    fill(sek, NOW)
    (result,) = build_feeds(sek, codes=["amazon-de"], now=NOW)
    assert result.counts.items == 0  # Amazon.de sells in EUR, the demo shop in SEK
    assert result.counts.errors["currency"] == SELLABLE_WITH_GTIN + 3  # + those without GTIN
    # The demo's CDON and Fyndiq tables sell in SEK, NOK and EUR by market, and Afound reads
    # SEK: off in a EUR shop.
    eur = demo_cfg(tmp_path / "eur", shop={"currency": "EUR"},
                   channels={"amazon-de": table, "cdon": {"enabled": False},
                             "fyndiq": {"enabled": False}, "afound": {"enabled": False}})
    fill(eur, NOW)
    build_feeds(eur, codes=["amazon-de"], now=NOW)
    with pytest.raises(ConfigError, match="AMAZON_DE_LWA_CLIENT_ID"):
        deliver.push(eur, "amazon-de", env=ENV, now=NOW, sleep=SLEEPS)
    env = {k.replace("AMAZON_", "AMAZON_DE_"): v for k, v in ENV.items()}
    report = deliver.push(eur, "amazon-de", env=env, now=NOW, sleep=SLEEPS)
    assert report.actions == {"create": SELLABLE_WITH_GTIN}
    assert amazon.feeds[0].marketplace_ids == [germany]
    assert amazon.listings["1001"].attributes["purchasable_offer"][0]["currency"] == "EUR"


# ---------------------------------------------------------------- what Amazon accepts (issue 15)


def test_every_sale_has_a_start_and_an_end_renewed_by_later_pushes(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    open_ended = messages(cfg)["1002"]["attributes"]["purchasable_offer"][0]
    assert open_ended["discounted_price"] == [{"schedule": [{           # no end in Vendre
        "start_at": "2026-11-18T00:00:00Z", "end_at": "2026-12-18T00:00:00Z",
        "value_with_tax": 249}]}]
    report = json.loads((cfg.data_dir / "reports" / "amazon.json").read_text("utf-8"))
    assert {v["item_id"] for v in report["violations"] if v["rule"] == "sale_end"} == {"1002"}
    push(cfg)
    assert not amazon.feeds[0].report["issues"]                   # Amazon accepts the window
    build(cfg, now=NOW + timedelta(days=4))     # 2 December: the same renewal window
    assert push(cfg).sent_nothing
    build(cfg, now=NOW + timedelta(days=6))     # 4 December: the next one, so renewed
    assert push(cfg).actions == {"price": 1}
    (renewed,) = amazon.feeds[-1].document["messages"]
    sale = renewed["patches"][0]["value"][0]["discounted_price"][0]["schedule"][0]
    assert (sale["start_at"], sale["end_at"]) == ("2026-12-03T00:00:00Z",
                                                  "2027-01-02T00:00:00Z")


def test_open_sale_days_is_a_setting(tmp_path):
    cfg = amazon_cfg(tmp_path, open_sale_days=10)
    fill(cfg, NOW)
    build(cfg)
    sale = messages(cfg)["1002"]["attributes"]["purchasable_offer"][0]["discounted_price"]
    assert sale[0]["schedule"][0]["end_at"] == "2026-12-08T00:00:00Z"
    with pytest.raises(ConfigError, match="open_sale_days"):
        amazon_cfg(tmp_path, open_sale_days=1)


def test_a_replace_of_the_offer_matches_it_so_an_ended_sale_is_gone(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    push(cfg)
    assert "discounted_price" in amazon.listings["1003"].attributes["purchasable_offer"][0]
    rebuild(cfg, lambda p: p.update(price_special=None) if p["id"] == 1003 else None)
    assert push(cfg).actions == {"price": 1}
    assert amazon.listings["1003"].attributes["purchasable_offer"] == [{
        "marketplace_id": SWEDEN, "audience": "ALL", "currency": "SEK",
        "our_price": [{"schedule": [{"value_with_tax": 449.0}]}]}]   # one offer, no sale


def test_issues_found_after_acceptance_are_recorded_per_sku(tmp_path, amazon):
    amazon.listing_issue("1001", code="18027", message="The main image has text on it.",
                         attributes=["main_product_image_locator"])
    amazon.listing_issue("1002", code="18448", message="Attributes are incomplete.",
                         severity="WARNING")
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    report = push(cfg)
    assert amazon.feeds[0].document["header"]["report"] == {
        "includedData": ["issues"], "apiVersion": "2021-08-01"}
    assert report.rejected == {
        "1001": "18027: The main image has text on it. (main_product_image_locator)"}
    entries = deliver.ledger_of(cfg).entries("amazon")
    assert entries["1001"].state is SkuState.REJECTED             # accepted, not buyable
    assert entries["1002"].state is SkuState.LIVE
    assert entries["1002"].errors == ("18448: Attributes are incomplete.",)
    status = deliver.push_status(deliver.ledger_of(cfg), "amazon")
    assert [e.sku for e in status.rejected] == ["1001"]
    assert push(cfg).sent_nothing                                 # not resent unchanged


def test_a_sku_listed_before_gets_only_its_offer_and_stock(tmp_path, amazon):
    brand = [{"value": "Nordspel", "marketplace_id": SWEDEN}]
    amazon.add_listing("1001", "BOARD_GAME", {"item_name": ITEM, "brand": brand})
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    report = push(cfg)
    assert report.actions == {"create": SELLABLE_WITH_GTIN - 1, "adopt": 1}
    assert amazon.calls("getListingsItem") == SELLABLE_WITH_GTIN
    assert amazon.calls("getListingsItem", 429) == 0               # 5 a second, paced
    assert SLEEPS.count(pytest.approx(client.LISTINGS_INTERVAL, abs=0.05)) >= \
        SELLABLE_WITH_GTIN - 2
    sent = {m["sku"]: m for m in amazon.feeds[0].document["messages"]}
    assert sent["1001"]["operationType"] == "PATCH"
    assert [p["path"] for p in sent["1001"]["patches"]] == [
        "/attributes/purchasable_offer", "/attributes/fulfillment_availability"]
    kept = amazon.listings["1001"].attributes
    assert kept["item_name"] == ITEM and kept["brand"] == brand    # not wiped by an UPDATE
    assert kept["fulfillment_availability"][0]["quantity"] == 14
    entry = deliver.ledger_of(cfg).entries("amazon")["1001"]
    assert entry.state is SkuState.LIVE and entry.remote_id == amazon.listings["1001"].asin

    assert push(cfg).sent_nothing and amazon.calls("getListingsItem") == SELLABLE_WITH_GTIN
    rebuild(cfg, lambda p: p.update(price=300, quantity=3) if p["id"] == 1001 else None)
    assert push(cfg).actions == {"price": 1, "stock": 1}
    rebuild(cfg, lambda p: p.update(show=False) if p["id"] == 1001 else None)
    assert push(cfg).actions == {"pause": 1}                      # never deleted
    assert amazon.listings["1001"].attributes["item_name"] == ITEM
    assert amazon.listings["1001"].attributes["fulfillment_availability"][0]["quantity"] == 0


def test_look_up_skus_false_trusts_that_nothing_was_listed_before(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon, look_up_skus=False)
    fill(cfg, NOW)
    build(cfg)
    assert push(cfg).actions == {"create": SELLABLE_WITH_GTIN}
    assert amazon.calls("getListingsItem") == 0


def test_a_dry_run_says_that_new_skus_are_looked_up_first(tmp_path, amazon):
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    report = deliver.push(cfg, "amazon", env={}, dry_run=True, now=NOW)
    assert f"whether the {SELLABLE_WITH_GTIN} SKUs new to the ledger are listed" in \
        report.message


REPORT_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["issues", "items", "sku", "messageId", "code", "message", "severity",
                         "attributeName", "attributeNames", "x"]), inner, max_size=5),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(REPORT_JSON)
def test_reading_a_processing_report_never_raises(report):
    by_sku, general = client._issues(report if isinstance(report, dict) else {}, {1: "A"})
    assert all(isinstance(sku, str) for sku in by_sku)
    assert all(isinstance(severity, str) and isinstance(text, str)
               for found in by_sku.values() for severity, text in found)
    assert all(isinstance(text, str) for text in general)


def test_an_adopted_sku_left_pending_is_still_only_patched(tmp_path, amazon):
    amazon.add_listing("1001", "BOARD_GAME", {"item_name": ITEM})
    amazon.fatal_next_feed("The feed could not be processed.")
    cfg = amazon_cfg(tmp_path, amazon)
    fill(cfg, NOW)
    build(cfg)
    with pytest.raises(deliver.PushError, match="FATAL"):
        push(cfg)
    entry = deliver.ledger_of(cfg).entries("amazon")["1001"]
    assert entry.state is SkuState.PENDING and entry.remote_id    # adopted, then cut short
    push(cfg)                                                     # sent again: as a PATCH
    sent = {m["sku"]: m for m in amazon.feeds[-1].document["messages"]}
    assert sent["1001"]["operationType"] == "PATCH" and sent["1002"]["operationType"] == "UPDATE"
    assert amazon.listings["1001"].attributes["item_name"] == ITEM
