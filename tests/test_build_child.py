"""The build's two-process path (feeds.pipeline.producer): same output, and failures that travel.

The pass (every product derived once, mapped and checked for every file) runs in
a child while this process renders. The demo shop is far below
`CHILD_MIN_PRODUCTS`, so these tests lower it to 0. The
child is a fresh interpreter (spawn): it sees none of this process's monkeypatches,
only the work function it is given, which it imports by name from this module.
"""

from __future__ import annotations

import dataclasses
import gzip
import multiprocessing
import os
import signal

import pytest

import feeds.pipeline.run as build_module
from feeds.errors import BuildError
from feeds.pipeline.producer import produced
from feeds.pipeline.run import build_feeds
from tests.conftest import NOW
from tests.feedkit import demo_cfg, fill
from tests.goldens import assert_golden

FILES = {"google": "google.xml", "google-no": "google-no.xml", "meta": "meta.xml",
         "criteo": "criteo.xml", "cdon": "cdon.json", "fyndiq": "fyndiq.json",
         "amazon": "amazon.json", "afound": "afound.csv"}
STEMS = tuple(FILES)


@pytest.fixture
def in_child(monkeypatch):
    """Every feed's products are checked in a child process."""
    monkeypatch.setattr(build_module, "CHILD_MIN_PRODUCTS", 0)


def build(cfg, *codes, **kw):
    return {r.stem: r for r in build_feeds(cfg, codes=codes, now=NOW, **kw)}


def outputs(cfg):
    """Every feed (the .gz unpacked: its header holds a time) and every report."""
    data = cfg.data_dir
    found = {}
    for stem, file in FILES.items():
        found[f"feeds/{file}"] = (data / "feeds" / file).read_bytes()
        found[f"feeds/{file}.gz"] = gzip.decompress((data / "feeds" / f"{file}.gz").read_bytes())
        found[f"reports/{stem}.json"] = (data / "reports" / f"{stem}.json").read_bytes()
    return found


