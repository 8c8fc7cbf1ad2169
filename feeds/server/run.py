"""Running the feed server (waitress) and the schedule, and the feed URLs to paste.

The commands (`serve`, `worker`, `refresh`, `urls`) live in `feeds.cli.server`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import click

from feeds.channels import get_channel
from feeds.config import Config, require
from feeds.errors import ConfigError, FeedsError, NotFound
from feeds.server.schedule import RefreshJob, Scheduler
from feeds.storage.layout import Layout, PublishedFeed

__all__ = ["feed_urls", "run_server", "run_worker"]

log = logging.getLogger("feeds.server")


def _base_url(cfg: Config, host: str | None = None, port: int | None = None) -> str:
    if cfg.server.public_url:
        return cfg.server.public_url.rstrip("/")
    return f"http://{host or cfg.server.host}:{port or cfg.server.port}"


def feed_urls(cfg: Config) -> list[str]:
    """`status page: URL` and one `<file>: URL` line per published feed."""
    key = require(cfg.server.access_key, "server.access_key",
                  "run `vendre-feeds init` to generate one, or set VENDRE_FEEDS_ACCESS_KEY")
    base, quoted = _base_url(cfg), quote(key, safe="")
    lines = [f"status page: {base}/?key={quoted}"]
    published = Layout(cfg.data_dir).published()
    lines += [f"{f.file}: {base}/feeds/{quoted}/{quote(f.file)}{_pushed_note(f)}"
              for f in published]
    if not published:
        lines.append("no feed is published yet (run `vendre-feeds refresh`)")
    return lines


def _pushed_note(feed: PublishedFeed) -> str:
    """A marketplace payload is pushed, never fetched: its URL is for looking at it."""
    try:
        pushed = get_channel(feed.kind or feed.channel).delivery is not None
    except NotFound:
        return ""
    return f"  (pushed with `vendre-feeds push {feed.channel}`; this URL is for inspection)" \
        if pushed else ""


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Make SIGTERM stop the process like Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _scheduler(cfg: Config, job: RefreshJob | None) -> Scheduler | None:
    return Scheduler(cfg, job) if cfg.schedule.every_minutes > 0 else None


def run_server(cfg: Config, host: str, port: int, *, schedule: bool = True,
               job: RefreshJob | None = None, echo: Callable[[str], None] = click.echo) -> None:
    """Serve `create_app(cfg)` with waitress until Ctrl-C / SIGTERM, with the schedule.

    ConfigError (before listening) when `[server] access_key` is empty.
    """
    import waitress

    from feeds.server.factory import create_app

    app = create_app(cfg)
    try:
        server = waitress.create_server(app, host=host, port=port, threads=cfg.server.threads,
                                        ident="vendre-feeds")
    except OSError as exc:
        raise FeedsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    scheduler = _scheduler(cfg, job) if schedule else None
    every = f"every {cfg.schedule.every_minutes} min" if scheduler else "no schedule"
    echo(f"serving on http://{host}:{server.effective_port} ({every}); "
         "`vendre-feeds urls` prints the feed URLs")
    with _sigterm_interrupts():
        if scheduler:
            scheduler.start()
        try:
            server.run()  # returns after KeyboardInterrupt (waitress catches it)
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            if scheduler and not scheduler.stop(timeout=5):
                log.warning("a refresh was still running at shutdown; it was abandoned "
                            "(the last good feeds stay published)")
    echo("stopped")


def run_worker(cfg: Config, *, job: RefreshJob | None = None,
               echo: Callable[[str], None] = click.echo) -> None:
    """Run only the schedule, in the foreground, until Ctrl-C / SIGTERM."""
    scheduler = _scheduler(cfg, job)
    if scheduler is None:
        raise ConfigError("schedule.every_minutes: is 0, so a worker has nothing to do")
    echo(f"refreshing every {cfg.schedule.every_minutes} min on {cfg.data_dir}")
    with _sigterm_interrupts():
        try:
            scheduler.run_forever()
        except KeyboardInterrupt:
            pass
        finally:
            scheduler.stop(timeout=0)
    echo("stopped")
