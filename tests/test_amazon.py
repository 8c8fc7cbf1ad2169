"""Amazon: the JSON_LISTINGS_FEED document, and pushing it to the fake SP-API on loopback."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

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
SELLABLE_WITH_GTIN = 28  # the demo shop's sellable items that have a valid GTIN


@pytest.fixture
def amazon():
    """A fake SP-API whose feeds are done on the third getFeed."""
    with FakeSpApi() as fake:
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


class Sleeps(list):
    """Records the pauses asked for instead of sleeping (truthy even when empty, so
    that `push` does not fall back to time.sleep)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    def __bool__(self) -> bool:
        return True


def push(cfg, sleeps: Sleeps | None = None, **kw: Any):
    return deliver.push(cfg, "amazon", env=ENV, now=NOW,
                        sleep=sleeps if sleeps is not None else Sleeps(), **kw)


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
                             "issueLocale": "sv_SE"}
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
    assert one["purchasable_offer"] == [{"marketplace_id": SWEDEN, "currency": "SEK",
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
                         "value": [{"marketplace_id": SWEDEN, "currency": "SEK",
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
    sleeps = Sleeps()
    report = push(cfg, sleeps)
    assert report.actions == {"create": SELLABLE_WITH_GTIN} and not report.rejected
    assert amazon.calls("createFeed", 429) == 1 and amazon.calls("createFeed", 202) == 1
    assert client.CREATE_FEED_WAIT in sleeps and len(amazon.feeds) == 1


def test_a_gzipped_processing_report_is_read(tmp_path):
    with FakeSpApi(gzip_reports=True) as amazon:
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
    with FakeSpApi(polls_to_done=50) as amazon:
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
        with pytest.raises(ConfigError, match="AMAZON_LWA_REFRESH_TOKEN"):
            deliver.push(cfg, "amazon", env={**ENV, "AMAZON_LWA_REFRESH_TOKEN": "wrong"},
                         now=NOW, http=http, sleep=Sleeps())
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
    # The demo's CDON and Fyndiq tables sell in SEK, NOK and EUR by market: off in a EUR shop.
    eur = demo_cfg(tmp_path / "eur", shop={"currency": "EUR"},
                   channels={"amazon-de": table, "cdon": {"enabled": False},
                             "fyndiq": {"enabled": False}})
    fill(eur, NOW)
    build_feeds(eur, codes=["amazon-de"], now=NOW)
    with pytest.raises(ConfigError, match="AMAZON_DE_LWA_CLIENT_ID"):
        deliver.push(eur, "amazon-de", env=ENV, now=NOW, sleep=Sleeps())
    env = {k.replace("AMAZON_", "AMAZON_DE_"): v for k, v in ENV.items()}
    report = deliver.push(eur, "amazon-de", env=env, now=NOW, sleep=Sleeps())
    assert report.actions == {"create": SELLABLE_WITH_GTIN}
    assert amazon.feeds[0].marketplace_ids == [germany]
    assert amazon.listings["1001"].attributes["purchasable_offer"][0]["currency"] == "EUR"