def leftovers(cfg):
    return sorted(p.name for folder in ("feeds", "reports") if (cfg.data_dir / folder).is_dir()
                  for p in (cfg.data_dir / folder).iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- same output


def test_child_builds_the_same_feeds_reports_and_counts(tmp_path, monkeypatch):
    here = demo_cfg(tmp_path / "here")
    fill(here, NOW)
    alone = build(here, keep_first=3)
    monkeypatch.setattr(build_module, "CHILD_MIN_PRODUCTS", 0)
    started, real = [], build_module.produced
    monkeypatch.setattr(build_module, "produced",
                        lambda work, job, *shared: started.append([f.stem for f in job.feeds])
                        or real(work, job, *shared))
    there = demo_cfg(tmp_path / "there")
    fill(there, NOW)
    split = build(there, keep_first=3)
    assert started == [["afound", "amazon", "cdon", "criteo", "fyndiq", "google", "google-no",
                        "meta"]]  # one pass
    assert outputs(there) == outputs(here)
    for stem in STEMS:
        assert split[stem].published and split[stem].reason == ""
        assert split[stem].counts == alone[stem].counts
        assert split[stem].first_violations == alone[stem].first_violations
        assert_golden(f"feeds/{FILES[stem]}",
                      (there.data_dir / "feeds" / FILES[stem]).read_text())
    assert split["google"].counts.dropped == 2 and split["google"].counts.errors
    assert leftovers(there) == [] and multiprocessing.active_children() == []


def test_many_batches_keep_the_order(tmp_path, in_child, monkeypatch):
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build(cfg, "google")
    whole = (cfg.data_dir / "feeds" / "google.xml").read_bytes()
    report = (cfg.data_dir / "reports" / "google.json").read_bytes()
    monkeypatch.setattr(build_module, "_produce", in_small_batches)
    assert build(cfg, "google")["google"].published
    assert (cfg.data_dir / "feeds" / "google.xml").read_bytes() == whole
    assert (cfg.data_dir / "reports" / "google.json").read_bytes() == report


# ---------------------------------------------------------------- failures


@pytest.fixture
def published(tmp_path, in_child):
    """A demo config whose google feed is published; its bytes before the next build."""
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    build(cfg, "google")
    return cfg, (cfg.data_dir / "feeds" / "google.xml").read_bytes()


def still_the_old_feed(cfg, before):
    assert (cfg.data_dir / "feeds" / "google.xml").read_bytes() == before
    assert leftovers(cfg) == []
    assert multiprocessing.active_children() == []
    return True


def test_killed_child_leaves_the_old_feed(published, monkeypatch):
    cfg, before = published
    monkeypatch.setattr(build_module, "_produce", killed_midway)
    result = build(cfg, "google")["google"]
    assert not result.published
    assert "producer process ended without a result" in result.reason
    assert f"exit code {-signal.SIGKILL}" in result.reason
    assert still_the_old_feed(cfg, before)


def test_interrupted_child_leaves_the_old_feed(published, monkeypatch):
    cfg, before = published
    monkeypatch.setattr(build_module, "_produce", interrupted_midway)
    with pytest.raises(KeyboardInterrupt):
        build(cfg, "google")
    assert still_the_old_feed(cfg, before)


def test_interrupted_parent_ends_the_child(published, monkeypatch):
    cfg, before = published
    made = {"n": 0}
    real = build_module.merge

    def dies_midway(parts):  # in this process: the child has its own, unpatched merge
        made["n"] += 1
        if made["n"] == 3:
            raise KeyboardInterrupt
        return real(parts)

    monkeypatch.setattr(build_module, "_produce", in_small_batches)
    monkeypatch.setattr(build_module, "merge", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        build(cfg, "google")
    assert still_the_old_feed(cfg, before)


def test_feeds_error_in_the_child_is_the_reason(published, monkeypatch):
    cfg, before = published
    monkeypatch.setattr(build_module, "_produce", fails_with_build_error)
    result = build(cfg, "google")["google"]
    assert not result.published and result.reason == "the shop is closed"
    assert still_the_old_feed(cfg, before)


def test_a_bug_in_the_child_is_raised_here_with_its_traceback(published, monkeypatch):
    cfg, before = published
    monkeypatch.setattr(build_module, "_produce", has_a_bug)
    with pytest.raises(ZeroDivisionError) as raised:
        build(cfg, "google")
    assert "raised in the producer process" in raised.value.__notes__[0]
    assert "has_a_bug" in raised.value.__notes__[0]
    assert still_the_old_feed(cfg, before)


def test_a_child_that_dies_before_its_first_batch_is_replaced_by_this_process(
        tmp_path, in_child, monkeypatch, caplog):
    """E.g. a script without a `__main__` guard: its child cannot even start under spawn."""
    here = demo_cfg(tmp_path / "here")
    fill(here, NOW)
    build(here)
    monkeypatch.setattr(build_module, "_produce", dies_at_once)
    there = demo_cfg(tmp_path / "there")
    fill(there, NOW)
    results = build(there)
    assert all(r.published for r in results.values())
    assert outputs(there) == outputs(here)
    assert "building in this process" in caplog.text
    assert multiprocessing.active_children() == []


def test_no_child_on_one_core_or_for_a_channel_the_child_cannot_find(tmp_path, in_child,
                                                                     monkeypatch):
    from feeds import channels
    from feeds.channels import google

    started = []
    monkeypatch.setattr(build_module, "produced", lambda *a: started.append(a) or iter(()))
    cfg = demo_cfg(tmp_path)
    fill(cfg, NOW)
    monkeypatch.setattr(build_module.os, "cpu_count", lambda: 1)
    assert build(cfg, "google")["google"].published
    monkeypatch.setattr(build_module.os, "cpu_count", lambda: 2)
    twin = dataclasses.replace(google.CHANNEL)  # registered here only: a child lacks it
    channels.register(twin)
    try:
        assert build(cfg, "google")["google"].published
    finally:
        channels.unregister("google")
    assert started == []


def test_an_exception_that_cannot_travel_becomes_a_build_error():
    with pytest.raises(BuildError) as raised:
        list(produced(raises_odd, None))
    assert str(raised.value) == "odd 1 2"
    assert "OddError" in raised.value.__notes__[0]


def test_produced_yields_in_order_and_ends_the_child_when_closed():
    assert list(produced(counts_to, 5)) == [0, 1, 2, 3, 4]
    endless = produced(counts_to, 10**9)
    assert next(endless) == 0
    endless.close()
    assert multiprocessing.active_children() == []


# ---------------------------------------------------------------- work run in the child


def in_small_batches(job, send, claims):
    build_module._produce(job, send, claims, block_products=2)


def _after_one_batch(job, send, claims, then):
    sent = {"n": 0}

    def send_then(batch):
        send(batch)
        sent["n"] += 1
        if sent["n"] == 4:  # the rows and the result of two blocks
            then()

    build_module._produce(job, send_then, claims, block_products=2)


def dies_at_once(job, send, claims):
    os._exit(3)


def killed_midway(job, send, claims):
    _after_one_batch(job, send, claims, lambda: os.kill(os.getpid(), signal.SIGKILL))


def interrupted_midway(job, send, claims):
    def interrupt():
        raise KeyboardInterrupt

    _after_one_batch(job, send, claims, interrupt)


def fails_with_build_error(job, send, claims):
    def fail():
        raise BuildError("the shop is closed")

    _after_one_batch(job, send, claims, fail)


def has_a_bug(job, send, claims):
    _after_one_batch(job, send, claims, lambda: 1 / 0)


class OddError(Exception):
    def __init__(self, a, b):
        super().__init__(f"odd {a} {b}")


def raises_odd(_job, send):
    raise OddError(1, 2)


def counts_to(n, send):
    for i in range(n):
        send(i)
