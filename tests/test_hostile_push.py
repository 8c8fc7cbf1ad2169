"""Pushes against marketplace fakes that misbehave on purpose (issue 16, phase 1).

Each section answers one row of the issue's findings table, against the real fakes on
loopback (tests/fakes/merchants_api.py, spapi.py, mirakl.py) made to misbehave by
tests/fakes/misbehave.py: echo the credentials back, send huge answers, gzip bombs,
nested JSON, drip or hang; point a ledger at another account; remove most of what is
for sale; kill a push; lock or spoil the ledger; close the output.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from feeds import log as feeds_log
from feeds.cli import main
from feeds.config import load_config
from feeds.demo.catalog import demo_products
from feeds.demo.run import demo_toml
from feeds.errors import ConfigError, FeedsError, StoreError
from feeds.pipeline import deliver
from feeds.pipeline.deliver import cdon as cdon_client
from feeds.pipeline.deliver.http import PushHttpError
from feeds.pipeline.run import build_feeds
from feeds.server import create_app
from feeds.storage.layout import Layout
from feeds.storage.ledger import SkuState, SqliteLedger
from feeds.storage.lock import held
from feeds.storage.lock import push as push_lock
from tests.conftest import NOW, ROOT
from tests.fakes.merchants_api import FakeCdon, FakeFyndiq
from tests.fakes.mirakl import FakeMirakl
from tests.fakes.misbehave import FORMS, MIB, leaks
from tests.fakes.spapi import DEFAULT_SELLER_ID, FakeSpApi
from tests.feedkit import fill

ACCESS_KEY = "hostile-push-page-key-0123456789"
# Credentials with characters that every encoding changes (quote, quote_plus, JSON).
CREDENTIALS: dict[str, dict[str, str]] = {
    "cdon": {"CDON_MERCHANT_ID": 'merchant+4711/"cd"=on',
             "CDON_API_TOKEN": 'cdon tok "en"\\+/=&%-c8e1f03b9d2a'},
    "fyndiq": {"FYNDIQ_MERCHANT_ID": 'merchant+815/"fy"=ndiq',
               "FYNDIQ_API_TOKEN": 'fyndiq tok "en"\\+/=&%-5e7a9c1b3d'},
    "amazon": {"AMAZON_LWA_CLIENT_ID": 'amzn1.application-oa2-client.host+ile/"id"',
               "AMAZON_LWA_CLIENT_SECRET": 'lwa sec "ret"\\+/=&%-3c9e1a7b5d',
               "AMAZON_LWA_REFRESH_TOKEN": 'Atzr|refresh "rt"\\+/=&%-6f2b8d0e4a'},
    "afound": {"AFOUND_API_KEY": 'mirakl key "k"\\+/=&%-7d1e2f3a4b'},
}
# Where each fake's first call lands, below its server's root.
FIRST_CALL = {"cdon": "POST /api/v2/articles/bulk", "fyndiq": "POST /api/v1/articles/bulk",
              "amazon": "POST /auth/o2/token", "afound": "POST /api/offers/imports"}
SELLABLE = {"cdon": 30, "fyndiq": 30, "afound": 28, "amazon": 28}


class Sleeps(list):
    """Records the pauses asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    def __bool__(self) -> bool:
        return True


def _fake(name: str, **options: Any) -> Any:
    creds = list(CREDENTIALS[name].values())
    if name == "cdon":
        return FakeCdon(merchant_id=creds[0], token=creds[1], ok_after_polls=0, **options)
    if name == "fyndiq":
        return FakeFyndiq(merchant_id=creds[0], token=creds[1], **options)
    if name == "amazon":
        # the pushes here sleep on a recorder, not the clock: no getListingsItem quota
        return FakeSpApi(client_id=creds[0], client_secret=creds[1], refresh_token=creds[2],
                         polls_to_done=0, listings_rate=None, **options)
    return FakeMirakl(api_key=creds[0], polls_to_complete=0, min_poll_interval=0.0, **options)


