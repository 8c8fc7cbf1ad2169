"""Server-side purchases (issue 18): payloads, and runs against the fake GA4 and Meta.

The payload tests check Meta's own published examples (normalised value and SHA-256)
and that the server-side events carry exactly what the browser events carry. The run
tests go over real HTTP to the fakes on 127.0.0.1 (tests/fakes/ad_platforms.py), which
enforce the platforms' rules and misbehave on command.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from feeds.config import Config
from feeds.core.model import Customer
from feeds.errors import ConfigError
from feeds.events.source import EventSource
from feeds.purchases import payloads
from feeds.purchases.intake import receive_webhook
from feeds.purchases.payloads import Beacon, Consent, normalise, sha256
from feeds.purchases.run import ledger_of, send_purchases
from feeds.purchases.status import purchase_status, status_lines
from feeds.storage.inbox import Inbox
from feeds.storage.ledger import SendState
from feeds.storage.store import Store
from feeds.vendre.parse import parse_order
from tests.conftest import NOW
from tests.fakes.ad_platforms import FakeGa4, FakeMeta, ga4_messages, meta_problems
from tests.feedkit import demo_cfg, fill
from tracking.options import TrackingOptions
from tracking.services import ga4, meta_pixel

GA4_SECRET = "ga4-api-secret-4f1c9a"
META_TOKEN = "meta-access-token-EAAB77x"
ENV = {"VENDRE_FEEDS_GA4_API_SECRET": GA4_SECRET, "VENDRE_FEEDS_META_ACCESS_TOKEN": META_TOKEN}
AGES = {"61001": timedelta(hours=1), "61002": timedelta(hours=30), "61003": timedelta(hours=80),
        "61004": timedelta(days=6), "61005": timedelta(days=8)}


# ---------------------------------------------------------------- payloads (pure)


def test_meta_normalisation_matches_metas_published_examples():
    """The examples of Meta's customer-information-parameters page, hash for hash."""
    assert normalise("em", " John_Smith@gmail.com ") == "john_smith@gmail.com"
    assert sha256("john_smith@gmail.com") == \
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    assert normalise("ph", "(650)555-1212", "US") == "16505551212"
    assert sha256("16505551212") == \
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    assert sha256(normalise("fn", "Mary")) == \
        "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"
    assert sha256(normalise("fn", "Valéry")) == \
        "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"


@pytest.mark.parametrize(("field", "raw", "country", "want"), [
    ("ph", "070-123 45 67", "SE", "46701234567"),
    ("ph", "+46 70 123 45 67", "SE", "46701234567"),
    ("ph", "0046701234567", "NO", "46701234567"),
    ("ph", "46701234567", "SE", "46701234567"),
    ("ph", "070-123 45 67", "", ""),          # a national number, country unknown
    ("ph", "12", "SE", ""),
    ("ln", "Öberg-Lind", "", "öberglind"),
    ("ct", "Malmö C.", "", "malmöc"),
    ("zp", "211 20", "", "21120"),
    ("zp", "94025-1234", "", "94025"),
    ("country", "SE", "", "se"),
    ("country", "Sverige", "", ""),
    ("em", "not an address", "", ""),
])
def test_customer_values_are_normalised_as_meta_asks(field, raw, country, want):
    assert normalise(field, raw, country) == want


def test_hashed_customer_data_is_all_sha256_and_never_plain():
    customer = Customer(id="4711", email="Kund@Example.com", phone="070-1234567",
                        first_name="Åsa", last_name="Öberg", city="Malmö", postcode="211 20",
                        country="SE")
    data = payloads.hashed(customer, "SE")
    assert set(data) == {"em", "ph", "fn", "ln", "ct", "zp", "country", "external_id"}
    flat = [v for value in data.values() for v in (value if isinstance(value, list) else [value])]
    assert all(payloads.is_sha256(v) for v in flat)
    assert data["em"] == [sha256("kund@example.com")]
    assert "Kund" not in json.dumps(data) and "Malmö" not in json.dumps(data)


