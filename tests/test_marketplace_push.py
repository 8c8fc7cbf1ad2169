"""Pushing the CDON and Fyndiq payloads to the fake Merchant APIs on loopback.

Every test builds the demo shop, pushes its payload to a fake marketplace
(tests/fakes/merchants_api.py), changes the shop, builds and pushes again, and looks
at what arrived: the requests (their JSON bodies, captured by an httpx event hook),
the fake's articles and the push ledger under data_dir/state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from feeds.cli import main
from feeds.demo.catalog import demo_products
from feeds.demo.run import demo_toml
from feeds.errors import FeedsError
from feeds.pipeline import deliver
from feeds.pipeline.deliver import cdon as cdon_client
from feeds.pipeline.deliver import fyndiq as fyndiq_client
from feeds.pipeline.run import build_feeds
from feeds.storage.ledger import SkuState
from tests.conftest import NOW
from tests.fakes.merchants_api import DEFAULT_MERCHANT_ID, DEFAULT_TOKEN, FakeCdon, FakeFyndiq
from tests.feedkit import demo_cfg, fill

ENV = {"CDON_MERCHANT_ID": DEFAULT_MERCHANT_ID, "CDON_API_TOKEN": DEFAULT_TOKEN,
       "FYNDIQ_MERCHANT_ID": DEFAULT_MERCHANT_ID, "FYNDIQ_API_TOKEN": DEFAULT_TOKEN}
CREATE = {"cdon": "POST /v2/articles/bulk", "fyndiq": "POST /articles/bulk"}
UPDATE = {"cdon": "PUT /v2/articles/bulk", "fyndiq": "PUT /articles/bulk"}
CLIENTS = {"cdon": cdon_client.CdonPusher, "fyndiq": fyndiq_client.FyndiqPusher}


class Shop:
    """The demo shop, built and pushed to one fake marketplace; `sent` holds every JSON
    body that left, as (method, path below the API base, body)."""

    def __init__(self, tmp_path: Any, name: str, fake: FakeCdon | FakeFyndiq,
                 **settings: Any) -> None:
        self.name, self.fake = name, fake
        self.products = demo_products(NOW)
        self.cfg = demo_cfg(tmp_path, channels={name: {
            "enabled": True, "api_url": fake.url, "default_category": "1", **settings}})
        self.sleeps: list[float] = []
        self.sent: list[tuple[str, str, Any]] = []
        self.http = httpx.Client(event_hooks={"request": [self._capture]})
        self.builds = 0
        self.sku_of: dict[str, str] = {}  # every remote id seen in the ledger -> its sku
        self.build()

    def _capture(self, request: httpx.Request) -> None:
        path = request.url.path.removeprefix(httpx.URL(self.fake.url).path)
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, path, body))

    def change(self, product_id: int, **fields: Any) -> None:
        self.products = [dict(p, **fields) if p["id"] == product_id else p
                         for p in self.products]

    def build(self) -> None:
        fill(self.cfg, NOW, products=self.products)
        self.builds += 1
        (result,) = build_feeds(self.cfg, codes=[self.name],
                                now=NOW + timedelta(minutes=self.builds))
        assert result.published, result.reason

    def push(self, **kwargs: Any) -> deliver.PushReport:
        try:
            return deliver.push(self.cfg, self.name, http=self.http, env=ENV, now=NOW,
                                sleep=self.sleeps.append, **kwargs)
        finally:
            self.sku_of |= {e.remote_id: s for s, e in self.ledger().items()}

    def payload(self) -> dict[str, dict[str, Any]]:
        document = json.loads((self.cfg.data_dir / "feeds" / f"{self.name}.json").read_text())
        return {a["sku"]: a for a in document["articles"]}

    def ledger(self) -> dict[str, Any]:
        return deliver.ledger_of(self.cfg).entries(self.name)

    def bodies(self, target: str, since: int = 0) -> list[Any]:
        method, path = target.split(" ")
        return [body for m, p, body in self.sent[since:] if (m, p) == (method, path)]


@pytest.fixture(params=["cdon", "fyndiq"])
def shop(request, tmp_path) -> Iterator[Shop]:
    fake = FakeCdon(ok_after_polls=0) if request.param == "cdon" else FakeFyndiq()
    with fake:
        yield Shop(tmp_path, request.param, fake)


def actions(shop: Shop, since: int) -> set[tuple[str, str]]:
    """(sku, action) of every update action sent since request `since` (Fyndiq's ids are
    translated back to skus)."""
    found = set()
    for body in shop.bodies(UPDATE[shop.name], since):
        for a in body["actions"] if shop.name == "cdon" else body:
            found.add((a["sku"] if shop.name == "cdon" else shop.sku_of[a["id"]], a["action"]))
    return found


def action_body(shop: Shop, since: int, sku: str, action: str) -> Any:
    for body in shop.bodies(UPDATE[shop.name], since):
        for a in body["actions"] if shop.name == "cdon" else body:
            key = a["sku"] if shop.name == "cdon" else shop.sku_of[a["id"]]
            if key == sku and a["action"] == action:
                return a.get("body")
    raise AssertionError(f"no {action} for {sku}")


# ---------------------------------------------------------------- first push and rerun


def test_first_push_in_batches_through_a_429_and_a_500_then_a_rerun_sends_nothing(
        shop, monkeypatch):
    monkeypatch.setattr(CLIENTS[shop.name], "create_limit", 12)
    shop.fake.fail(CREATE[shop.name], 429, headers={"Retry-After": "1"})
    shop.fake.fail(CREATE[shop.name], 500)
    report = shop.push()
    payload = shop.payload()
    assert report.actions == {"create": 30} and not report.rejected
    assert set(report.left_out) == {"1012", "1013"}
    creates = [r for r in shop.fake.requests if f"{r.method} {r.path}" == CREATE[shop.name]]
    assert [(r.status, r.items) for r in creates] == [
        (429, 12), (500, 12), (202, 12), (202, 12), (202, 6)]   # the first batch, retried
    assert shop.sleeps[0] == 1.0                                # Retry-After honoured
    assert shop.fake.articles == payload                        # exactly the create bodies
    ledger = shop.ledger()
    assert set(ledger) == set(payload) and {e.state for e in ledger.values()} == {SkuState.LIVE}
    if shop.name == "fyndiq":                                   # ids from the bulk answers
        assert all(e.remote_id == shop.fake.article_id(s) for s, e in ledger.items())

    before = len(shop.fake.requests)
    again = shop.push()
    assert again.sent_nothing and not again.rejected
    assert not [r for r in shop.fake.requests[before:] if r.method != "POST"
                or "statuses" not in r.path]                    # at most a status look-up


def test_a_dry_run_plans_and_sends_nothing(shop):
    report = shop.push(dry_run=True)
    assert report.actions == {"create": 30} and report.dry_run
    assert shop.fake.requests == [] and shop.ledger() == {}
    assert report.summary().startswith(f"{shop.name}: would send create 30")
    assert report.left_out["1012"].startswith("main_image: missing main image")


# ---------------------------------------------------------------- later pushes


def test_price_stock_content_and_removal_are_each_their_own_action(shop):
    shop.push()
    shop.change(1001, price=300)                       # price only
    shop.change(1002, quantity=2)                      # stock only
    shop.change(1003, description={"sv": "<p>En ny och längre beskrivning.</p>"})
    shop.change(1005, show=False)                      # no longer for sale
    shop.build()
    since = len(shop.sent)
    report = shop.push()
    assert report.actions == {"update price": 1, "update quantity": 1, "update content": 1,
                              "delete": 1}
    assert actions(shop, since) == {("1001", "update_article_price"),
                                    ("1002", "update_article_quantity"),
                                    ("1003", "update_article"), ("1005", "delete_article")}
    assert len(shop.bodies(UPDATE[shop.name], since)) == 1      # one call for all four
    assert shop.bodies(CREATE[shop.name], since) == []
    content = action_body(shop, since, "1003", "update_article")
    assert "price" not in content and "quantity" not in content
    assert content["description"][0]["value"] == "En ny och längre beskrivning."
    # CDON: the action names the sku; Fyndiq: every editable field, absent ones empty.
    assert ("sku" in content) is (shop.name == "fyndiq")
    price = action_body(shop, since, "1001", "update_article_price")
    assert price["price"][0]["value"]["currency"] == "SEK"
    if shop.name == "fyndiq":      # both required; without a sale the original is the price
        assert set(price) == {"price", "original_price"}
        assert price["original_price"] == price["price"]
    else:
        assert set(price) == {"price"}
    assert action_body(shop, since, "1002", "update_article_quantity") == {"quantity": 2}
    payload = shop.payload()
    assert shop.fake.article("1001")["price"] == payload["1001"]["price"]
    assert shop.fake.article("1002")["quantity"] == 2 and shop.fake.article("1005") is None
    assert "1005" not in shop.ledger()

    since = len(shop.sent)
    assert shop.push().sent_nothing and shop.bodies(UPDATE[shop.name], since) == []


def test_items_left_out_by_the_rules_are_paused_and_come_back(shop):
    shop.push()
    shop.change(1004, images=[])                       # now refused: no image
    shop.build()
    since = len(shop.sent)
    report = shop.push()
    assert report.actions == {"pause": 1} and "1004" in report.left_out
    body = action_body(shop, since, "1004", "update_article")
    assert body["status"] == "paused" and body["title"][0]["value"] == "Fjällräddarna"
    assert shop.fake.article("1004")["status"] == "paused"
    assert shop.ledger()["1004"].state is SkuState.PAUSED
    assert shop.push().sent_nothing                    # paused stays paused

    shop.change(1004, images=demo_products(NOW)[3]["images"])
    shop.build()
    back = shop.push()
    assert back.actions == {"update content": 1}
    assert shop.fake.article("1004")["status"] == "for sale"


def test_a_paused_article_whose_product_leaves_vendre_is_deleted(shop):
    shop.push()
    shop.change(1004, images=[])
    shop.build()
    assert shop.push().actions == {"pause": 1}
    shop.change(1004, show=False)                      # now hidden: gone, not refused
    shop.build()
    assert shop.push().actions == {"delete": 1}
    assert shop.fake.article("1004") is None and "1004" not in shop.ledger()


@pytest.mark.parametrize("name", ["cdon", "fyndiq"])
def test_on_removed_pause_pauses_instead_of_deleting(tmp_path, name):
    with (FakeCdon(ok_after_polls=0) if name == "cdon" else FakeFyndiq()) as fake:
        shop = Shop(tmp_path, name, fake, on_removed="pause")
        shop.push()
        shop.change(1005, status=False)
        shop.build()
        assert shop.push().actions == {"pause": 1}
        assert fake.article("1005")["status"] == "paused"


def test_fyndiq_ends_a_sale_with_the_original_price_equal_to_the_price(tmp_path):
    with FakeFyndiq() as fake:
        shop = Shop(tmp_path, "fyndiq", fake)
        shop.push()
        assert fake.article("1002")["original_price"][0]["value"]["amount"] == 299.0
        shop.change(1002, price_special=None)
        shop.build()
        since = len(shop.sent)
        assert shop.push().actions == {"update price": 1}
        body = action_body(shop, since, "1002", "update_article_price")
        assert body["price"] == body["original_price"]
        assert body["price"][0]["value"]["amount"] == 299.0


# ---------------------------------------------------------------- failures


def test_a_run_killed_between_sending_and_recording_does_not_create_twice(shop):
    shop.fake.drop_connection(CREATE[shop.name], after_apply=True, times=None)
    with pytest.raises(FeedsError, match="gave up"):
        shop.push()
    assert len(shop.fake.articles) == 30              # created, but no answer ever came
    assert {e.state for e in shop.ledger().values()} == {SkuState.PENDING}
    assert not deliver.ledger_of(shop.cfg).last_run(shop.name).ok

    shop.fake.clear_faults()
    since = len(shop.sent)
    report = shop.push()
    assert shop.bodies(CREATE[shop.name], since) == []    # looked up and adopted instead
    assert report.sent_nothing and len(shop.fake.articles) == 30
    ledger = shop.ledger()
    assert {e.state for e in ledger.values()} == {SkuState.LIVE}
    if shop.name == "fyndiq":
        assert all(e.remote_id == shop.fake.article_id(s) for s, e in ledger.items())
        assert shop.fake.calls("GET", "/articles/sku/*") == 30


def test_an_article_that_exists_already_is_adopted_and_updated(shop):
    shop.fake.preload([{"sku": "1001", "status": "paused", "quantity": 1,
                        "title": [{"language": "sv-SE", "value": "Gammal titel"}]}])
    report = shop.push()
    if shop.name == "cdon":        # CDON accepts the batch; its status says it existed
        assert report.actions == {"create": 30}
        report = shop.push()
    assert report.actions["update content"] == report.actions["update price"] == 1
    assert report.actions["update quantity"] == 1
    mine = shop.payload()["1001"]
    stored = {k: v for k, v in shop.fake.article("1001").items() if v not in ("", [])}
    if shop.name == "fyndiq":      # its full update also sent the empty editable fields,
        assert stored.pop("original_price") == mine["price"]   # and the price update this
    assert stored == mine
    assert shop.push().sent_nothing


def test_refused_articles_are_recorded_with_the_marketplaces_message(tmp_path):
    with FakeFyndiq() as fake:
        shop = Shop(tmp_path, "fyndiq", fake)
        feed = shop.cfg.data_dir / "feeds" / "fyndiq.json"
        text = feed.read_text("utf-8")
        feed.write_text(text.replace('"value":"Stigar genom skogen"', '"value":"' + "x" * 70
                                     + '"'), "utf-8")   # a payload the rules never let out
        report = shop.push()
        assert report.rejected == {"1001": "title.0.value: max length is 64"}
        entry = shop.ledger()["1001"]
        assert entry.state is SkuState.REJECTED
        assert entry.errors == ("title.0.value: max length is 64",)
        assert shop.push().sent_nothing           # unchanged: not sent to be refused again


# ---------------------------------------------------------------- the command line


def cli(config: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["--config", str(config), *args], env=env,
                              catch_exceptions=False)


def test_cli_push_status_and_no_credential_anywhere(tmp_path):
    config = tmp_path / "vendre-feeds.toml"
    config.write_text(demo_toml(tmp_path / "data"), encoding="utf-8")
    with FakeCdon(ok_after_polls=1) as fake:
        fake.reject_sku("1001", code="invalid_category", message="Unknown category 1124")
        env = {**ENV, "VENDRE_FEEDS_CHANNELS_CDON_API_URL": fake.url}
        from feeds.config import load_config

        fill(load_config(config, env={}), NOW)
        assert cli(config, "build", "cdon").exit_code == 0
        dry = cli(config, "push", "cdon", "--dry-run")     # no credentials needed
        assert dry.exit_code == 0 and "cdon: would send create 30" in dry.output
        assert "dropped 1012: main_image: missing main image" in dry.output
        assert fake.requests == []
        refused = cli(config, "push", "cdon", env={**env, "CDON_API_TOKEN": "wrong-token-77"})
        assert refused.exit_code == 2
        assert "check CDON_MERCHANT_ID and CDON_API_TOKEN" in refused.output
        pushed = cli(config, "push", "cdon", env=env)      # the refused batch: looked up first
        assert pushed.exit_code == 0, pushed.output
        assert "cdon: sent create 30 in 2 requests" in pushed.output
        first = cli(config, "push-status", "cdon", env=env)       # CDON: still pending
        status = cli(config, "push-status", "cdon", env=env)      # then final
        assert "cdon: 30 live" in first.output
        assert "cdon: 29 live, 1 rejected" in status.output
        assert "rejected 1001: invalid_category" in status.output   # market "*": all of them
    outputs = "".join(r.output for r in (dry, pushed, first, status, refused))
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    for secret in (DEFAULT_TOKEN, DEFAULT_MERCHANT_ID, "wrong-token-77"):
        assert secret not in outputs and secret.encode() not in stored


def test_refresh_pushes_a_marketplace_with_push_true(tmp_path, monkeypatch):
    from feeds.demo.run import DEMO_API_KEY
    from feeds.demo.transport import demo_transport
    from feeds.jobs.refresh import run_refresh

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with FakeCdon(ok_after_polls=0) as fake:
        cfg = demo_cfg(tmp_path, channels={"cdon": {
            "enabled": True, "push": True, "api_url": fake.url, "default_category": "1"}})
        summary = run_refresh(cfg, transport=demo_transport(NOW), api_key=DEMO_API_KEY,
                              now=NOW)
        assert summary["pushed"] == {"cdon": "cdon: sent create 30 in 1 requests; "
                                             "2 dropped by the rules"}
        assert len(fake.articles) == 30
