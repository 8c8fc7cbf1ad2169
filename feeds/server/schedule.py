"""Background sync + build: one refresh at a time per data dir, on an interval.

A refresh is an injected callable `job(cfg) -> summary` (the real one is
`feeds.jobs.refresh.run_refresh`, imported lazily). Whoever runs it — the
scheduler thread of `serve`, a `worker` process or `vendre-feeds refresh` from
cron — first takes the refresh lock (`feeds.storage.lock.REFRESH`) with a non-blocking `flock`, so
two processes on one data dir never overlap, and a crashed process never
leaves the lock held (the kernel drops it with the descriptor).

Every run writes `Layout.refresh_state`: when it starts (finished_at null) and
when it ends, with ok / error / summary. The job publishes feeds atomically
itself, so a failed run leaves the last good feeds in place; here a failure is
only recorded (and shown by the status page and /health).

With `[publish] target` set, a run also uploads (`feeds.server.upload`): what the job
published, even when it failed later on, then the static status page once the
outcome is recorded, so that the page shows it. A failed upload fails the run in
one line, like a failed job.

When a run is due is decided from that shared state (the last run's start +
interval), not from this process's memory: a restart does not re-run early,
and two schedulers on one data dir do not run back to back.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from feeds.config import Config
from feeds.errors import FeedsError, LockBusy
from feeds.log import add_secret, mask
from feeds.storage import refresh_state
from feeds.storage.layout import Layout
from feeds.storage.lock import REFRESH, held

__all__ = [
    "Outcome",
    "RefreshJob",
    "Scheduler",
    "default_job",
    "one_line",
    "refresh_lock",
    "run_refresh_once",
]

log = logging.getLogger("feeds.server.schedule")

RefreshJob = Callable[[Config], Mapping[str, Any]]
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def default_job(cfg: Config) -> Mapping[str, Any]:
    """The real refresh (sync, then build); imported here so the server loads without it."""
    from feeds.jobs.refresh import run_refresh

    return run_refresh(cfg)


@dataclass(frozen=True)
class Outcome:
    """One finished refresh run. `exc` is the exception of a failed run (not stored)."""

    ok: bool
    started_at: datetime
    finished_at: datetime
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    exc: BaseException | None = field(default=None, compare=False, repr=False)


def refresh_lock(layout: Layout) -> AbstractContextManager[None]:
    """The data dir's refresh lock (an flock that dies with its holder); LockBusy if taken."""
    return held(layout, REFRESH)


def run_refresh_once(cfg: Config, job: RefreshJob | None = None, *,
                     now: Clock = _utcnow, log_failure: bool = True) -> Outcome:
    """Take the refresh lock, run `job` once and record it; LockBusy if a run is going on.

    A failing job never raises here: its error is recorded and returned in the
    Outcome (and logged unless `log_failure` is false, for a caller that reports it).
    """
    layout = Layout(cfg.data_dir)
    with refresh_lock(layout):
        return _run_locked(cfg, job or default_job, layout, now, log_failure)


def _run_locked(cfg: Config, job: RefreshJob, layout: Layout, now: Clock,
                log_failure: bool = True) -> Outcome:
    add_secret(*cfg.secrets())
    started = now()
    refresh_state.write_started(layout, started)
    try:
        summary, error, exc = _jsonable(job(cfg)), "", None
    except Exception as caught:  # any failure of the job is an outcome, not a crash
        summary, error, exc = {}, one_line(caught), caught
        if log_failure:
            _log_failure(caught, error)
    if cfg.publish.target:
        # Whatever the job published locally goes up, even when the job failed later on.
        uploaded, caught = _upload(cfg, "files")
        summary = {**summary, "uploaded": uploaded} if uploaded else summary
        error, exc = _with_failure(error, exc, caught, log_failure)
    finished = now()
    refresh_state.write_finished(layout, started, finished, exc is None, error, summary)
    if cfg.publish.target:
        # After the outcome is recorded, so that the static status page shows it.
        _, caught = _upload(cfg, "status_page")
        if caught is not None:
            error, exc = _with_failure(error, exc, caught, log_failure)
            refresh_state.write_finished(layout, started, finished, False, error, summary)
    if exc is None:
        log.info("refresh done in %.1f s", (finished - started).total_seconds())
    return Outcome(exc is None, started, finished, summary, error, exc)


