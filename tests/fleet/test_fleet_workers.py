"""The fleet with real worker processes on a real redis-server: shops refreshed on their
shards, a refused key that leaves the others green, a worker SIGKILLed mid-refresh, a
locked shop skipped rather than queued behind."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from feeds.fleet.celery_app import make_celery
from feeds.fleet.control import enqueue
from feeds.fleet.lease import Lease, lock_key
from feeds.fleet.records import Records, RunState
from tests.fakes.vendre_api import FakeVendre
from tests.fleetkit import FleetDir, WorkerProcess, demo_api

pytestmark = pytest.mark.slow

SHOPS = {"acme": 0, "bravo": 1, "cirrus": 0}


def _key(name: str) -> str:
    return f"{name}-vendre-key-0123456789"


def _demo_fleet(fleet_dir: FleetDir) -> dict[str, FakeVendre]:
    """Three demo shops, each with its own fake Vendre on loopback, on two shards."""
    now = datetime.now(UTC)
    apis = {name: demo_api(now, api_key=_key(name)).start() for name in SHOPS}
    for name, shard in SHOPS.items():
        fleet_dir.add_shop(name, apis[name].url, _key(name), shard=shard)
    return apis


@pytest.fixture
def apis(fleet_dir: FleetDir):  # noqa: ANN201
    started = _demo_fleet(fleet_dir)
    yield started
    for api in started.values():
        api.stop()


def _start(fleet_dir: FleetDir, workers: list[WorkerProcess], *shards: int) -> None:
    for shard in shards:
        workers.append(WorkerProcess(fleet_dir, shard).start())


def test_three_shops_are_refreshed_on_their_shards(fleet_dir, apis, workers, redis) -> None:
    _start(fleet_dir, workers, 0, 1)
    done = fleet_dir.cli("fleet", "run")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()[:3]) == ["acme: ok", "bravo: ok", "cirrus: ok"]
    assert done.stdout.splitlines()[-1] == "all 3 shops refreshed"
    records = Records(redis).shops(SHOPS)
    for name, shard in SHOPS.items():
        assert (fleet_dir.state_root / name / "feeds" / "google.xml").is_file()
        assert records[name].state is RunState.OK
        assert records[name].shard == shard
        assert records[name].worker.startswith(f"shard{shard}@")  # the shard's own worker
        assert ("google.xml", 30) in records[name].feeds
        assert apis[name].requests and all(r.authorized for r in apis[name].requests)
    status = fleet_dir.cli("fleet", "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["acme", "ok"], ["bravo", "ok"],
                                                        ["cirrus", "ok"]]
    assert lines[0].endswith("shard 0") and lines[1].endswith("shard 1")
    assert lines[3:] == ["shard 0: 0 jobs queued", "shard 1: 0 jobs queued"]


def test_a_shop_with_a_refused_key_leaves_the_others_green(fleet_dir, apis, workers,
                                                           redis) -> None:
    fleet_dir.keys["BRAVO_VENDRE_KEY"] = "a-key-the-shop-refuses-42"
    _start(fleet_dir, workers, 0, 1)
    done = fleet_dir.cli("fleet", "run")
    assert done.returncode == 1
    assert "acme: ok" in done.stdout and "cirrus: ok" in done.stdout
    assert "bravo: failed (the API key was refused (HTTP 401) by " in done.stdout
    assert done.stderr.startswith("error: 1 of 3 shops did not succeed: bravo: failed (the "
                                  "API key was refused (HTTP 401)")
    assert "a-key-the-shop-refuses-42" not in done.stdout + done.stderr
    records = Records(redis).shops(SHOPS)
    assert records["acme"].state is RunState.OK and records["cirrus"].state is RunState.OK
    assert records["bravo"].state is RunState.FAILED
    status = fleet_dir.cli("fleet", "status").stdout.splitlines()
    assert status[1].startswith("bravo   failed (the API key was refused (HTTP 401)")
    for worker in workers:
        assert "a-key-the-shop-refuses-42" not in worker.output()


def test_a_worker_killed_mid_refresh_leaves_no_stuck_lock(fleet_dir, apis, workers,
                                                          redis) -> None:
    """SIGKILL of the whole worker (main and pool processes, as a lost machine) while acme
    syncs: its lock expires within one lease (5 s here), `fleet status` says interrupted,
    and `fleet run acme` on a new worker succeeds."""
    apis["acme"].delay("products", None, 8.0, times=1)  # the sync hangs on its first page
    _start(fleet_dir, workers, 0)
    fleet = fleet_dir.load()
    [queued] = enqueue(fleet, make_celery(fleet).send_task, ["acme"])
    records = Records(redis)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = records.tasks({queued.task_id: "acme"})[queued.task_id]
        if task is not None and task.state is RunState.RUNNING and apis["acme"].max_in_flight:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the refresh did not start")
    assert redis.exists(lock_key("acme"))
    workers[0].kill()
    killed = time.monotonic()
    while redis.exists(lock_key("acme")) and time.monotonic() - killed < 15:
        time.sleep(0.1)
    assert not redis.exists(lock_key("acme")), "the dead worker's lock is stuck"
    assert time.monotonic() - killed <= 6.5  # one lease and a little
    assert records.tasks({queued.task_id: "acme"})[queued.task_id].state \
        is RunState.INTERRUPTED
    status = fleet_dir.cli("fleet", "status").stdout.splitlines()
    assert status[0].split()[:2] == ["acme", "interrupted"]

    apis["acme"].reset()
    _start(fleet_dir, workers, 0)
    done = fleet_dir.cli("fleet", "run", "acme")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["acme: ok", "all 1 shop refreshed"]
    assert fleet_dir.cli("fleet", "status").stdout.splitlines()[0].split()[:2] == ["acme", "ok"]


def test_a_locked_shop_waits_one_lease_then_is_skipped_not_queued(fleet_dir, apis, workers,
                                                                  redis) -> None:
    _start(fleet_dir, workers, 0)
    other = Lease(redis, "acme", 5)  # another worker's run, as far as the job can tell
    assert other.acquire()
    try:
        started = time.monotonic()
        done = fleet_dir.cli("fleet", "run", "acme")
        took = time.monotonic() - started
    finally:
        other.release()
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "acme: skipped (still locked after waiting 5 s (another worker is refreshing it))"]
    assert done.stderr == ("error: 1 of 1 shop did not succeed: acme: skipped (still locked "
                           "after waiting 5 s (another worker is refreshing it))\n")
    assert took >= 5  # it waited one lease before its second look
    assert redis.llen("vendre-feeds.shard-0") == 0  # nothing left queued behind the run
    assert Records(redis).shops(["acme"])["acme"].skipped == 1
    assert fleet_dir.cli("fleet", "run", "acme").returncode == 0


def test_three_shops_publish_to_object_storage_each_under_its_name(fleet_dir, apis, workers,
                                                                    redis, s3) -> None:
    """The fleet's [publish] goes to every shop with `<name>/` appended: each shop's feeds,
    loader, index and static status page are on the S3 API (moto's, on loopback), and a
    second round with nothing changed puts only the status pages."""
    from tests.conftest import BUCKET
    from tests.fleetkit import toml_text

    fleet_dir.file.write_text(fleet_dir.file.read_text("utf-8") + toml_text({"publish": {
        "target": f"s3://{BUCKET}/shops", "endpoint_url": s3.endpoint_url,
        "region": "eu-north-1", "public_url": "https://cdn.example/shops"}}), "utf-8")
    _start(fleet_dir, workers, 0, 1)
    done = fleet_dir.cli("fleet", "run")
    assert done.returncode == 0, done.stderr
    s3.wait_quiet()
    client = s3.client()
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="shops/")
    keys = {o["Key"] for o in listed.get("Contents", [])}
    for name in SHOPS:
        access, site = f"{name}-access-key-0123456789", f"{name}-site"
        for key in (f"feeds/{access}/google.xml", f"feeds/{access}/meta.xml",
                    f"t/{site}/loader.js", f"status/{access}/index.html"):
            assert f"shops/{name}/{key}" in keys, key
        assert any(k.startswith(f"shops/{name}/t/{site}/index/") for k in keys)
        # The shop's own CDN address (the fleet's public_url with its name) is what its
        # static status page names for its feeds.
        page = client.get_object(Bucket=BUCKET, Key=f"shops/{name}/status/{access}/index.html")
        assert (f"https://cdn.example/shops/{name}/feeds/{access}/google.xml"
                in page["Body"].read().decode())
    s3.clear()
    assert fleet_dir.cli("fleet", "run").returncode == 0
    s3.wait_quiet()
    assert sorted(p.split("/status/")[0] for p in s3.puts()) == sorted(
        f"/{BUCKET}/shops/{name}" for name in SHOPS)  # one status page per shop, nothing else
