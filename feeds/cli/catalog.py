"""`init`, `sync` and `status`: the config file and the local store."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from feeds.cli.app import App, pass_app
from feeds.config import starter_toml
from feeds.errors import FeedsError
from feeds.jobs.status import format_status, sync_line

__all__ = ["init", "status", "sync"]


@click.command()
@click.option("--path", "path", default=None, metavar="PATH",
              help="Where to write (default: the --config path or ./vendre-feeds.toml).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_app
def init(app: App, path: str | None, force: bool) -> None:
    """Write a commented starter config with fresh random keys."""
    target = Path(path or app.config_file or os.environ.get("VENDRE_FEEDS_CONFIG")
                  or "vendre-feeds.toml")
    if target.exists() and not force:
        raise FeedsError(f"{target} exists; use --force to overwrite it")
    # In a fleet the shop's data dir is the fleet's <state_root>/<name>/ unless set.
    target.write_text(starter_toml(in_fleet=app.in_fleet), encoding="utf-8")
    target.chmod(0o600)  # it holds the feed access key
    app.echo(f"wrote {target}: fill in [vendre] api_url and [shop] base_url, then "
             "`export VENDRE_API_KEY=...` and run `vendre-feeds sync`")


@click.command()
@pass_app
def sync(app: App) -> None:
    """Read products, categories and recent orders into the local store."""
    from feeds.demo.run import demo_source
    from feeds.jobs.sync import sync_shop

    cfg = app.load()
    demo = demo_source(cfg)
    if demo is None:
        app.echo(sync_line(sync_shop(cfg, app.progress())))
        return
    app.echo("the demo shop: read from the bundled catalogue, offline")
    app.echo(sync_line(sync_shop(cfg, app.progress(), transport=demo.transport,
                                 api_key=demo.api_key)))


@click.command()
@pass_app
def status(app: App) -> None:
    """What is in the store, when it was synced and built, and what failed."""
    from feeds.purchases.status import status_lines

    cfg = app.load()
    app.echo("\n".join([format_status(cfg, now=datetime.now(UTC)), *status_lines(cfg)]))