def test_consent_decides_what_a_beacon_keeps():
    full = {"ad_storage": "granted", "analytics_storage": "granted", "ad_user_data": "granted",
            "ad_personalization": "granted"}
    data = {"ga_client_id": "1.2", "ga_session_id": "3", "fbp": "fb.1.1.2", "fbc": "fb.1.1.x",
            "page_url": "https://s/tack", "user_agent": "UA", "ip": "192.0.2.1"}
    kept = Beacon.from_stored("1", NOW, {**data, "consent": full})
    assert (kept.ga_client_id, kept.fbp, kept.user_agent, kept.ip) == ("1.2", "fb.1.1.2", "UA",
                                                                      "192.0.2.1")
    no_ads = Beacon.from_stored("1", NOW, {**data, "consent": {**full, "ad_storage": "denied"}})
    assert no_ads.ga_client_id == "1.2"
    assert (no_ads.fbp, no_ads.fbc, no_ads.user_agent, no_ads.ip, no_ads.page_url) == \
        ("", "", "", "", "")
    no_analytics = Beacon.from_stored("1", NOW, {**data, "consent": {
        **full, "analytics_storage": "denied"}})
    assert (no_analytics.ga_client_id, no_analytics.ga_session_id) == ("", "")
    assert no_analytics.fbp == "fb.1.1.2"
    assert Consent.read("granted") == Consent()  # anything but an object: all denied


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Config:
    cfg = demo_cfg(tmp_path_factory.mktemp("purchases-shop"))
    fill(cfg, NOW)
    return cfg


def test_server_events_carry_what_the_browser_events_carry(shop):
    """GA4's params and Meta's custom_data are the browser services' own, for the same
    Purchase; the transaction id is the order number."""
    source = EventSource(shop, Store.in_dir(shop.data_dir), NOW)
    purchase = source.purchase("50004")
    options = TrackingOptions.from_settings(shop.tracking)
    body = payloads.ga4_purchase(purchase, options, order_time=NOW, client_id="1.2",
                                 beacon=None)
    assert body["events"][0]["params"] == ga4.event_params(purchase, options)
    assert body["consent"] == {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}
    assert body["timestamp_micros"] == int(NOW.timestamp()) * 1_000_000
    event = payloads.meta_purchase(purchase, options, order_time=NOW,
                                   user_data={"em": [sha256("a@b.se")]})
    pixel = meta_pixel.context(purchase, options)
    assert event["custom_data"] == {**pixel["params"], "order_id": "50004"}
    assert event["event_id"] == pixel["event_options"]["eventID"] == "50004"
    assert event["action_source"] == "other" and "event_source_url" not in event
    assert ga4_messages(json.loads(payloads.wire(body)), NOW.timestamp()) == []
    assert meta_problems({"data": [json.loads(payloads.wire(event))]}, NOW.timestamp()) == []


def test_the_fakes_enforce_the_rules():
    old = int((NOW - timedelta(hours=73)).timestamp() * 1e6)
    body = {"client_id": "1.2", "timestamp_micros": old, "events": [
        {"name": "purchase", "params": {"value": 1.0, "items": [{}]}}]}
    codes = {m["validationCode"] for m in ga4_messages(body, NOW.timestamp())}
    assert codes == {"VALUE_OUT_OF_BOUNDS", "VALUE_REQUIRED"}
    event = {"event_name": "Purchase", "event_time": int((NOW - timedelta(days=8)).timestamp()),
             "action_source": "website", "user_data": {"em": "a@b.se", "fbp": sha256("x")},
             "custom_data": {"value": 1.0}}
    problems = " ".join(meta_problems({"data": [event]}, NOW.timestamp()))
    for part in ("7 days", "client_user_agent", "event_source_url", "em: must be a SHA-256",
                 "fbp: must not be hashed", "currency"):
        assert part in problems


# ---------------------------------------------------------------- runs against the fakes


def raw_order(oid: str, age: timedelta, *, status: int = 3, email: str = "kund@example.com",
              lines: tuple[tuple[int, int], ...] = ((1001, 2), (1026, 1))) -> dict[str, Any]:
    return {"id": int(oid), "date_added": int((NOW - age).timestamp()), "status_id": status,
            "currency": "SEK", "customer": {"id": 9000 + int(oid) % 1000, "email": email},
            "products": [{"product_id": p, "quantity": q, "price_each": 100, "tax": 25}
                         for p, q in lines],
            "totals": [{"class": "ot_shipping", "value": 49}, {"class": "ot_tax", "value": 84.8}]}


