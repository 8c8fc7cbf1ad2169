"""Nothing sent or lost silently (issue 16, phase 2): unconfirmed articles, stuck feeds,
and kill -9 at random points, against the real fakes on loopback.

Each section answers one row of the issue's findings table that phase 1 left (4, 6,
8), then the kill -9 rounds, the removal guard and a switch of account. "Holds the
published payload" compares what a fake stores, per SKU, with the channel's published
file, normalised only where the marketplace itself adds or drops something (below).
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from feeds.demo.catalog import demo_products
from feeds.formats import handler
from feeds.pipeline import deliver
from feeds.pipeline.deliver import PushUnconfirmed
from feeds.pipeline.deliver.http import PushHttpError
from feeds.pipeline.plan import feed_specs
from feeds.storage.layout import Layout
from feeds.storage.ledger import SkuState
from tests.conftest import NOW
from tests.fakes.merchants_api import FakeCdon, FakeFyndiq
from tests.fakes.mirakl import FakeMirakl
from tests.fakes.spapi import FakeSpApi
from tests.test_hostile_push import (
    CREDENTIALS,
    SELLABLE,
    Market,
    _fake,
    _subprocess_env,
    market,
)

# ---------------------------------------------------------------- what the fakes hold


def published(shop: Market) -> dict[str, dict[str, Any]]:
    """SKU -> the published item (an article, a listings message, an offer row)."""
    cfg = shop.cfg()
    (spec,) = feed_specs(cfg, [shop.name])
    layout = Layout(cfg.data_dir)
    record = layout.published_feed(spec.stem)
    assert record is not None
    fmt = handler(spec.channel.format, None)
    with (layout.feeds / record.file).open("rb") as fh:
        return {str(item["sku"]): dict(item) for item in fmt.items(fh)}  # type: ignore[attr-defined]


def held(shop: Market) -> dict[str, dict[str, Any]]:
    """SKU -> what the fake holds, in the published item's terms."""
    fake = shop.fake
    if isinstance(fake, FakeSpApi):
        return {sku: {"sku": sku, "attributes": listing.attributes}
                for sku, listing in fake.listings.items()}
    if isinstance(fake, FakeMirakl):
        return {sku: dict(offer.row) for sku, offer in fake.offers().items()}
    return {sku: dict(article) for sku, article in fake.articles.items()}