@dataclass
class Market:
    """The demo shop with one marketplace channel, built, and the fake it pushes to."""

    name: str
    fake: Any
    root: Path
    settings: dict[str, Any] = field(default_factory=dict)
    sleeps: Sleeps = field(default_factory=Sleeps)

    @property
    def config(self) -> Path:
        return self.root / "vendre-feeds.toml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def env(self) -> dict[str, str]:
        prefix = f"VENDRE_FEEDS_CHANNELS_{self.name.upper()}_"
        urls = {"ENDPOINT": self.fake.url, "TOKEN_URL": self.fake.token_url,
                "SELLER_ID": DEFAULT_SELLER_ID} if self.name == "amazon" else \
            {"API_URL": self.fake.url}
        return {**CREDENTIALS[self.name], **{prefix + k: v for k, v in urls.items()},
                **{prefix + k.upper(): str(v) for k, v in self.settings.items()}}

    def cfg(self) -> Any:
        return load_config(self.config, env=self.env)

    def build(self, products: list[dict] | None = None, minute: int = 1) -> None:
        cfg = self.cfg()
        fill(cfg, NOW, products=products)
        (result,) = build_feeds(cfg, codes=[self.name], now=NOW.replace(minute=minute))
        assert result.published, result.reason

    def push(self, **kwargs: Any) -> deliver.PushReport:
        return deliver.push(self.cfg(), self.name, env=self.env, now=NOW, sleep=self.sleeps,
                            **kwargs)

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(main, ["--config", str(self.config), *args], env=self.env,
                                  catch_exceptions=False)

    def ledger(self) -> dict[str, Any]:
        return deliver.ledger_of(self.cfg()).entries(self.name)

    def copy(self, root: Path) -> Market:
        """The same shop in another directory (its data dir copied), same fake."""
        shutil.copytree(self.root, root)
        config = root / "vendre-feeds.toml"
        config.write_text(self.config.read_text("utf-8").replace(str(self.data),
                                                                 str(root / "data")), "utf-8")
        return Market(self.name, self.fake, root, dict(self.settings))


