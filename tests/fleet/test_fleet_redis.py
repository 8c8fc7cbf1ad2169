"""The fleet's parts on a real redis-server: leases, records, status lines, the handoff,
and the refresh task run in this process (Celery's `apply`)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from feeds.errors import StoreError
from feeds.fleet.celery_app import BEACON, REFRESH, make_celery, queue_name
from feeds.fleet.control import enqueue, status_lines, wait
from feeds.fleet.handoff import ShardHandoff
from feeds.fleet.lease import Lease, lock_key
from feeds.fleet.records import Records, RunState
from feeds.fleet.tasks import register
from tests.conftest import NOW
from tests.fleetkit import FleetDir, demo_api

# A loopback port where nothing listens: a sync against it fails at once, on this machine.
DEAD_API = "http://127.0.0.1:9/API/1"


def test_a_lease_is_exclusive_and_released(redis) -> None:
    first, second = Lease(redis, "acme", 5), Lease(redis, "acme", 5)
    assert first.acquire()
    assert not second.acquire()
    assert redis.get(lock_key("acme")) == first.token
    first.release()
    assert redis.get(lock_key("acme")) is None
    assert second.acquire()
    second.release()


def test_a_lease_is_renewed_while_it_is_held(redis) -> None:
    lease = Lease(redis, "acme", 1)
    assert lease.acquire()
    time.sleep(2.5)  # two and a half leases
    assert redis.get(lock_key("acme")) == lease.token
    assert not lease.lost
    lease.release()
    assert redis.get(lock_key("acme")) is None


def test_a_lost_lease_never_deletes_the_next_holders_lock(redis) -> None:
    lease = Lease(redis, "acme", 1)
    assert lease.acquire()
    redis.set(lock_key("acme"), "someone-else", px=5000)  # it expired; another took it
    time.sleep(1.2)
    assert lease.lost
    lease.release()
    assert redis.get(lock_key("acme")) == "someone-else"


def test_a_killed_holder_leaves_no_stuck_lock(redis, redis_url) -> None:
    """A process SIGKILLed while it holds the lock: the key is gone within one lease."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import redis, sys, time\n"
         "from feeds.fleet.lease import Lease\n"
         f"lease = Lease(redis.Redis.from_url({redis_url!r}), 'acme', 2)\n"
         "assert lease.acquire()\n"
         "print('held', flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        time.sleep(3)  # the holder renewed it past its first lease
        assert redis.exists(lock_key("acme"))
        holder.kill()
        holder.wait()
        killed = time.monotonic()
        while redis.exists(lock_key("acme")) and time.monotonic() - killed < 10:
            time.sleep(0.1)
        assert not redis.exists(lock_key("acme"))
        assert time.monotonic() - killed <= 2.5  # one lease (2 s) and a little
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


# ---------------------------------------------------------------- records and status


def test_running_reads_as_interrupted_once_the_lock_is_gone(redis) -> None:
    records = Records(redis)
    lease = Lease(redis, "acme", 5)
    assert lease.acquire()
    records.started("acme", "t1", shard=1, token=lease.token, worker="w", now=NOW)
    assert records.shops(["acme"])["acme"].state is RunState.RUNNING
    assert records.tasks({"t1": "acme"})["t1"].state is RunState.RUNNING
    redis.delete(lock_key("acme"))  # what an expired lease looks like
    shop = records.shops(["acme"])["acme"]
    assert (shop.state, shop.at, shop.shard) == (RunState.INTERRUPTED, NOW, 1)
    task = records.tasks({"t1": "acme"})["t1"]
    assert task.state is RunState.INTERRUPTED and task.done
    assert task.error == "its worker stopped mid-run (the lock's lease expired)"
    lease.release()


def test_status_lines(fleet_dir: FleetDir, redis) -> None:
    for name in ("acme", "bravo", "cirrus", "delta"):
        fleet_dir.add_shop(name, DEAD_API, "k" * 20)
    fleet = fleet_dir.load()
    records = Records(redis)
    records.finished("acme", "t1", ok=True, error="", feeds=[("google.xml", 30)],
                     now=NOW)
    records.finished("bravo", "t2", ok=False, error="the shop refused the API key (401)",
                     feeds=[("google.xml", 28)], now=NOW + timedelta(minutes=1))
    records.started("cirrus", "t3", shard=0, token="gone", worker="w", now=NOW)
    records.skipped("acme", "t4", reason="skipped", now=NOW)
    redis.rpush(queue_name(1), "x", "y")
    lines = status_lines(fleet, records, redis, now=NOW)
    shard = {n: fleet.shard_of(n, fleet.load_shop(n, reader=True)) for n in
             ("acme", "bravo", "cirrus", "delta")}
    assert lines == [
        f"acme    ok  2026-11-28 12:00:00 UTC  feeds: google.xml 30  shard {shard['acme']}  "
        "skipped 1x while locked",
        "bravo   failed (the shop refused the API key (401))  2026-11-28 12:01:00 UTC  "
        f"feeds: google.xml 28  shard {shard['bravo']}",
        f"cirrus  interrupted  2026-11-28 12:00:00 UTC  no feed published  "
        f"shard {shard['cirrus']}",
        f"delta   never run  shard {shard['delta']}",
        "shard 0: 0 jobs queued",
        "shard 1: 2 jobs queued",
    ]


