"""The refresh schedule: interval, one run at a time per data dir, failures recorded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from feeds.cli import main
from feeds.errors import FeedsError, LockBusy
from feeds.server.run import _scheduler
from feeds.server.schedule import (
    Scheduler,
    refresh_lock,
    run_refresh_once,
)
from feeds.storage.layout import write_json_atomic
from feeds.storage.refresh_state import read as read_refresh_state
from tests.conftest import ROOT, make_config
from tests.server.conftest import ACCESS_KEY, feed_xml


class Job:
    """A refresh job that records its runs and the most that ran at once."""

    def __init__(self, seconds: float = 0.0, fail: Exception | None = None) -> None:
        self.seconds, self.fail = seconds, fail
        self.starts: list[float] = []
        self.active = self.most_active = 0
        self._lock = threading.Lock()

    def __call__(self, cfg):
        with self._lock:
            self.starts.append(time.monotonic())
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.seconds)
            if self.fail:
                raise self.fail
            return {"feeds": 3, "items": 120}
        finally:
            with self._lock:
                self.active -= 1


def test_a_run_is_recorded(server_config):
    outcome = run_refresh_once(server_config, Job())
    assert outcome.ok and outcome.summary == {"feeds": 3, "items": 120}
    state = read_refresh_state(_layout(server_config))
    assert state.run.ok is True and state.run.error == "" and state.summary["items"] == 120
    assert state.run.finished_at >= state.run.started_at


def _layout(cfg):
    from feeds.storage.layout import Layout
    return Layout(cfg.data_dir)


def test_a_failure_is_recorded_and_the_old_feeds_stay(server_config, publisher, client):
    publisher.feed("google", feed_xml(5), items=5)
    before = (publisher.layout.feeds / "google.xml").read_bytes()
    outcome = run_refresh_once(server_config, Job(fail=FeedsError("the shop answered 503")))
    assert not outcome.ok and outcome.error == "the shop answered 503"
    assert isinstance(outcome.exc, FeedsError)
    state = read_refresh_state(publisher.layout)
    assert state.run.ok is False and state.run.error == "the shop answered 503"
    assert (publisher.layout.feeds / "google.xml").read_bytes() == before
    assert client.get(f"/feeds/{ACCESS_KEY}/google.xml").data == before
    health = client.get("/health")  # a failed refresh is a failure a monitor must see
    assert health.status_code == 503 and health.get_json()["last_refresh"]["ok"] is False
    assert health.get_json()["failing"] == ["refresh_failed"]
    assert b"the shop answered 503" in client.get(f"/?key={ACCESS_KEY}").data


def test_an_unexpected_error_is_one_line_without_the_key(server_config, caplog):
    outcome = run_refresh_once(server_config, Job(fail=RuntimeError(f"bad {ACCESS_KEY}\nmore")))
    assert outcome.error == "unexpected RuntimeError: bad ***"
    assert ACCESS_KEY not in caplog.text and "Traceback" in caplog.text
    assert ACCESS_KEY not in _layout(server_config).refresh_state.read_text()


def test_a_summary_that_is_not_json_is_stored_as_text(server_config):
    outcome = run_refresh_once(server_config, lambda cfg: {"at": datetime(2026, 1, 1),
                                                           "path": Path("/x")})
    assert outcome.summary == {"at": "2026-01-01 00:00:00", "path": "/x"}


def test_the_lock_refuses_a_second_run(server_config):
    with refresh_lock(_layout(server_config)):
        with pytest.raises(LockBusy):
            run_refresh_once(server_config, Job())
    assert run_refresh_once(server_config, Job()).ok


def test_a_lock_held_by_another_process_and_freed_when_it_dies(server_config):
    lock = _layout(server_config).lock("refresh")
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        job = Job()
        with pytest.raises(LockBusy):
            run_refresh_once(server_config, job)
        assert Scheduler(server_config, job, every=timedelta(hours=1), poll_s=0.01).tick() is None
        assert job.starts == []
    finally:
        holder.kill()  # a crash: no unlock, the kernel releases the lock
        holder.wait()
        holder.stdout.close()
    assert run_refresh_once(server_config, job).ok


def test_runs_on_the_interval(server_config):
    job = Job()
    scheduler = Scheduler(server_config, job, every=timedelta(seconds=0.3), poll_s=0.05)
    scheduler.start()
    time.sleep(1.05)
    assert scheduler.stop(timeout=2)
    assert 3 <= len(job.starts) <= 5  # at 0, 0.3, 0.6, 0.9 s
    gaps = [b - a for a, b in zip(job.starts, job.starts[1:], strict=False)]
    assert all(gap >= 0.25 for gap in gaps), gaps


def test_a_recent_run_is_not_repeated_at_start(server_config):
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    layout = _layout(server_config)
    write_json_atomic(layout.refresh_state, {"started_at": (now - timedelta(minutes=20))
                                             .isoformat(), "finished_at": now.isoformat(),
                                             "ok": True})
    scheduler = Scheduler(server_config, Job(), every=timedelta(hours=1), now=lambda: now)
    assert scheduler.seconds_until_due() == 40 * 60
    assert scheduler.tick() is None
    later = Scheduler(server_config, Job(), every=timedelta(minutes=15), now=lambda: now)
    assert later.seconds_until_due() == 0 and later.tick().ok
    # a clock that went back a day does not stall the schedule
    back = Scheduler(server_config, Job(), every=timedelta(hours=1),
                     now=lambda: now - timedelta(days=1))
    assert back.seconds_until_due() == 0


def test_two_schedulers_on_one_data_dir_never_overlap(server_config):
    job = Job(seconds=0.15)
    schedulers = [Scheduler(server_config, job, every=timedelta(seconds=0.3), poll_s=0.02)
                  for _ in range(2)]
    for scheduler in schedulers:
        scheduler.start()
    time.sleep(1.4)
    assert all(scheduler.stop(timeout=2) for scheduler in schedulers)
    assert job.most_active == 1
    # they share one interval rather than each running on its own
    assert 3 <= len(job.starts) <= 6, len(job.starts)


def test_stop_is_prompt_while_waiting(server_config):
    scheduler = Scheduler(server_config, Job(), every=timedelta(hours=1))
    scheduler.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert scheduler.stop(timeout=5)
    assert time.monotonic() - started < 1


def test_the_loop_survives_a_broken_state_dir(server_config):
    layout = _layout(server_config)
    layout.root.mkdir(parents=True)
    (layout.root / "state").write_text("not a folder")  # refresh_state cannot be written
    job = Job()
    scheduler = Scheduler(server_config, job, every=timedelta(seconds=0.1), poll_s=0.05)
    scheduler.start()
    time.sleep(0.3)
    assert scheduler.stop(timeout=2)
    assert job.starts == []  # nothing ran without its state, and the thread did not die early


def test_zero_minutes_means_no_schedule(tmp_path):
    assert _scheduler(make_config(tmp_path, schedule={"every_minutes": 0}), None) is None
    with pytest.raises(ValueError):
        Scheduler(make_config(tmp_path, schedule={"every_minutes": 0}))


# ---------------------------------------------------------------- commands


def write_config(tmp_path: Path, **server: object) -> Path:
    path = tmp_path / "vendre-feeds.toml"
    lines = [f'data_dir = "{tmp_path / "data"}"', "[shop]", 'base_url = "https://shop.example"',
             "[server]"]
    lines += [f'{k} = {json.dumps(v)}' for k, v in server.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_serve_refuses_without_an_access_key(tmp_path):
    result = run_cli("--config", str(write_config(tmp_path)), "serve")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: server.access_key: missing; run `vendre-feeds init` to generate one, "
        "or set VENDRE_FEEDS_ACCESS_KEY"]


def test_worker_refuses_a_zero_interval(tmp_path):
    path = write_config(tmp_path, access_key=ACCESS_KEY)
    path.write_text(path.read_text() + "[schedule]\nevery_minutes = 0\n")
    result = run_cli("--config", str(path), "worker")
    assert result.exit_code == 2 and "schedule.every_minutes" in result.output


def test_refresh_command(tmp_path, monkeypatch):
    config = str(write_config(tmp_path, access_key=ACCESS_KEY))
    monkeypatch.setattr("feeds.server.schedule.default_job", lambda cfg: {"feeds": 2})
    result = run_cli("--config", config, "refresh")
    assert result.exit_code == 0 and "refresh done: feeds: 2" in result.output

    def failing(cfg):
        raise FeedsError("vendre.api_url: missing")

    monkeypatch.setattr("feeds.server.schedule.default_job", failing)
    result = run_cli("--config", config, "refresh")
    assert result.exit_code == 1
    assert result.output.strip() == "error: vendre.api_url: missing"
    assert read_refresh_state(_layout(make_config(tmp_path))).run.ok is False


def test_urls_command_shows_the_key(tmp_path):
    config = write_config(tmp_path, access_key=ACCESS_KEY, public_url="https://feeds.example")
    from tests.server.conftest import Publisher
    publisher = Publisher(make_config(tmp_path, server={"access_key": ACCESS_KEY}))
    publisher.feed("google", b"<x/>")
    publisher.feed("cdon", b'{"articles": []}', ext="json")
    result = run_cli("--config", str(config), "urls")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        f"status page: https://feeds.example/?key={ACCESS_KEY}",
        "",
        "Ad feeds: paste these URLs",
        f"  google.xml: https://feeds.example/feeds/{ACCESS_KEY}/google.xml",
        '    paste into Merchant Center: Products > Data sources > Add product source > '
        '"Add products from a file" > "Enter a link to your file"',
        "",
        "Marketplace payloads: pushed with `vendre-feeds push NAME`, never fetched; these "
        "URLs are for looking at what is sent",
        f"  cdon.json: https://feeds.example/feeds/{ACCESS_KEY}/cdon.json"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_the_schedule_and_stops_cleanly(tmp_path, stop_signal):
    cfg_path = write_config(tmp_path, access_key=ACCESS_KEY)
    port = _free_port()
    # Ctrl-C's handler as in a terminal: a test run started in the background (`pytest &`
    # from a script) has SIGINT ignored, which its children inherit, and Python keeps.
    script = (
        "import signal\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from feeds.config import load_config\n"
        "from feeds.server.run import run_server\n"
        f"cfg = load_config({str(cfg_path)!r}, env={{}})\n"
        f"run_server(cfg, '127.0.0.1', {port}, job=lambda cfg: {{'feeds': 1}})\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        state_file = tmp_path / "data" / "state" / "refresh.json"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if state_file.exists() and json.loads(state_file.read_text()).get("ok"):
                break
            time.sleep(0.1)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.json()["last_refresh"]["ok"] is True
        proc.send_signal(stop_signal)
        # waitress gives its worker threads up to 5 s and the scheduler up to 5 s more;
        # a loaded CI machine needs headroom beyond that.
        output, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "serving on http://127.0.0.1" in output and output.rstrip().endswith("stopped")
    assert "Traceback" not in output