@contextlib.contextmanager
def market(root: Path, name: str, fake: Any = None, **settings: Any) -> Iterator[Market]:
    """The demo shop built for `name`, pushing to a fake with CREDENTIALS (started here)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "vendre-feeds.toml").write_text(demo_toml(root / "data"), "utf-8")
    with fake or _fake(name) as started:
        shop = Market(name, started, root, settings)
        shop.build()
        yield shop


# ---------------------------------------------------------------- looking for secrets


def _runs(text: str, n: int) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def stored_text(data: Path) -> str:
    """Every file under the data dir (the ledger and its WAL too), as text."""
    return "\n".join(p.read_bytes().decode("utf-8", errors="replace")
                     for p in sorted(data.rglob("*")) if p.is_file())


def status_page(shop: Market, monkeypatch: pytest.MonkeyPatch) -> str:
    """The status page a server with this config and environment serves, from a process
    that never pushed (no secret registered but what the server itself reads)."""
    monkeypatch.setattr(feeds_log, "_SECRETS", type(feeds_log._SECRETS)())  # empty
    for key, value in shop.env.items():
        monkeypatch.setenv(key, value)
    cfg = load_config(shop.config, env={**shop.env, "VENDRE_FEEDS_SERVER_ACCESS_KEY":
                                        ACCESS_KEY})
    response = create_app(cfg).test_client().get(f"/?key={ACCESS_KEY}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- 1. credentials echoed back


@pytest.mark.parametrize("name", ["cdon", "fyndiq", "amazon", "afound"])
def test_every_form_of_every_credential_echoed_back_is_found_nowhere(
        tmp_path, name, monkeypatch):
    """Each marketplace echoes what it received (the Authorization header, the access
    token, the request body) in each form, in a 400's reason phrase, a header and its
    body. Nothing of it reaches stdout, stderr (debug logs included), any file under
    data_dir, push-status or the served status page."""
    with market(tmp_path / "base", name) as base:
        scenarios = [(form, "*") for form in FORMS]
        if name == "amazon":  # the access token, once issued, echoed by the Feeds API
            scenarios += [(form, "POST /feeds/*") for form in FORMS]
        for n, (form, target) in enumerate(scenarios):
            shop = base.copy(tmp_path / f"{n}-{form}")
            shop.fake.calm().misbehave("echo", target, form=form)
            pushed = shop.cli("-vv", "push", name)
            status = shop.cli("push-status", name)
            assert pushed.exit_code in (1, 2), pushed.output
            assert pushed.stderr.count("error: ") == 1 and "unexpected" not in pushed.stderr
            secrets = list(CREDENTIALS[name].values())
            if name == "amazon":
                with shop.fake._lock:
                    secrets += list(shop.fake._tokens)  # the access tokens it issued
            page = status_page(shop, monkeypatch)
            monkeypatch.undo()
            for where, text in (("stdout", pushed.stdout + status.stdout),
                                ("stderr", pushed.stderr + status.stderr),
                                ("data_dir", stored_text(shop.data)), ("status page", page)):
                assert not leaks(text, secrets), f"{form} via {target}: a secret in {where}"
            assert shop.fake.misbehaved, "the fake never echoed"


def test_a_secret_across_the_cut_is_masked_whole(tmp_path):
    """The finding: the body was cut to 300 characters, then scrubbed, so 19 of 20
    characters of a key across the cut survived. Now: scrubbed first, then cut."""
    with market(tmp_path, "afound") as shop:
        key = CREDENTIALS["afound"]["AFOUND_API_KEY"]
        # `{"error": "invalid_request ` is 27 characters; the key starts at 281.
        shop.fake.misbehave("echo", FIRST_CALL["afound"], pad=281 - 27)
        pushed = shop.cli("push", "afound")
        assert pushed.exit_code == 1 and "HTTP 400" in pushed.stderr
        json_key = json.dumps(key)[1:-1]
        for text in (pushed.stderr, stored_text(shop.data)):
            assert not any(part in text for part in _runs(json_key, 8))


def test_lwa_error_text_is_masked_in_the_message_the_ledger_and_the_page(
        tmp_path, monkeypatch):
    with market(tmp_path, "amazon") as shop:
        shop.fake.misbehave("echo", "POST /auth/o2/token")  # the form body, as received
        pushed = shop.cli("push", "amazon")
        assert pushed.exit_code == 2 and "Amazon LWA token: refused (invalid_request" \
            in pushed.stderr
        run = deliver.ledger_of(shop.cfg()).last_run("amazon")
        assert run is not None and "LWA token: refused" in run.message
        secrets = list(CREDENTIALS["amazon"].values())
        assert not leaks(run.message + pushed.stderr, secrets)
        assert not leaks(status_page(shop, monkeypatch), secrets)


def test_credentials_in_a_url_are_refused_without_quoting_them(tmp_path):
    root = tmp_path
    (root / "vendre-feeds.toml").write_text(demo_toml(root / "data"), "utf-8")
    url = "https://shopuser:s3cret-Pa55@merchants-api.cdon.com/api"
    with pytest.raises(ConfigError) as caught:
        load_config(root / "vendre-feeds.toml", env={"VENDRE_FEEDS_CHANNELS_CDON_API_URL": url})
    assert "must not hold a user name or password" in str(caught.value)
    assert "'https://merchants-api.cdon.com/api'" in str(caught.value)
    assert "s3cret" not in str(caught.value) and "shopuser" not in str(caught.value)


# ---------------------------------------------------------------- 2. answers too large


def _peak_mb(run: Any) -> tuple[Any, float]:
    """`run()`'s outcome (or exception) and the peak of memory Python allocated meanwhile."""
    tracemalloc.start()
    try:
        try:
            outcome: Any = run()
        except FeedsError as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("status", [202, 400])
def test_a_huge_answer_is_read_up_to_the_cap_only(tmp_path, status):
    with market(tmp_path, "cdon", max_response_mb=1) as shop:
        shop.fake.misbehave("huge", FIRST_CALL["cdon"], size=96 * MIB, status=status)
        outcome, peak = _peak_mb(shop.push)
        assert isinstance(outcome, PushHttpError)
        if status == 202:
            assert str(outcome) == ("CDON create: the answer is larger than 1 MB "
                                    "(channels.cdon.max_response_mb); stopped reading it")
        else:  # an error answer: only its start is read, to quote it
            assert str(outcome).startswith('CDON create: HTTP 400: {"responses": ["xxx')
            assert len(str(outcome)) < 400
        assert peak < 16, f"{peak:.0f} MB for a 96 MB answer"


