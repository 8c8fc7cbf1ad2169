"""A new channel, added from this test alone through the public seams.

It has a JSON format and a Push delivery to a fake endpoint on loopback, with the
in-memory ledger; nothing in the pipeline knows it. It is built, published,
served, diffed and pushed like any channel, and a second push sends nothing.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from feeds import channels
from feeds.channels import Channel, ItemContext
from feeds.core.model import Derived
from feeds.core.outputs import Json, Push
from feeds.core.settings import ChannelSettings, setting
from feeds.core.validation import Rule, Severity, required
from feeds.demo.catalog import demo_products
from feeds.pipeline import deliver
from feeds.pipeline.deliver import ItemParts, PushContext, PushReport, canonical, plan_changes
from feeds.pipeline.diff import diff_latest
from feeds.pipeline.run import build_feeds
from feeds.server import create_app
from feeds.storage.layout import Layout
from feeds.storage.ledger import LedgerEntry, MemoryLedger, SkuState
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill

TOKEN = "seam-token-5f1e9a"


# ---------------------------------------------------------------- the channel


@dataclass(frozen=True)
class ShopSettings(ChannelSettings):
    enabled: bool = setting(False, "Pushed: off until configured")
    api_url: str = setting("", "Where the items go")


def to_item(derived: Derived, ctx: ItemContext) -> dict[str, Any]:
    p = derived.primary
    return {"sku": p.feed_id, "title": p.title,
            "price": {"amount": p.price.amount if p.price else None,
                      "currency": p.price.currency if p.price else ""},
            "quantity": p.quantity, "_sellable_now": p.quantity > 0}


def _in_stock_only(_value: Any, item: dict[str, Any]) -> str | None:
    return None if item["_sellable_now"] else "not in stock"


CHANNEL = Channel(
    code="seamshop", title="Seam shop", spec_url="https://example.invalid/spec",
    to_item=to_item,
    rules=(required("sku"), required("price.amount", what="price"),
           Rule("in_stock", "quantity", Severity.ERROR, _in_stock_only)),
    limits={"title": 40},
    format=Json(items_key="items", id_field="sku",
                header=lambda meta: {"shop": meta["title"]},
                diff_fields={"price": "price.amount", "quantity": "quantity"}),
    settings=ShopSettings,
    delivery=Push(credentials={"token": "{NAME}_TOKEN"}),
    one_file_per_target=False,
)


class SeamPusher:
    """Sends new and changed items to `POST {api_url}/items`; records what was accepted."""

    def push(self, ctx: PushContext) -> PushReport:
        report = PushReport(ctx.name, dry_run=ctx.dry_run)
        entries = ctx.ledger.entries(ctx.name)
        plan = plan_changes(ctx.items(), entries, _parts, lambda item: item["sku"])
        changed = {i["sku"]: i for i in [*plan.create, *plan.content, *plan.price,
                                          *plan.quantity]}
        report.count("create", len(plan.create))
        report.count("update", len(changed) - len(plan.create))
        if ctx.dry_run or not changed:
            return report
        answer = ctx.http.post(f"{ctx.settings.api_url}/items",
                               json=list(changed.values()),
                               headers={"Authorization": f"Bearer {ctx.credentials['token']}"})
        report.requests += 1
        answer.raise_for_status()
        accepted = set(answer.json()["accepted"])
        ctx.ledger.put(ctx.name, [LedgerEntry(sku, SkuState.LIVE, _parts(item).content,
                                              _parts(item).price, item["quantity"])
                                  for sku, item in changed.items() if sku in accepted])
        return report


def _parts(item: dict[str, Any]) -> ItemParts:
    rest = {k: v for k, v in item.items() if k not in ("price", "quantity")}
    return ItemParts(canonical(item["price"]), item["quantity"], canonical(rest))


# ---------------------------------------------------------------- the fake endpoint


class Endpoint:
    """`POST /items` with a bearer token: accepts every item, remembers what came."""

    def __init__(self) -> None:
        self.received: list[list[dict]] = []
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _wsgi(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response("no", status=401)(environ, start_response)
        items = json.loads(request.get_data())
        self.received.append(items)
        body = json.dumps({"accepted": [i["sku"] for i in items]})
        return Response(body, mimetype="application/json")(environ, start_response)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> Endpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join()


@pytest.fixture
def seam():
    channels.register(CHANNEL)
    deliver.register_pusher("seamshop", SeamPusher())
    with Endpoint() as endpoint:
        yield endpoint
    channels.unregister("seamshop")
    deliver._PUSHERS.pop("seamshop", None)


def seam_cfg(tmp_path, endpoint):
    return demo_cfg(tmp_path, channels={"seamshop": {"enabled": True,
                                                     "api_url": endpoint.url}})


def test_a_json_channel_with_a_push_delivery_needs_no_pipeline_change(tmp_path, seam):
    cfg = seam_cfg(tmp_path, seam)
    fill(cfg, NOW)
    result = {r.stem: r for r in build_feeds(cfg, codes=["seamshop"], now=NOW)}["seamshop"]
    assert result.published, result.reason
    document = json.loads((cfg.data_dir / "feeds" / "seamshop.json").read_text("utf-8"))
    assert document["shop"] == "Demobutiken - Seam shop"
    items = {i["sku"]: i for i in document["items"]}
    assert len(items) == result.counts.items > 0
    assert all(not any(k.startswith("_") for k in i) for i in items.values())
    assert all(len(i["title"]) <= 40 for i in items.values())
    assert "1006" not in items  # out of stock: the rule with a private key dropped it
    assert items["1001"]["price"] == {"amount": 349.0, "currency": "SEK"}

    ledger = MemoryLedger()
    env = {"SEAMSHOP_TOKEN": TOKEN}
    with httpx.Client() as http:
        first = deliver.push(cfg, "seamshop", http=http, ledger=ledger, env=env, now=NOW)
        again = deliver.push(cfg, "seamshop", http=http, ledger=ledger, env=env, now=NOW)
    assert first.actions == {"create": len(items)} and first.requests == 1
    assert {i["sku"] for i in seam.received[0]} == set(items)
    assert again.sent_nothing and again.requests == 0 and len(seam.received) == 1
    assert set(ledger.entries("seamshop")) == set(items)
    assert ledger.last_run("seamshop").ok


def test_only_the_changed_item_is_pushed_and_diffed(tmp_path, seam):
    cfg = seam_cfg(tmp_path, seam)
    products = demo_products(NOW)
    fill(cfg, NOW, products=products)
    build_feeds(cfg, codes=["seamshop"], now=NOW)
    ledger = MemoryLedger()
    env = {"SEAMSHOP_TOKEN": TOKEN}
    with httpx.Client() as http:
        deliver.push(cfg, "seamshop", http=http, ledger=ledger, env=env, now=NOW)
        cheaper = [dict(p, price=Decimal(str(p["price"])) - 1) if p["id"] == 1001 else p
                   for p in products]
        fill(cfg, NOW, products=[dict(p, price=float(p["price"])) for p in cheaper])
        build_feeds(cfg, codes=["seamshop"], now=NOW.replace(hour=13))
        second = deliver.push(cfg, "seamshop", http=http, ledger=ledger, env=env, now=NOW)
    assert second.actions == {"update": 1}
    assert [i["sku"] for i in seam.received[-1]] == ["1001"]
    diff = diff_latest(Layout(cfg.data_dir), "seamshop", CHANNEL)
    assert list(diff.changed) == ["1001"] and diff.changed["1001"][0][0] == "price"


def test_the_json_file_is_served_with_its_recorded_content_type(tmp_path, seam):
    cfg = seam_cfg(tmp_path, seam)
    cfg = dataclasses.replace(cfg, server=dataclasses.replace(
        cfg.server, access_key="k" * 24))
    fill(cfg, NOW)
    build_feeds(cfg, codes=["seamshop"], now=NOW)
    client = create_app(cfg).test_client()
    with client.get(f"/feeds/{'k' * 24}/seamshop.json") as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
        assert json.loads(answer.data)["items"]


def test_a_push_without_its_credential_names_the_variable(tmp_path, seam):
    cfg = seam_cfg(tmp_path, seam)
    fill(cfg, NOW)
    build_feeds(cfg, codes=["seamshop"], now=NOW)
    from feeds.errors import ConfigError

    with pytest.raises(ConfigError, match="SEAMSHOP_TOKEN"):
        deliver.push(cfg, "seamshop", ledger=MemoryLedger(), env={}, now=NOW)
    assert seam.received == []
