"""`serve`, `worker`, `refresh` and `urls`: the feed server and the schedule.

On the demo shop's config (`vendre-feeds demo` writes one) the refresh reads the
bundled shop, offline; on any other, `serve` (with a schedule) and `worker` check
at start what every refresh needs, and stop with exit 2 on a missing setting,
instead of logging the same error at every interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from feeds.cli.app import App, pass_app
from feeds.config import Config
from feeds.errors import ConfigError

__all__ = ["refresh", "serve", "urls", "worker"]


def _refresh_job(cfg: Config) -> Any:
    """The demo shop's refresh (the bundled transport), or None: the real one."""
    from feeds.demo.run import demo_refresh_job

    return demo_refresh_job(cfg)


def _checked_job(cfg: Config) -> Any:
    """The refresh job, after checking (unless it is the demo's) what every run needs."""
    from feeds.jobs.refresh import check_refresh_settings

    job = _refresh_job(cfg)
    if job is None and cfg.schedule.every_minutes > 0:
        try:
            check_refresh_settings(cfg)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (every scheduled refresh needs it; [schedule] "
                              "every_minutes = 0 serves without refreshing)") from None
    return job


@click.command()
@click.option("--host", default=None, help="Interface (default: [server] host).")
@click.option("--port", default=None, type=int, help="Port (default: [server] port).")
@pass_app
def serve(app: App, host: str | None, port: int | None) -> None:
    """Serve the feeds and the status page (and refresh them on the schedule)."""
    from feeds.server.factory import require_access_key
    from feeds.server.run import run_server

    cfg = app.load(warn=True)
    require_access_key(cfg)
    job = _checked_job(cfg)
    run_server(cfg, host or cfg.server.host, port or cfg.server.port, echo=app.echo, job=job)


@click.command()
@pass_app
def worker(app: App) -> None:
    """Only refresh on the schedule (for deployments with several web workers)."""
    from feeds.server.run import run_worker

    cfg = app.load()
    run_worker(cfg, echo=app.echo, job=_checked_job(cfg))


@click.command()
@pass_app
def refresh(app: App) -> None:
    """Sync and build once, under the refresh lock (for cron)."""
    from feeds.server.schedule import run_refresh_once

    cfg = app.load()
    # The failure is raised to the CLI, which prints it once; no log line as well.
    outcome = run_refresh_once(cfg, _refresh_job(cfg), log_failure=False)
    if not outcome.ok and outcome.exc is not None:
        raise outcome.exc
    app.echo("refresh done" + (f": {_summary_line(outcome.summary)}"
                               if outcome.summary else ""))


@click.command()
@pass_app
def urls(app: App) -> None:
    """Print the status page URL, the ad feeds' URLs with where to paste each, and the
    marketplace payloads' URLs (they contain the access key)."""
    from feeds.server.run import feed_urls

    cfg = app.load()
    # click.echo, not app.echo: app.echo masks the key, and here the user asked for it.
    for line in feed_urls(cfg):
        click.echo(line)


def _summary_line(summary: Mapping[str, Any]) -> str:
    """A refresh's summary in words: what was synced, published and pushed."""
    parts = []
    for key, value in summary.items():
        if key == "sync" and isinstance(value, Mapping):
            parts.append(f"synced {value.get('products', 0)} products, "
                         f"{value.get('categories', 0)} categories, "
                         f"{value.get('orders', 0)} orders")
        elif key == "feeds" and isinstance(value, Mapping):
            parts.append("published " + ", ".join(
                f"{stem} ({feed.get('items', 0)} items)" if isinstance(feed, Mapping)
                else stem for stem, feed in value.items()))
        elif key == "pushed" and isinstance(value, Mapping):
            if value:
                parts.append("pushed: " + "; ".join(map(str, value.values())))
        else:
            parts.append(f"{key}: {value}")
    return "; ".join(parts)