def comparable(shop: Market, items: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Items as both sides can be compared: an Amazon message by its attributes only; a
    Mirakl row without `update-delete` (the verb of the row sent); a Fyndiq article
    without the empty fields its full update must send, and without an `original_price`
    equal to the price (its price update must send one)."""
    if isinstance(shop.fake, FakeSpApi):
        return {sku: item["attributes"] for sku, item in items.items()}
    if isinstance(shop.fake, FakeMirakl):
        return {sku: {k: v for k, v in item.items() if k != "update-delete"}
                for sku, item in items.items()}
    if isinstance(shop.fake, FakeFyndiq):
        found = {}
        for sku, item in items.items():
            item = {k: v for k, v in item.items() if v not in ("", [])}
            if item.get("original_price") == item.get("price"):
                item.pop("original_price", None)
            found[sku] = item
        return found
    return items


def assert_holds_the_published_payload(shop: Market) -> None:
    mine, theirs = comparable(shop, published(shop)), comparable(shop, held(shop))
    assert set(theirs) == set(mine), (sorted(set(theirs) ^ set(mine)))
    different = sorted(sku for sku in mine if mine[sku] != theirs[sku])
    assert not different, f"{len(different)} differ, e.g. {different[0]}: " \
        f"{json.dumps(theirs[different[0]], sort_keys=True)[:400]} != " \
        f"{json.dumps(mine[different[0]], sort_keys=True)[:400]}"


def repriced(products: list[dict[str, Any]], ids: set[int], step: int = 8
             ) -> list[dict[str, Any]]:
    """`products` with the price (and a sale price) of `ids` raised by `step`."""
    return [dict(p, price=p["price"] + step, **(
        {"price_special": p["price_special"] + step} if p.get("price_special") else {}))
        if p["id"] in ids else p for p in products]


def test_an_honest_push_holds_the_published_payload(tmp_path):
    """The check the tests below rely on, against each fake: it holds after an honest
    push, and it sees a change that was not sent."""
    for name in ("cdon", "fyndiq", "amazon", "afound"):
        with market(tmp_path / name, name) as shop:
            shop.push()
            assert_holds_the_published_payload(shop)
            shop.build(repriced(demo_products(NOW), {1003}), minute=2)
            with pytest.raises(AssertionError, match="1 differ, e.g. 1003"):
                assert_holds_the_published_payload(shop)


def ledger_view(shop: Market) -> list[str]:
    """What push-status shows of the ledger, without asking the marketplace."""
    return deliver.push_status(deliver.ledger_of(shop.cfg()), shop.name).lines()


# ---------------------------------------------------------------- 4. changes never sent


@pytest.mark.parametrize("shape", ["other", "list"])
def test_a_change_to_articles_a_killed_push_left_pending_is_sent(tmp_path, shape):
    """Row 4. Before: a push killed after CDON took its batch left the SKUs pending; CDON
    answered the status look-up in a shape the client did not read, and after a price
    change `push` said "sent nothing (in step)", exit 0, with the articles stale at CDON.
    Now a pending SKU the look-up cannot confirm is sent again at once (by SKU: CDON has
    it, so it is updated, never created twice), and the unreadable answer ends the push
    with exit 1. The bare list, a shape seen before, is read (issue 15): no exit 1."""
    with market(tmp_path, "cdon", _fake("cdon", status_shape=shape)) as shop:
        shop.fake.drop_connection("POST /v2/articles/bulk", after_apply=True, times=None)
        with pytest.raises(PushHttpError, match="gave up"):
            shop.push()                  # (each retry of the create was refused by CDON)
        shop.fake.clear_faults()
        refused = len(shop.fake.duplicate_creates)
        assert {e.state for e in shop.ledger().values()} == {SkuState.PENDING}
        shop.build(repriced(demo_products(NOW), {1001, 1002, 1008}), minute=2)
        if shape == "other":
            with pytest.raises(PushUnconfirmed) as caught:
                shop.push()
            line = str(caught.value)
            assert line.startswith("cdon: sent update content 30, update price 30, "
                                   "update quantity 30 in ")
            assert "; CDON statuses: an unreadable answer (neither 'batches' nor 'statuses' " \
                   "holds a list): 30 SKUs are sent again" in line
        else:
            report = shop.push()
            assert report.actions == {"update price": 3}
        assert_holds_the_published_payload(shop)
        assert len(shop.fake.duplicate_creates) == refused     # no create sent again
        assert {e.state for e in shop.ledger().values()} == {SkuState.LIVE}


# ---------------------------------------------------------------- 6. answers that are no acceptance

ERROR_BODY_TARGETS = {"cdon": "POST /api/v2/articles/bulk", "fyndiq": "POST /api/v1/articles/bulk",
                      "amazon": "GET /download/*", "afound": "POST /api/offers/imports"}
SAYS = {"cdon": 'CDON create: an answer in no known shape ({"error":"internal"})',
        "fyndiq": 'Fyndiq create: an answer in no known shape ({"error":"internal"})',
        "amazon": ": its processing report cannot be read (Amazon processing report: in no "
                  'known shape ({"error":"internal"}))',
        "afound": 'Mirakl OF01: HTTP 200 without an import id ({"error":"internal"})'}


@pytest.mark.parametrize("applied", [False, True], ids=["dropped", "applied"])
@pytest.mark.parametrize("name", list(ERROR_BODY_TARGETS))
def test_a_200_with_an_error_body_leaves_the_articles_unconfirmed(tmp_path, name, applied):
    """Row 6. Before: `{"error": "internal"}` with a 200 made the push exit 0 and "last
    push ok". Now every article sent is unconfirmed: exit 1, one line naming the count,
    push-status says so per SKU, and the next push confirms each (by SKU where the
    marketplace can say) or sends it again, whether the marketplace carried the request
    out or not."""
    with market(tmp_path, name) as shop:
        shop.fake.misbehave("error_body", ERROR_BODY_TARGETS[name], apply=applied, times=1)
        pushed = shop.cli("push", name)
        assert pushed.exit_code == 1 and pushed.stdout == "", pushed.output
        (line,) = pushed.stderr.splitlines()
        count = SELLABLE[name]
        assert f"; {count} unconfirmed (" in line and SAYS[name] in line, line
        assert line.endswith("): the next push confirms them or sends them again" +
                             line.partition("sends them again")[2])
        view = ledger_view(shop)
        assert view[0] == f"{name}: {count} unconfirmed"
        assert "FAILED: " in view[1] and "unconfirmed" in view[1]
        assert any(v.startswith("  unconfirmed 1001: ") and SAYS[name] in v for v in view)
        again = shop.push()
        assert again.confirmed and not again.rejected
        assert_holds_the_published_payload(shop)
        assert {e.state for e in shop.ledger().values()} == {SkuState.LIVE}
        if name in ("cdon", "fyndiq"):
            assert not shop.fake.duplicate_creates
        assert shop.push().sent_nothing


@pytest.mark.parametrize("name,target", [("amazon", "GET /feeds/2021-06-30/feeds/*"),
                                         ("afound", "GET /api/offers/imports/*")])
def test_a_status_answer_with_an_error_body_leaves_the_document_unconfirmed(
        tmp_path, name, target):
    """A feed's or import's status answered with an error body (a 200): the push stops
    asking, its SKUs are unconfirmed (exit 1), and the next push sends them again."""
    with market(tmp_path, name) as shop:
        shop.fake.misbehave("error_body", target, times=1)
        with pytest.raises(PushUnconfirmed) as caught:
            shop.push()
        assert re.search(f"; {SELLABLE[name]} unconfirmed \\((feed|import) [0-9]+: a status "
                         'answer in no known shape \\({"error":"internal"}\\)\\)',
                         str(caught.value)), str(caught.value)
        again = shop.push()
        assert again.confirmed and sum(again.actions.values()) == SELLABLE[name]
        assert_holds_the_published_payload(shop)


PARTIAL = {"cdon": ("POST /api/v2/articles/bulk", "success", "CDON create: the answer did "
                    "not acknowledge it"),
           "fyndiq": ("POST /api/v1/articles/bulk", "responses", "Fyndiq create: the answer "
                      "did not acknowledge it"),
           "amazon": ("GET /download/*", "summary.messagesProcessed", "its report counts 10 "
                      "of 28 messages processed"),
           "afound": ("GET /api/offers/imports/*", "lines_read", "OF02 counts 10 of 28 rows "
                      "read")}


@pytest.mark.parametrize("name", list(PARTIAL))
def test_partial_acceptance_leaves_the_others_unconfirmed(tmp_path, name):
    """Row 6. Before: 147 of 267 articles never acknowledged, not mentioned, exit 0. Now
    those the answer leaves out (CDON, Fyndiq), or all without an issue when a report
    counts fewer processed than were sent and does not say which (Amazon, Mirakl), are
    unconfirmed, and the next push takes them up."""
    target, path, says = PARTIAL[name]
    with market(tmp_path, name) as shop:
        shop.fake.misbehave("partial", target, path=path, keep=10, times=1)
        with pytest.raises(PushUnconfirmed) as caught:
            shop.push()
        left = SELLABLE[name] - 10 if name in ("cdon", "fyndiq") else SELLABLE[name]
        assert f"; {left} unconfirmed ({says if name in ('cdon', 'fyndiq') else ''}" \
            in str(caught.value) and says in str(caught.value)
        states = [e.state for e in shop.ledger().values()]
        assert states.count(SkuState.UNCONFIRMED) == left
        run = deliver.ledger_of(shop.cfg()).last_run(name)
        assert run is not None and not run.ok and run.counts["unconfirmed"] == left
        assert shop.push().confirmed
        assert_holds_the_published_payload(shop)
        assert {e.state for e in shop.ledger().values()} == {SkuState.LIVE}


def test_an_update_cdon_does_not_acknowledge_is_sent_again(tmp_path):
    """The same for update actions: a price change the answer leaves out is not recorded
    as sent, and the next push sends the article again in full."""
    with market(tmp_path, "cdon") as shop:
        shop.push()
        shop.build(repriced(demo_products(NOW), {1001, 1002, 1008, 1009}), minute=2)
        shop.fake.misbehave("partial", "PUT /api/v2/articles/bulk", path="success", keep=1,
                            times=1)
        with pytest.raises(PushUnconfirmed, match="; 3 unconfirmed \\(CDON update: the answer "
                                                  "did not acknowledge it\\)"):
            shop.push()
        again = shop.push()
        assert again.actions == {"update content": 3, "update price": 3, "update quantity": 3}
        assert_holds_the_published_payload(shop)


# ---------------------------------------------------------------- 8. stuck in processing

STUCK = {"amazon": ("GET /feeds/2021-06-30/feeds/*", "processingStatus", "IN_PROGRESS",
                    "feed"),
         "afound": ("GET /api/offers/imports/*", "status", "RUNNING", "import")}


@pytest.mark.parametrize("name", list(STUCK))
def test_a_feed_or_import_stuck_in_processing_is_unconfirmed_after_the_timeout(
        tmp_path, name):
    """Row 8. Before: "179 SKUs wait for an earlier feed's report", with no limit. Now the
    SKUs wait (unless their item changed: that is sent at once) until
    report_timeout_hours after they were sent, then they are sent again. (The fake
    carried every feed or import out; only its status answers say it is still running.)"""
    target, field, value, kind = STUCK[name]

    def push(hours: float) -> deliver.PushReport:
        return deliver.push(shop.cfg(), name, env=shop.env, now=NOW + timedelta(hours=hours),
                            sleep=shop.sleeps)

    with market(tmp_path, name) as shop:
        shop.fake.misbehave("stuck", target, field=field, value=value)
        first = push(0)
        assert "still processing: its results are recorded by the next push" in first.message
        assert {e.state for e in shop.ledger().values()} == {SkuState.PENDING}
        shop.build(repriced(demo_products(NOW), {1001}), minute=2)
        later = push(23)
        assert later.actions == {"update": 1}   # changed: sent again in full, at once
        assert f"{SELLABLE[name] - 1} SKUs wait for an earlier" in later.message
        day = push(25)
        assert re.search(f"; {kind} [0-9]+: still {value}, no report within 24 h of sending "
                         f"it \\(report_timeout_hours\\): its {SELLABLE[name] - 1} SKUs are "
                         "sent again; 1 SKUs wait for an earlier", day.message), day.message
        assert sum(day.actions.values()) == SELLABLE[name] - 1
        shop.fake.calm()
        assert push(26).confirmed
        assert_holds_the_published_payload(shop)
        assert {e.state for e in shop.ledger().values()} == {SkuState.LIVE}


@pytest.mark.parametrize("name", list(STUCK))
def test_a_push_stops_polling_at_the_report_timeout(tmp_path, name):
    """Within one push: a timeout shorter than its polling stops the polling, and what
    the feed or import held is unconfirmed (exit 1)."""
    target, field, value, kind = STUCK[name]
    with market(tmp_path, name, report_timeout_hours=0.05) as shop:
        shop.fake.misbehave("stuck", target, field=field, value=value)
        with pytest.raises(PushUnconfirmed, match=f"{SELLABLE[name]} unconfirmed \\({kind} "
                                                  f"[0-9]+: still {value}, no report within "
                                                  "0.05 h of sending it \\(report_timeout_"
                                                  "hours\\)\\)"):
            shop.push()
        assert sum(shop.sleeps) < 0.05 * 3600 + 70


def test_a_cdon_batch_without_a_verdict_for_a_day_is_sent_again(tmp_path):
    with market(tmp_path, "cdon") as shop:
        shop.fake.misbehave("stuck", "POST /api/v1/statuses/*", field="status",
                            value="pending")
        shop.push()
        shop.push()                                      # asked: still pending
        assert all(e.batch_id for e in shop.ledger().values())
        now = datetime.now(UTC) + timedelta(hours=25)
        report = deliver.push(shop.cfg(), "cdon", env=shop.env, now=now, sleep=shop.sleeps)
        assert "CDON statuses: no verdict within 24 h of sending it (report_timeout_hours): " \
               "its 30 articles are sent again" in report.message
        assert report.actions == {"update content": 30, "update price": 30,
                                  "update quantity": 30}
        assert_holds_the_published_payload(shop)


# ---------------------------------------------------------------- kill -9 at random points

KILLS = {"cdon": 6, "amazon": 6, "fyndiq": 3}  # kills per marketplace
# About how many requests a push of a round makes (Amazon: LWA, a document, its upload,
# createFeed, getFeed, the report's URL and the report; and a look-up per new SKU).
REQUESTS = {"cdon": 3, "amazon": 8, "fyndiq": 2}
SLOW = 0.1  # seconds each fake takes per answer, so that a kill can land inside a request


def _slow_fake(name: str) -> Any:
    if name == "amazon":
        fake = _fake(name, create_feed_burst=100)
        for operation in ("token", "createFeedDocument", "upload", "createFeed", "getFeed",
                          "getFeedDocument", "download", "getListingsItem"):
            fake.delay(operation, SLOW)
        return fake
    if name == "cdon":  # verdicts come a push later: the next push asks for them too
        return FakeCdon(merchant_id=CREDENTIALS[name]["CDON_MERCHANT_ID"],
                        token=CREDENTIALS[name]["CDON_API_TOKEN"], ok_after_polls=1,
                        latency=SLOW)
    return _fake(name, latency=SLOW)


def _next_build(rng: random.Random, products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A new catalogue: about a third of the products repriced, a few restocked or renamed,
    two hidden or shown again (never enough to trip the removal guard)."""
    changed = []
    for product in products:
        product = dict(product)
        roll = rng.random()
        if roll < 0.33:
            product = repriced([product], {product["id"]}, rng.choice([8, 16, -8]))[0]
        elif roll < 0.45:
            product["quantity"] = rng.randrange(0, 40)
        elif roll < 0.55:
            product["name"] = {**product["name"], "sv": f"{product['name']['sv']} {roll:.3f}"}
        changed.append(product)
    for index in rng.sample(range(len(changed)), 2):
        changed[index] = dict(changed[index], show=not changed[index].get("show", True))
    return changed


def _kill_a_push(shop: Market, rng: random.Random) -> str:
    """`vendre-feeds push` in a child process, killed (SIGKILL) once a random one of its
    first requests reached the fake, a random moment later: while the fake works on it
    (it carries the request out all the same), or after its answer; what happened."""
    nth, extra = rng.randint(1, REQUESTS[shop.name]), rng.uniform(0, 1.2 * SLOW)
    start = shop.fake.arrivals
    child = subprocess.Popen([sys.executable, "-m", "feeds", "--config", str(shop.config),
                              "push", shop.name], env=_subprocess_env(shop),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while shop.fake.arrivals < start + nth and child.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(extra)
        if child.poll() is not None:
            return f"ended by itself (exit {child.returncode})"
        child.send_signal(signal.SIGKILL)
        return f"killed {extra:.3f} s into request {nth}"
    finally:
        child.wait()


@pytest.mark.parametrize("name", list(KILLS))
def test_kill_9_at_random_points_then_one_push_leaves_exactly_the_published_payload(
        tmp_path, name):
    """Each round publishes a changed catalogue, kills a push of it at a random point
    (before, inside or between its requests: the fake answers slowly), and pushes once
    more: the marketplace then holds exactly the published payload, no article was
    created twice, and no change was lost. The pushes of the same ledger continue from
    round to round, so each kill also meets what the earlier ones left behind."""
    rng = random.Random(f"kill -9 {name}")
    outcomes: list[str] = []
    with market(tmp_path, name, _slow_fake(name)) as shop:
        products = demo_products(NOW)
        for round_ in range(3 * KILLS[name]):   # a push may end before its kill
            if sum(o.startswith("killed") for o in outcomes) == KILLS[name]:
                break
            if round_:
                products = _next_build(rng, products)
                shop.build(products, minute=round_ + 1)
            outcomes.append(_kill_a_push(shop, rng))
            refused = len(getattr(shop.fake, "duplicate_creates", ()))
            report = shop.push()
            assert report.confirmed, report.summary()
            assert_holds_the_published_payload(shop)
            assert len(getattr(shop.fake, "duplicate_creates", ())) == refused, outcomes
            assert shop.push().sent_nothing, outcomes
            assert not {SkuState.PENDING, SkuState.UNCONFIRMED} & \
                {e.state for e in shop.ledger().values()}
    assert sum(o.startswith("killed") for o in outcomes) == KILLS[name], outcomes


# ---------------------------------------------------------------- the removal guard, an account


def test_the_removal_guard_counts_unconfirmed_articles_as_for_sale(tmp_path):
    """Articles whose last update CDON did not acknowledge may well be for sale: a build
    that drops 13 of them is refused although only one is live in the ledger."""
    with market(tmp_path, "cdon", max_drop_percent=100) as shop:
        shop.push()
        shop.build(repriced(demo_products(NOW), {p["id"] for p in demo_products(NOW)}),
                   minute=2)
        shop.fake.misbehave("error_body", "PUT /api/v2/articles/bulk", times=1)
        with pytest.raises(PushUnconfirmed, match="; 30 unconfirmed \\(CDON update: an "
                                                  "answer in no known shape"):
            shop.push()          # (1011, priced at last, is created: acknowledged, live)
        live = {sku for sku, e in shop.ledger().items() if e.state is SkuState.LIVE}
        assert live == {"1011"}
        hidden = {p["id"] for p in demo_products(NOW)[:16]}
        shop.build([dict(p, show=False) if p["id"] in hidden else p
                    for p in repriced(demo_products(NOW), {p["id"] for p in
                                                           demo_products(NOW)})], minute=3)
        before = shop.fake.arrivals
        refused = shop.cli("push", "cdon")
        assert refused.exit_code == 1, refused.output
        # 12 unconfirmed and 1011 (live): counting only the live ones, 1 article was for
        # sale, and the guard (more than 10 removals) could not trip
        assert "refused, nothing was sent: it would delete, pause or zero 13 of the 31 " \
               "articles for sale (42 %" in refused.stderr
        assert shop.fake.arrivals == before and len(shop.fake.articles) == 31
        forced = shop.cli("push", "cdon", "--force")
        assert forced.exit_code == 0, forced.output
        assert_holds_the_published_payload(shop)


def test_a_switch_of_account_and_back_leaves_each_with_the_published_payload(tmp_path):
    """A push killed while it sent to account A; the channel is pointed at account B
    (a fresh ledger there) and back at A (a fresh ledger again: nothing recorded while
    B was configured is trusted for A). Each account ends up with exactly the published
    payload, and no article is made twice at either."""
    creds = CREDENTIALS["cdon"]
    with market(tmp_path, "cdon", _slow_fake("cdon")) as shop:
        fake_a = shop.fake
        assert _kill_a_push(shop, random.Random(4)).startswith("killed")
        with FakeCdon(merchant_id="another-merchant-0815", token="other-token-1",
                      ok_after_polls=0) as fake_b:
            other = {"CDON_MERCHANT_ID": "another-merchant-0815",
                     "CDON_API_TOKEN": "other-token-1"}
            shop.fake = fake_b
            lines: list[str] = []
            report = deliver.push(shop.cfg(), "cdon", env={**shop.env, **other}, now=NOW,
                                  sleep=shop.sleeps, echo=lines.append)
            assert report.actions == {"create": 30} and "another account" in lines[0]
            assert_holds_the_published_payload(shop)
        shop.fake = fake_a
        assert creds["CDON_MERCHANT_ID"] in shop.env.values()
        for _ in range(3):                  # created, adopted (CDON: a later verdict), updated
            lines = []
            deliver.push(shop.cfg(), "cdon", env=shop.env, now=NOW, sleep=shop.sleeps,
                         echo=lines.append)
        assert_holds_the_published_payload(shop)
        assert len(fake_a.articles) == 30 and shop.push().sent_nothing