def test_a_huge_answer_with_its_length_is_not_read(tmp_path):
    with market(tmp_path, "fyndiq") as shop:
        shop.fake.misbehave("huge", FIRST_CALL["fyndiq"], size=600 * MIB, length=True)
        with pytest.raises(PushHttpError, match=r"Fyndiq create: the answer is 629145600 "
                                                r"bytes, more than 16 MB \(channels.fyndiq."
                                                r"max_response_mb\); not read"):
            shop.push()


def test_a_gzip_bomb_as_the_processing_report_stops_at_the_cap(tmp_path):
    """1 MB of gzip that inflates to 1,000 MB: before, the push inflated all of it (and
    exited 0). Now it stops at the cap, exit 1; the feed's SKUs are unconfirmed (phase 1
    left them pending, and every later push fetched the bomb again and failed), so the
    next push sends them again and its feed's report confirms them."""
    with market(tmp_path, "amazon", max_response_mb=2) as shop:
        shop.fake.misbehave("gzip_bomb", "GET /download/*", size=1000 * MIB, times=1)
        outcome, peak = _peak_mb(shop.push)
        assert isinstance(outcome, deliver.PushUnconfirmed)
        assert "report download: the answer is larger than 2 MB " \
               "(channels.amazon.max_response_mb); stopped reading it" in str(outcome)
        assert f"{SELLABLE['amazon']} unconfirmed (feed " in str(outcome)
        assert peak < 24, f"{peak:.0f} MB"
        entries = shop.ledger()
        assert len(entries) == SELLABLE["amazon"]
        assert {e.state for e in entries.values()} == {SkuState.UNCONFIRMED}
        assert all(e.batch_id for e in entries.values())  # sent: its feed id is kept
        again = shop.push()                                # the bomb is not asked for again
        assert again.actions == {"update": SELLABLE["amazon"]}
        assert {e.state for e in shop.ledger().values()} == {SkuState.LIVE}
        assert len(shop.fake.feeds) == 2 and shop.fake.misbehaved == [
            ("gzip_bomb", "GET", shop.fake.misbehaved[0][2])]


def test_a_gzip_encoded_bomb_is_inflated_under_the_cap_too(tmp_path):
    with market(tmp_path, "afound", max_response_mb=1) as shop:
        shop.fake.misbehave("gzip_bomb", "GET /api/offers/imports/*", size=200 * MIB,
                            encoding=True)
        with pytest.raises(PushHttpError, match="larger than 1 MB"):
            shop.push()


def test_json_nested_too_deeply_is_an_unreadable_answer(tmp_path):
    with market(tmp_path, "cdon") as shop:
        shop.fake.misbehave("nested", FIRST_CALL["cdon"], status=202)
        with pytest.raises(PushHttpError, match=r"CDON create: the answer is not readable "
                                                r"\(JSON nested too deeply\)"):
            shop.push()
        entries = shop.ledger()  # the batch was sent: pending, looked up next time
        assert {e.state for e in entries.values()} == {SkuState.PENDING}


# ---------------------------------------------------------------- 3. dripped and hung answers


def test_a_dripped_answer_is_one_late_request_retried_then_the_push_fails(tmp_path):
    with market(tmp_path, "cdon", timeout_s=0.5) as shop:
        shop.fake.misbehave("drip", FIRST_CALL["cdon"], delay=0.05)
        with pytest.raises(PushHttpError) as caught:
            shop.push()   # before: each byte came within the read timeout, for a minute
        assert str(caught.value) == ("CDON create: no complete answer within 0.5 s "
                                     "(channels.cdon.timeout_s) (gave up after 6 tries)")


