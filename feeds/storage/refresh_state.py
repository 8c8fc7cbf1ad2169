"""`<data_dir>/state/refresh.json`: the last scheduled sync + build and its outcome.

One writer (the refresh run, under the refresh lock) and several readers (the
status page, /health, the scheduler deciding when the next run is due). While a
run is going the file says so (`finished_at` null) and keeps the previous
finished run under `last_finished`, which is the outcome the readers report.
`failing_since` is when the first of the failed runs in a row started (null while
the last finished run succeeded).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feeds.storage.layout import Layout, write_json_atomic

__all__ = ["RefreshState", "RunOutcome", "read", "write_finished", "write_started"]


@dataclass(frozen=True)
class RunOutcome:
    """One finished (or, with `finished_at` None, running) refresh."""

    started_at: datetime | None = None
    finished_at: datetime | None = None
    ok: bool | None = None
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at),
                "ok": self.ok, "error": self.error}


@dataclass(frozen=True)
class RefreshState:
    """The state file: the current (or last) run, its summary, the last finished run."""

    run: RunOutcome
    summary: Mapping[str, Any] = field(default_factory=dict)
    last_finished: RunOutcome | None = None
    pid: int | None = None
    failing_since: datetime | None = None

    @property
    def running(self) -> bool:
        return self.run.finished_at is None

    @property
    def shown(self) -> RunOutcome | None:
        """The outcome to report: this run once finished, else the one before it."""
        return self.last_finished if self.running else self.run


def read(layout: Layout) -> RefreshState | None:
    """The state file, or None when it is missing or unreadable."""
    try:
        data = json.loads(layout.refresh_state.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    last = data.get("last_finished")
    summary = data.get("summary")
    pid = data.get("pid")
    return RefreshState(run=_outcome(data),
                        summary=summary if isinstance(summary, dict) else {},
                        last_finished=_outcome(last) if isinstance(last, dict) else None,
                        pid=pid if type(pid) is int else None,
                        failing_since=_time(data.get("failing_since")))


def write_started(layout: Layout, started: datetime) -> None:
    """A run began: keep the last finished outcome for the readers meanwhile."""
    previous = read(layout)
    last = previous.shown if previous is not None else None
    since = previous.failing_since if previous is not None else None
    _write(layout, RunOutcome(started), {}, last, since)


def write_finished(layout: Layout, started: datetime, finished: datetime, ok: bool,
                   error: str, summary: Mapping[str, Any]) -> None:
    previous = read(layout)
    since = None if ok else (previous.failing_since if previous is not None else None) \
        or started
    _write(layout, RunOutcome(started, finished, ok, error), summary, None, since)


def _write(layout: Layout, run: RunOutcome, summary: Mapping[str, Any],
           last: RunOutcome | None, failing_since: datetime | None = None) -> None:
    data = {**run.as_json(), "summary": dict(summary), "pid": os.getpid(),
            "failing_since": _iso(failing_since)}
    if last is not None and last.finished_at is not None:
        data["last_finished"] = last.as_json()
    write_json_atomic(layout.refresh_state, data)


def _outcome(data: Mapping[str, Any]) -> RunOutcome:
    ok = data.get("ok")
    return RunOutcome(_time(data.get("started_at")), _time(data.get("finished_at")),
                      ok if isinstance(ok, bool) else None, str(data.get("error") or ""))


def _time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