# ---------------------------------------------------------------- the handoff


def _messages(redis, shard: int) -> list[dict]:
    """The Celery messages waiting in a shard's queue (kombu's JSON envelope)."""
    found = []
    for raw in redis.lrange(queue_name(shard), 0, -1):
        envelope = json.loads(raw)
        args = json.loads(base64.b64decode(envelope["body"]))[0]
        found.append({"task": envelope["headers"]["task"], "args": args,
                      "argsrepr": envelope["headers"]["argsrepr"]})
    return found


def test_a_beacon_is_handed_to_its_shard_and_kept_out_of_logs(fleet_dir: FleetDir,
                                                              redis) -> None:
    app = make_celery(fleet_dir.load())
    handoff = ShardHandoff(app.send_task, "acme", 1)
    handoff.put_beacon("A-100", {"consent": {"ad_storage": True}}, NOW, 500)
    assert _messages(redis, 0) == []
    [message] = _messages(redis, 1)
    assert message["task"] == BEACON
    assert message["args"] == ["acme", 1, "A-100", {"consent": {"ad_storage": True}},
                               NOW.isoformat(), 500]
    assert "A-100" not in message["argsrepr"]


def test_the_handoff_fails_fast_when_redis_is_gone(tmp_path) -> None:
    fleet = FleetDir(tmp_path / "f", "redis://127.0.0.1:9/0")  # the discard port: refused
    handoff = ShardHandoff(make_celery(fleet.load()).send_task, "acme", 0)
    started = time.monotonic()
    with pytest.raises(StoreError, match="the broker did not accept the beacon"):
        handoff.put_beacon("A-1", {}, NOW, 10)
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- the refresh task, here


@pytest.fixture
def local_app(fleet_dir: FleetDir):  # noqa: ANN201
    """The fleet's Celery app with its tasks, for running them in this process."""
    app = make_celery(fleet_dir.load())
    register(app)
    return app