def test_the_push_deadline_ends_a_push_that_drips_and_keeps_what_was_accepted(
        tmp_path, monkeypatch):
    monkeypatch.setattr(cdon_client.CdonPusher, "create_limit", 10)
    with market(tmp_path, "cdon", timeout_s=3600, push_deadline_minutes=0.05) as shop:
        # Two batches answered honestly, then one dripped for minutes.
        plan = _DripAfter(shop.fake, FIRST_CALL["cdon"], honest=2, delay=0.5)
        plan.start()
        with pytest.raises(PushHttpError) as caught:
            shop.push()
        plan.stop()
        assert str(caught.value) == ("CDON create: stopped, the push's deadline passed "
                                     "(channels.cdon.push_deadline_minutes)")
        states = [e.state for e in shop.ledger().values()]
        assert states.count(SkuState.LIVE) == 20 and states.count(SkuState.PENDING) == 10
        run = deliver.ledger_of(shop.cfg()).last_run("cdon")
        assert run is not None and run.ended and not run.ok
        assert "deadline passed" in run.message


class _DripAfter:
    """Makes `target` drip once `honest` such requests were answered honestly."""

    def __init__(self, fake: Any, target: str, *, honest: int, delay: float) -> None:
        self.fake, self.target, self.honest, self.delay = fake, target, honest, delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        method, path = self.target.split(" ")
        below = path.removeprefix(self.fake.prefix)
        while not self._stop.wait(0.005):
            if self.fake.calls(method, below) >= self.honest:
                self.fake.misbehave("drip", self.target, delay=self.delay, times=None)
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("name,target", [
    ("amazon", "POST /auth/o2/token"),
    ("amazon", "GET /download/*"),
    ("afound", "GET /api/offers/imports/*"),
    ("fyndiq", "POST /api/v1/articles/bulk"),
])
def test_a_hanging_call_is_bounded_by_the_request_timeout(tmp_path, name, target):
    with market(tmp_path, name, timeout_s=0.3) as shop:
        shop.fake.misbehave("hang", target, delay=30)
        # (a report that never comes leaves its feed's SKUs unconfirmed: PushUnconfirmed)
        with pytest.raises(FeedsError, match=r"no complete answer within 0.3 s \(channels\."
                                                rf"{name}\.timeout_s\) \(gave up after 6 tries"):
            shop.push()


# ---------------------------------------------------------------- 5. the ledger's account


def test_another_account_starts_a_fresh_ledger_and_says_so(tmp_path):
    """Before: pointing api_url at another (empty) account said "in step", exit 0, and
    the marketplace held nothing. Now the push starts a fresh ledger for it."""
    with market(tmp_path, "cdon") as shop:
        assert shop.push().actions == {"create": 30}
        creds = list(CREDENTIALS["cdon"].values())
        with FakeCdon(merchant_id=creds[0], token=creds[1], ok_after_polls=0) as empty:
            shop.fake = empty
            lines: list[str] = []
            report = deliver.push(shop.cfg(), "cdon", env=shop.env, now=NOW,
                                  sleep=shop.sleeps, echo=lines.append)
            assert report.actions == {"create": 30}
            assert len(empty.articles) == 30
            assert len(lines) == 1 and lines[0].startswith(
                "cdon: the ledger was made with another account (http://127.0.0.1:")
            assert "starting a fresh one for" in lines[0]
            assert "a fresh ledger for another account" in report.message
            assert shop.push().sent_nothing  # and it is that account's ledger now
        stored = stored_text(shop.data)
        assert creds[0] not in stored and quote(creds[0]) not in stored  # hashed, never raw


def test_another_shops_ledger_is_not_trusted(tmp_path):
    """Before: another shop's ledger made the push delete the articles it did not know.
    Now the merchant id (hashed) tells the ledgers apart: nothing is deleted."""
    with market(tmp_path / "a", "cdon") as shop_a:
        shop_a.push()
        ledger_a = shop_a.data / "state" / "ledger.sqlite3"
        other = {"CDON_MERCHANT_ID": "another-merchant-0815", "CDON_API_TOKEN": "other-tok-1"}
        with FakeCdon(merchant_id=other["CDON_MERCHANT_ID"], token=other["CDON_API_TOKEN"],
                      ok_after_polls=0) as fake_b:
            shop_b = Market("cdon", fake_b, tmp_path / "b")
            shop_b.root.mkdir()
            shop_b.config.write_text(demo_toml(shop_b.data), "utf-8")
            smaller = [p for p in demo_products(NOW) if p["id"] % 2]
            shop_b.build(products=smaller)
            shutil.copy(ledger_a, shop_b.data / "state" / "ledger.sqlite3")
            env = {**shop_b.env, **other}
            lines: list[str] = []
            report = deliver.push(shop_b.cfg(), "cdon", env=env, now=NOW, sleep=Sleeps(),
                                  echo=lines.append)
            assert "delete" not in report.actions and report.actions["create"] > 0
            assert fake_b.calls("PUT", "/v2/articles/bulk") == 0
            assert len(lines) == 1 and "another account" in lines[0]