def _upload(cfg: Config, stage: str) -> tuple[dict[str, int], Exception | None]:
    """One upload stage (`files` or `status_page`, `feeds.server.upload.Uploader`): its
    counts, or the exception that stopped it."""
    from feeds.server.upload import Uploader

    try:
        return getattr(Uploader(cfg), stage)().summary(), None
    except Exception as caught:  # an outcome like the job's, never a crash
        return {}, caught


def _with_failure(error: str, exc: Exception | None, caught: Exception | None,
                  log_failure: bool) -> tuple[str, Exception | None]:
    """The run's error and exception once `caught` (an upload's failure) is added."""
    if caught is None:
        return error, exc
    line = one_line(caught)
    if log_failure:
        _log_failure(caught, line)
    return (f"{error}; {line}" if error else line), exc or caught


def _log_failure(exc: Exception, error: str) -> None:
    """One line for an expected failure (FeedsError); the traceback for anything else."""
    if isinstance(exc, FeedsError):
        log.error("refresh failed: %s", error)
    else:
        log.error("refresh failed: %s\n%s", error,
                  mask("".join(traceback.format_exception(exc))).rstrip())


def one_line(exc: BaseException) -> str:
    """A user-facing one-line message with secrets masked."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, FeedsError):
        text = f"unexpected {type(exc).__name__}" + (f": {text}" if text else "")
    return mask(text)


def _jsonable(summary: Any) -> dict[str, Any]:
    """The job's summary as plain JSON (unknown values become strings)."""
    if not isinstance(summary, Mapping):
        return {"result": mask(str(summary))} if summary is not None else {}
    return json.loads(mask(json.dumps(dict(summary), default=str)))


class Scheduler:
    """Runs the refresh job every `every` in a daemon thread until `stop()`.

    :param every: the interval (default `[schedule] every_minutes`); must be positive.
    :param poll_s: the longest single sleep, so a changed clock or state is noticed.
    """

    def __init__(self, cfg: Config, job: RefreshJob | None = None, *,
                 every: timedelta | None = None, now: Clock = _utcnow,
                 poll_s: float = 30.0) -> None:
        self.cfg = cfg
        self.job = job or default_job
        self.every = every if every is not None else timedelta(minutes=cfg.schedule.every_minutes)
        if self.every <= timedelta(0):
            raise ValueError("the schedule interval must be positive")
        self.layout = Layout(cfg.data_dir)
        self._now = now
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (the first run is due at once unless a recent run is recorded)."""
        if self._thread is not None:
            raise RuntimeError("scheduler already started")
        self._thread = threading.Thread(target=self.run_forever, name="vendre-feeds-schedule",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Ask the loop to end and wait up to `timeout` s; False if a run is still going on."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run_forever(self) -> None:
        """The loop: sleep until due, run once, repeat; returns when `stop()` is called."""
        while not self._stop.is_set():
            wait = self.seconds_until_due()
            if wait > 0:
                self._stop.wait(min(wait, self._poll_s))
                continue
            try:
                self.tick()
            except Exception:  # the loop must survive anything (a full disk, a bug)
                log.error("scheduler error\n%s", mask(traceback.format_exc()).rstrip())
                self._stop.wait(min(self.every.total_seconds(), self._poll_s))

    def seconds_until_due(self) -> float:
        """Seconds until the next run: the last recorded start + interval, from shared state."""
        state = refresh_state.read(self.layout)
        started = state.run.started_at if state is not None else None
        if started is None:
            return 0.0
        now = self._now()
        if started > now + self.every:  # the clock went back: do not wait for ever
            return 0.0
        return max(0.0, (started + self.every - now).total_seconds())

    def tick(self) -> Outcome | None:
        """One run if it is still due once the lock is held; None if skipped."""
        try:
            with refresh_lock(self.layout):
                # Another process may have run while we slept: check again under the lock.
                if self.seconds_until_due() > 0:
                    return None
                return _run_locked(self.cfg, self.job, self.layout, self._now)
        except LockBusy:
            log.info("refresh skipped: another process is running one")
            self._stop.wait(min(self.every.total_seconds(), self._poll_s))
            return None