@pytest.fixture
def fakes() -> Iterator[tuple[FakeGa4, FakeMeta]]:
    clock = NOW.timestamp
    with FakeGa4(api_secret=GA4_SECRET, clock=clock) as g, \
            FakeMeta(token=META_TOKEN, clock=clock) as m:
        yield g, m


def purchases_cfg(tmp_path: Path, fakes: tuple[FakeGa4, FakeMeta], **extra: Any) -> Config:
    ga4_fake, meta_fake = fakes
    return demo_cfg(tmp_path, purchases={"enabled": True, "send_user_data": True,
                                         "ga4_endpoint": ga4_fake.collect_url,
                                         "meta_endpoint": meta_fake.url, **extra})


def run(cfg: Config, **kw: Any):
    with httpx.Client() as http:
        return send_purchases(cfg, http=http, env=ENV, now=NOW, pause=lambda _s: None,
                              new_client_id=lambda: "555.666", **kw)


def states(cfg: Config, platform: str) -> dict[str, SendState]:
    return {e.number: e.state for e in ledger_of(cfg).entries(platform).values()
            if e.event == "purchase"}


def test_orders_reach_the_platforms_whose_window_they_are_in(tmp_path, fakes):
    g, m = fakes
    cfg = purchases_cfg(tmp_path, fakes)
    fill(cfg, NOW, orders=[raw_order(oid, age) for oid, age in AGES.items()])
    report = run(cfg)
    assert report.ok, report.summary()
    assert sorted(g.transactions()) == ["61001", "61002"]
    assert sorted(m.event_ids()) == ["61001", "61002", "61003", "61004"]
    assert g.invalid == [] and g.unauthorized == 0 and m.refused == []
    assert states(cfg, "ga4") == {"61001": "sent", "61002": "sent", "61003": "too_old",
                                  "61004": "too_old", "61005": "too_old"}
    assert states(cfg, "meta")["61005"] == "too_old"
    # Meta got one batch; customer data hashed; `other` without a beacon.
    assert len(m.batches) == 1
    event = m.events()[0]
    assert event["action_source"] == "other" and event["user_data"]["em"] == \
        [sha256("kund@example.com")]
    # Value, tax and shipping as the browser's purchase computes them.
    order = parse_order(raw_order("61001", AGES["61001"]))
    purchase = EventSource(cfg, Store.in_dir(cfg.data_dir), NOW).purchase_of(order)
    (_, first), = [(b, e) for b, e in g.events() if e["params"]["transaction_id"] == "61001"]
    assert first["params"]["value"] == float(purchase.value) == 375.0
    assert (first["params"]["tax"], first["params"]["shipping"]) == (84.8, 49.0)
    # A rerun sends nothing.
    before = (len(g.requests), len(m.requests))
    again = run(cfg)
    assert (len(g.requests), len(m.requests)) == before
    assert again.summary().endswith("ga4: sent nothing; meta: sent nothing")