def test_the_removal_guard_refuses_and_force_sends(tmp_path):
    """A build whose own drop guard was opened (max_drop_percent = 100) publishes a file
    without 12 of the 30 articles for sale: the push refuses to delete them unforced."""
    with market(tmp_path, "cdon", max_drop_percent=100) as shop:
        shop.push()
        hidden = {p["id"] for p in demo_products(NOW)[:16]}
        shop.build([dict(p, show=False) if p["id"] in hidden else p
                    for p in demo_products(NOW)], minute=2)
        dry = shop.cli("push", "cdon", "--dry-run")
        refused = shop.cli("push", "cdon")
        assert refused.exit_code == 1 and refused.stdout == ""
        (line,) = refused.stderr.splitlines()
        assert line.startswith("error: cdon: refused, nothing was sent: it would delete, "
                               "pause or zero 12 of the 30 articles for sale (40 %, more "
                               "than channels.cdon.max_removal_percent = 20 % and more "
                               "than 10)")
        assert "it would delete, pause or zero 12 of the 30 articles for sale (40 %" in dry.stdout
        assert dry.exit_code == 0 and "would send delete 12" in dry.stdout
        assert shop.fake.calls("PUT") == 0 and len(shop.fake.articles) == 30
        status = shop.cli("push-status", "cdon")
        assert "FAILED: cdon: refused, nothing was sent" in status.stdout
        forced = shop.cli("push", "cdon", "--force")
        assert forced.exit_code == 0, forced.output
        assert "sent delete 12" in forced.stdout and len(shop.fake.articles) == 18


def test_the_removal_guard_lets_small_removals_through(tmp_path):
    with market(tmp_path, "afound", max_drop_percent=100) as shop:
        shop.push()
        # 1001-1009 and 1012 of the 28 offers (1010, 1011 are none): 36 %, but only 10
        gone = {p["id"] for p in demo_products(NOW)[:12]}
        shop.build([dict(p, show=False) if p["id"] in gone else p
                    for p in demo_products(NOW)], minute=2)
        report = shop.push()
        assert report.actions["delete"] == 10


# ---------------------------------------------------------------- 7. push-status tells the truth


def _subprocess_env(shop: Market) -> dict[str, str]:
    return {**os.environ, **shop.env, "PYTHONPATH": str(ROOT)}


