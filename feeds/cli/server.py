"""`serve`, `worker`, `refresh` and `urls`: the feed server and the schedule."""

from __future__ import annotations

from typing import Any

import click

from feeds.cli.app import App, pass_app

__all__ = ["refresh", "serve", "urls", "worker"]


@click.command()
@click.option("--host", default=None, help="Interface (default: [server] host).")
@click.option("--port", default=None, type=int, help="Port (default: [server] port).")
@pass_app
def serve(app: App, host: str | None, port: int | None) -> None:
    """Serve the feeds and the status page (and refresh them on the schedule)."""
    from feeds.server.run import run_server

    cfg = app.load(warn=True)
    run_server(cfg, host or cfg.server.host, port or cfg.server.port, echo=app.echo)


@click.command()
@pass_app
def worker(app: App) -> None:
    """Only refresh on the schedule (for deployments with several web workers)."""
    from feeds.server.run import run_worker

    run_worker(app.load(), echo=app.echo)


@click.command()
@pass_app
def refresh(app: App) -> None:
    """Sync and build once, under the refresh lock (for cron)."""
    from feeds.server.schedule import run_refresh_once

    # The failure is raised to the CLI, which prints it once; no log line as well.
    outcome = run_refresh_once(app.load(), log_failure=False)
    if not outcome.ok and outcome.exc is not None:
        raise outcome.exc
    app.echo("refresh done" + (f": {_summary_line(outcome.summary)}"
                               if outcome.summary else ""))


@click.command()
@pass_app
def urls(app: App) -> None:
    """Print the feed URLs and the status page URL (they contain the access key)."""
    from feeds.server.run import feed_urls

    cfg = app.load()
    # click.echo, not app.echo: app.echo masks the key, and here the user asked for it.
    for line in feed_urls(cfg):
        click.echo(line)


def _summary_line(summary: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in summary.items())