def test_webhooks_beacons_and_a_refund(tmp_path, fakes):
    g, m = fakes
    cfg = purchases_cfg(tmp_path, fakes, refund_statuses=[7], statuses=[2, 3])
    fill(cfg, NOW, orders=[])
    inbox = Inbox.in_dir(cfg.data_dir)
    body = json.dumps(raw_order("62001", timedelta(minutes=5))).encode()
    assert receive_webhook(body, inbox, NOW).status == 200
    assert receive_webhook(body, inbox, NOW).text.endswith("stored already")
    full = {"ad_storage": "granted", "analytics_storage": "granted", "ad_user_data": "granted",
            "ad_personalization": "granted"}
    inbox.put_beacon("62001", Beacon("62001", NOW, Consent.read(full), "111.222", "1700000000",
                                     "fb.1.1700000000000.42", "fb.1.1700000000000.AbC",
                                     "https://demo.vendre-feeds.test/tack", "Mozilla/5.0 X",
                                     "192.0.2.7").stored(), NOW, 100)
    # A beacon for another order does not lend its ids; nor does one from long before.
    inbox.put_beacon("62002", Beacon("62002", NOW, Consent.read(full), "999.999").stored(),
                     NOW, 100)
    receive_webhook(json.dumps(raw_order("62002", timedelta(minutes=3))).encode(), inbox, NOW)
    pending_payment = raw_order("62003", timedelta(minutes=2), status=1)
    receive_webhook(json.dumps(pending_payment).encode(), inbox, NOW)
    assert run(cfg).ok
    by_id = {e["params"]["transaction_id"]: (b, e) for b, e in g.events()}
    b1, e1 = by_id["62001"]
    assert b1["client_id"] == "111.222" and e1["params"]["session_id"] == "1700000000"
    assert b1["consent"] == {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"}
    assert by_id["62002"][0]["client_id"] == "999.999"  # its own beacon
    assert "62003" not in by_id  # status 1 is not a purchase status
    meta1 = next(e for e in m.events() if e["event_id"] == "62001")
    assert meta1["action_source"] == "website"
    assert meta1["event_source_url"] == "https://demo.vendre-feeds.test/tack"
    assert meta1["user_data"]["client_ip_address"] == "192.0.2.7"
    assert meta1["user_data"]["fbc"] == "fb.1.1700000000000.AbC"
    assert ledger_of(cfg).entries("ga4")[("ga4", "62001", "purchase")].attributed
    # The order is refunded (updated_order), then the same webhook comes twice more.
    refunded = json.dumps(raw_order("62001", timedelta(minutes=5), status=7)).encode()
    for _ in range(3):
        receive_webhook(refunded, inbox, NOW)
        assert run(cfg).ok
    assert g.transactions("refund") == ["62001"]
    assert g.transactions("purchase").count("62001") == 1
    assert m.event_ids().count("62001") == 1
    # the status counts purchases and refunds apart: the refund does not unsend 62001
    ga4 = next(r for r in purchase_status(cfg) if r.platform == "ga4")
    assert (ga4.sent, ga4.attributed, ga4.refunds, ga4.pending, ga4.failed) == (2, 2, 1, 0, 0)
    # The payment went through: status 1 -> 3, now a purchase.
    receive_webhook(json.dumps({**pending_payment, "status_id": 3}).encode(), inbox, NOW)
    run(cfg, webhooks_only=True)
    assert g.transactions().count("62003") == 1


def test_ads_consent_denied_keeps_the_browser_out_of_meta(tmp_path, fakes):
    g, m = fakes
    cfg = purchases_cfg(tmp_path, fakes)
    fill(cfg, NOW, orders=[raw_order("63001", timedelta(hours=2)),
                           raw_order("63002", timedelta(hours=2))])
    inbox = Inbox.in_dir(cfg.data_dir)
    granted = {"ad_storage": "granted", "analytics_storage": "granted",
               "ad_user_data": "granted", "ad_personalization": "granted"}
    beacon = Beacon.from_stored("63001", NOW - timedelta(hours=2), {
        "consent": {**granted, "ad_storage": "denied"}, "ga_client_id": "7.7",
        "fbp": "fb.1.1.1", "user_agent": "UA-63001", "ip": "192.0.2.99",
        "page_url": "https://demo.vendre-feeds.test/tack"})
    assert beacon.fbp == "" and beacon.ip == ""
    inbox.put_beacon("63001", {**beacon.stored(), "fbp": "fb.1.1.1", "ip": "192.0.2.99",
                               "user_agent": "UA-63001"}, NOW - timedelta(hours=2), 100)
    inbox.put_beacon("63002", {"consent": {**granted, "ad_user_data": "denied"}},
                     NOW - timedelta(hours=2), 100)
    assert run(cfg).ok
    (event,) = [e for e in m.events() if e["event_id"] == "63001"]
    assert event["action_source"] == "other"
    assert not {"fbp", "fbc", "client_user_agent", "client_ip_address"} & set(event["user_data"])
    assert "63002" not in m.event_ids()  # ad_user_data refused: nothing goes to Meta
    assert states(cfg, "meta")["63002"] == "no_consent"
    assert g.transactions().count("63002") == 1  # GA4 still counts the sale
    dumped = json.dumps(m.events())
    assert "192.0.2.99" not in dumped and "UA-63001" not in dumped


def test_no_match_data_without_user_data_or_beacon(tmp_path, fakes):
    _, m = fakes
    cfg = purchases_cfg(tmp_path, fakes, send_user_data=False)
    fill(cfg, NOW, orders=[raw_order("64001", timedelta(hours=1))])
    assert run(cfg).ok
    assert m.events() == []
    assert states(cfg, "meta") == {"64001": "no_match_data"}
    (meta_row,) = [r for r in purchase_status(cfg) if r.platform == "meta"]
    assert (meta_row.no_match_data, meta_row.sent) == (1, 0)


def test_429_and_5xx_are_retried_and_401_stops_the_platform(tmp_path, fakes):
    g, m = fakes
    cfg = purchases_cfg(tmp_path, fakes)
    fill(cfg, NOW, orders=[raw_order("65001", timedelta(hours=1)),
                           raw_order("65002", timedelta(hours=1))])
    g.fail(429, times=1, headers={"Retry-After": "0"}).fail(503, times=1)
    m.fail(401, times=1)
    report = run(cfg)
    assert report.platforms[payloads.Platform.GA4].ok
    assert sorted(g.transactions()) == ["65001", "65002"]
    meta_part = report.platforms[payloads.Platform.META]
    assert "VENDRE_FEEDS_META_ACCESS_TOKEN" in meta_part.message
    assert set(states(cfg, "meta").values()) == {SendState.PENDING}
    (meta_row,) = [r for r in purchase_status(cfg) if r.platform == "meta"]
    assert meta_row.pending == 2 and "refused" in meta_row.last_error
    assert META_TOKEN not in meta_row.last_error
    # The next run sends them; the platform deduplicates nothing, nothing twice.
    assert run(cfg).ok
    assert sorted(m.event_ids()) == ["65001", "65002"]


def test_an_unreachable_platform_is_given_up_within_the_budget(tmp_path, fakes):
    g, m = fakes
    cfg = purchases_cfg(tmp_path, fakes)
    fill(cfg, NOW, orders=[raw_order("66001", timedelta(hours=1))])
    g.fail(500, times=None)
    m.slow(5.0, times=None)  # slower than the whole budget
    with httpx.Client() as http:
        report = send_purchases(cfg, http=http, env=ENV, now=NOW, budget_s=1.5,
                                pause=lambda _s: None)
    assert not report.ok
    assert "pending" in report.platforms[payloads.Platform.GA4].message
    assert "pending" in report.platforms[payloads.Platform.META].message
    assert set(states(cfg, "ga4").values()) == {SendState.PENDING}


def test_a_refused_meta_batch_is_sent_again_event_by_event(tmp_path, fakes):
    _, m = fakes
    cfg = purchases_cfg(tmp_path, fakes)
    fill(cfg, NOW, orders=[raw_order(str(67000 + n), timedelta(hours=1)) for n in range(3)])
    error = json.dumps({"error": {"message": "Invalid parameter", "code": 100}}).encode()
    m.fail(400, times=1, body=error).fail(400, times=1, body=error)
    assert run(cfg).ok
    assert sorted(states(cfg, "meta").values()) == ["failed", "sent", "sent"]
    assert len(m.events()) == 2


def test_dry_run_and_validate_send_and_record_nothing(tmp_path, fakes):
    g, m = fakes
    cfg = purchases_cfg(tmp_path, fakes)
    fill(cfg, NOW, orders=[raw_order(oid, age) for oid, age in AGES.items()])
    report = run(cfg, dry_run=True)
    lines = report.lines()
    assert len(lines) == 10 and all(line.split(" ")[0] in AGES for line in lines)
    assert any("em hashed" in line for line in lines)
    assert not any("kund@" in line or sha256("kund@example.com") in line for line in lines)
    checked = run(cfg, validate=True)
    assert g.validated == 2 and g.accepted == [] and m.requests == []
    assert sorted(line for line in checked.lines() if "ga4: " in line and "valid" in line) \
        == ["61001 ga4: valid", "61002 ga4: valid"]
    assert ledger_of(cfg).entries() == {}


def test_purchases_need_switching_on(tmp_path):
    cfg = demo_cfg(tmp_path, purchases={"enabled": False})
    with pytest.raises(ConfigError, match="purchases.enabled"):
        send_purchases(cfg, env=ENV, now=NOW)
    assert status_lines(cfg) == []
    with pytest.raises(ConfigError, match="must be https"):
        demo_cfg(tmp_path, purchases={"meta_endpoint": "http://graph.example.com"})


def test_amounts_survive_the_wire():
    assert json.loads(payloads.wire({"v": Decimal("1234.50")})) == {"v": 1234.5}
    assert payloads.money(Decimal("2")) == "2.00"





def test_inside_refresh_an_unreachable_platform_is_one_warning(tmp_path, caplog, monkeypatch):
    """`refresh` sends purchases after its build: a platform that cannot be reached is one
    warning line, the orders stay pending, and nothing is raised."""
    import socket

    from feeds.jobs.refresh import send_purchases_quietly

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cfg = demo_cfg(tmp_path, purchases={"enabled": True, "send_user_data": True,
                                        "ga4_endpoint": f"{dead}/mp/collect",
                                        "meta_endpoint": dead})
    fill(cfg, NOW, orders=[raw_order("68001", timedelta(hours=1))])
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level("WARNING"):
        line = send_purchases_quietly(cfg, NOW, pause=lambda _s: None)
    assert "ga4:" in line and "STOPPED" in line
    # One line per platform, from whichever logger: the run itself says nothing more.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2 and all("\n" not in r.getMessage() for r in warnings)
    assert {r.name for r in warnings} == {"feeds.jobs.refresh"}
    assert set(states(cfg, "ga4").values()) == {SendState.PENDING}
    assert send_purchases_quietly(demo_cfg(tmp_path, purchases={"enabled": False}), NOW) == ""


def test_the_poller_sends_a_webhook_once_its_beacon_had_time(tmp_path):
    from feeds.errors import LockBusy
    from feeds.purchases.poll import GRACE, PurchasesPoller

    cfg = demo_cfg(tmp_path, purchases={"enabled": True})
    Inbox.in_dir(cfg.data_dir).put_webhook("69001", b'{"id": 69001}', NOW, 10)
    calls: list[dict[str, Any]] = []
    clock = [NOW]

    def fake_run(cfg_: Config, **kw: Any) -> Any:
        calls.append(kw)
        if len(calls) == 2:
            raise LockBusy("another purchases run is going on")
        return send_purchases(cfg_, env={}, now=NOW, dry_run=True, **kw)

    poller = PurchasesPoller(cfg, run=fake_run, now=lambda: clock[0])
    assert poller.tick() is None and calls == []  # too fresh: its beacon may be on the way
    clock[0] = NOW + GRACE
    assert poller.tick() is not None
    assert calls == [{"webhooks_only": True, "webhooks_before": NOW}]
    assert poller.tick() is None and len(calls) == 2  # another process holds the lock


def test_the_poller_says_once_that_a_platform_stopped(tmp_path, caplog):
    """A webhook's order that cannot go out (here: no API secret) is one warning line from
    the poller of `serve`/`worker`; the orders stay pending."""
    from feeds.purchases.poll import GRACE, PurchasesPoller

    cfg = demo_cfg(tmp_path, purchases={"enabled": True, "send_user_data": True})
    fill(cfg, NOW, orders=[])
    Inbox.in_dir(cfg.data_dir).put_webhook(
        "69002", json.dumps(raw_order("69002", timedelta(hours=1))).encode(), NOW, 10)
    poller = PurchasesPoller(cfg, now=lambda: NOW + GRACE,
                             run=lambda cfg_, **kw: send_purchases(cfg_, env={}, now=NOW, **kw))
    with caplog.at_level("INFO"):
        report = poller.tick()
    assert report is not None and not report.ok
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "VENDRE_FEEDS_GA4_API_SECRET is not set" in warnings[0]