def test_a_killed_push_is_interrupted_and_a_running_one_is_running(tmp_path, monkeypatch):
    with market(tmp_path, "cdon") as shop:
        shop.fake.misbehave("hang", FIRST_CALL["cdon"], delay=60)
        child = subprocess.Popen([sys.executable, "-m", "feeds", "--config", str(shop.config),
                                  "push", "cdon"], env=_subprocess_env(shop),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not shop.fake.misbehaved and time.monotonic() < deadline:
                time.sleep(0.05)
            assert shop.fake.misbehaved, "the push never reached the fake"
            running = shop.cli("push-status", "cdon")     # never waits for the push's lock
            assert running.exit_code == 0, running.output
            assert "a push is running, since" in running.stdout
            assert "requests 1 so far" in running.stdout
            page = status_page(shop, monkeypatch)
            assert ">running</span>" in page
            monkeypatch.undo()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        status = shop.cli("push-status", "cdon")
        assert status.exit_code == 0
        assert "INTERRUPTED, it never recorded its end (it had sent requests 1); the next " \
               "push looks up what it left pending" in status.stdout
        assert "last push ok" not in status.stdout
        assert ">interrupted</span>" in status_page(shop, monkeypatch)
        monkeypatch.undo()
        # push-status asked CDON about the 30 SKUs left pending: none exists, so they
        # were forgotten, and the next push creates them.
        assert "cdon: nothing pushed yet" in status.stdout
        shop.fake.calm()
        assert shop.push().actions == {"create": 30} and len(shop.fake.articles) == 30


def test_push_status_reads_while_a_push_holds_its_lock_and_a_write(tmp_path):
    """Before: push-status refused to read while a push ran. Now it reads the ledger as
    it stands (WAL) and asks the marketplace nothing."""
    with market(tmp_path, "cdon") as shop:
        shop.push()
        path = shop.data / "state" / "ledger.sqlite3"
        writer = sqlite3.connect(path, isolation_level=None)
        with held(Layout(shop.data), push_lock("cdon")):
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE skus SET quantity = 1 WHERE channel = 'cdon'")
            try:
                before = len(shop.fake.requests)
                status = shop.cli("push-status", "cdon")
            finally:
                writer.execute("ROLLBACK")
                writer.close()
        assert status.exit_code == 0, status.output
        assert status.stdout.startswith("cdon: 30 live\n")
        assert "a push is running" in status.stdout
        assert len(shop.fake.requests) == before


# ---------------------------------------------------------------- 9. the smaller ones


def test_a_locked_ledger_is_one_line(tmp_path):
    with market(tmp_path, "cdon") as shop:
        path = shop.data / "state" / "ledger.sqlite3"
        SqliteLedger(path).entries("cdon")  # the file exists
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError) as caught:
                deliver.push(shop.cfg(), "cdon", env=shop.env, sleep=Sleeps(),
                             ledger=SqliteLedger(path, timeout=0.2))
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert "database is locked (another process is writing it" in str(caught.value)
        assert "\n" not in str(caught.value)


def test_a_bad_stored_value_is_one_line(tmp_path):
    with market(tmp_path, "cdon") as shop:
        shop.push()
        with contextlib.closing(sqlite3.connect(shop.data / "state" / "ledger.sqlite3")) as db, \
                db:
            db.execute("UPDATE skus SET state = 'bogus' WHERE sku = '1001'")
        for args in (("push", "cdon"), ("push-status", "cdon")):
            result = shop.cli(*args)
            assert result.exit_code == 1
            (line,) = result.stderr.splitlines()
            assert line.startswith("error: the push ledger ") and "bad value for cdon SKU " \
                "'1001' ('bogus' is not a valid SkuState)" in line


def test_a_closed_pipe_is_not_an_unexpected_error(tmp_path):
    with market(tmp_path, "cdon") as shop:
        child = subprocess.Popen([sys.executable, "-m", "feeds", "--config", str(shop.config),
                                  "push", "cdon"], env=_subprocess_env(shop),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None
        child.stdout.close()  # `push cdon | head -0`
        _, err = child.communicate(timeout=60)
        text = err.decode()
        assert "unexpected" not in text and "Traceback" not in text, text
        assert child.returncode == 0, text
        assert len(shop.fake.articles) == 30   # the push went on
        assert text == ""  # quietly


def test_an_lwa_refusal_leaves_nothing_pending(tmp_path):
    with market(tmp_path, "amazon") as shop:
        env = {**shop.env, "AMAZON_LWA_REFRESH_TOKEN": "Atzr|not-the-right-one"}
        with pytest.raises(ConfigError, match="Amazon LWA token: refused"):
            deliver.push(shop.cfg(), "amazon", env=env, now=NOW, sleep=Sleeps())
        assert shop.ledger() == {}
        run = deliver.ledger_of(shop.cfg()).last_run("amazon")
        assert run is not None and run.ended and not run.ok


def test_a_push_is_recorded_as_running_before_its_first_request(tmp_path):
    with market(tmp_path, "cdon") as shop:
        seen: list[Any] = []
        ledger = deliver.ledger_of(shop.cfg())
        shop.fake.misbehave("hang", FIRST_CALL["cdon"], delay=0.5, times=1)

        def look() -> None:
            while not shop.fake.misbehaved:
                time.sleep(0.01)
            seen.append(ledger.last_run("cdon"))

        watcher = threading.Thread(target=look)
        watcher.start()
        report = shop.push()
        watcher.join()
        assert report.actions == {"create": 30}
        (during,) = seen
        assert during is not None and not during.ended and during.counts == {"requests": 1}
        after = ledger.last_run("cdon")
        assert after is not None and after.ended and after.ok