def test_a_refresh_runs_in_this_process_and_records_its_outcome(fleet_dir, local_app, redis,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("ACME_VENDRE_KEY", "acme-key-0123456789")
    with demo_api(datetime.now(UTC), api_key="acme-key-0123456789") as api:
        fleet_dir.add_shop("acme", api.url, "acme-key-0123456789", shard=1)
        state = local_app.tasks[REFRESH].apply(args=["acme", 1, time.time()]).get()
    assert state == "ok"
    record = Records(redis).shops(["acme"])["acme"]
    assert record.state is RunState.OK and record.shard == 1
    assert ("google.xml", 30) in record.feeds
    assert redis.get(lock_key("acme")) is None


def test_a_locked_shop_is_skipped_and_counted(fleet_dir, local_app, redis) -> None:
    fleet_dir.add_shop("acme", DEAD_API, "k" * 20)
    other = Lease(redis, "acme", 5)
    assert other.acquire()
    try:
        # In this process (eager) there is no retry: the second look is the skip.
        state = local_app.tasks[REFRESH].apply(args=["acme", 0, time.time()],
                                               task_id="t-locked").get()
    finally:
        other.release()
    assert state == "skipped"
    assert Records(redis).shops(["acme"])["acme"].skipped == 1
    task = Records(redis).tasks({"t-locked": "acme"})["t-locked"]
    assert task.state is RunState.SKIPPED and "still locked" in task.error


def test_a_shop_of_another_shard_is_refused(fleet_dir, local_app, redis) -> None:
    fleet_dir.add_shop("acme", DEAD_API, "k" * 20, shard=1)
    local_app.vendre_shard = 0
    state = local_app.tasks[REFRESH].apply(args=["acme", 0, time.time()],
                                           task_id="t-wrong").get()
    assert state == "failed"
    task = Records(redis).tasks({"t-wrong": "acme"})["t-wrong"]
    assert task.error == ("it belongs to shard 1 now, and this worker serves shard 0; queue "
                          "it again (`fleet enqueue acme`)")


def test_a_shop_whose_state_is_on_another_shard_is_not_started_afresh(fleet_dir, local_app,
                                                                     redis) -> None:
    fleet_dir.add_shop("acme", DEAD_API, "k" * 20, shard=1)
    redis.hset("vendre-feeds:shop:acme", "shard", 0)  # it last ran on shard 0's machine
    state = local_app.tasks[REFRESH].apply(args=["acme", 1, time.time()],
                                           task_id="t-moved").get()
    assert state == "failed"
    error = Records(redis).tasks({"t-moved": "acme"})["t-moved"].error
    assert error.startswith("its state was kept on shard 0's machine")
    (fleet_dir.state_root / "acme").mkdir(parents=True)  # the operator starts it afresh
    assert local_app.tasks[REFRESH].apply(args=["acme", 1, time.time()]).get() == "failed"
    assert "state was kept" not in Records(redis).raw("acme")["error"]


def test_a_config_error_fails_only_its_job(fleet_dir, local_app, redis) -> None:
    (fleet_dir.shops_dir / "broken.toml").write_text("[shop\n", encoding="utf-8")
    state = local_app.tasks[REFRESH].apply(args=["broken", 0, time.time()],
                                           task_id="t-broken").get()
    assert state == "failed"
    error = Records(redis).tasks({"t-broken": "broken"})["t-broken"].error
    assert error.startswith("shop broken: ") and "not valid TOML" in error


def test_a_job_queued_before_a_finished_run_is_not_run_again(fleet_dir, local_app,
                                                             redis) -> None:
    fleet_dir.add_shop("acme", DEAD_API, "k" * 20)
    queued_at = time.time()
    Records(redis).started("acme", "t0", shard=0, token="x", worker="w",
                           now=datetime.fromtimestamp(queued_at + 1, UTC))
    Records(redis).finished("acme", "t0", ok=True, error="", feeds=[], now=NOW)
    state = local_app.tasks[REFRESH].apply(args=["acme", 0, queued_at],
                                           task_id="t-late").get()
    assert state == "ok"
    assert Records(redis).tasks({"t-late": "acme"})["t-late"].state is RunState.OK


def test_enqueue_sends_each_shop_to_its_shard_and_wait_reads_outcomes(fleet_dir,
                                                                      redis) -> None:
    fleet_dir.add_shop("acme", DEAD_API, "k" * 20, shard=0)
    fleet_dir.add_shop("bravo", DEAD_API, "k" * 20, shard=1)
    (fleet_dir.shops_dir / "broken.toml").write_text("[shop\n", encoding="utf-8")
    fleet = fleet_dir.load()
    queued = enqueue(fleet, make_celery(fleet).send_task, [])
    assert [(q.shop, q.shard, bool(q.task_id)) for q in queued] == [
        ("acme", 0, True), ("bravo", 1, True), ("broken", None, False)]
    assert redis.llen(queue_name(0)) == 1 and redis.llen(queue_name(1)) == 1
    records = Records(redis)
    records.finished("acme", queued[0].task_id, ok=True, error="", feeds=[], now=NOW)
    records.skipped("bravo", queued[1].task_id, reason="still locked", now=NOW)
    results = {r.shop: r for r in wait(records, queued, timeout_s=5, sleep=lambda s: None)}
    assert results["acme"].ok
    assert results["bravo"].state is RunState.SKIPPED
    assert results["broken"].error.startswith("not queued: shop broken:")


def test_wait_gives_up_on_a_job_without_an_outcome(fleet_dir, redis) -> None:
    from feeds.fleet.control import Queued

    clock = iter(range(0, 100, 3))
    results = wait(Records(redis), [Queued("acme", 0, task_id="never")], timeout_s=10,
                   clock=lambda: next(clock), sleep=lambda s: None)
    assert [r.error for r in results] == [
        "no outcome within 10 s (still queued, or lost with its worker before it began)"]


def test_a_data_dir_that_cannot_be_written_fails_only_its_job(fleet_dir, local_app,
                                                              redis) -> None:
    """As a full disk would: the refresh state cannot even be written before the run."""
    fleet_dir.add_shop("acme", DEAD_API, "k" * 20)
    (fleet_dir.state_root / "acme" / "state" / "refresh.json").mkdir(parents=True)
    state = local_app.tasks[REFRESH].apply(args=["acme", 0, time.time()],
                                           task_id="t-disk").get()
    assert state == "failed"
    error = Records(redis).tasks({"t-disk": "acme"})["t-disk"].error
    assert error.startswith("unexpected IsADirectoryError")
    assert redis.get(lock_key("acme")) is None
