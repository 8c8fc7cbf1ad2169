"""`send-purchases`: every order sent once to GA4 and Meta from the server (issue 18)."""

from __future__ import annotations

import click

from feeds.cli.app import App, pass_app
from feeds.errors import FeedsError

__all__ = ["send_purchases"]


@click.command("send-purchases")
@click.option("--dry-run", is_flag=True,
              help="Print what would be sent, one line per order and platform; send nothing.")
@click.option("--validate", is_flag=True,
              help="Send the GA4 payloads to GA4's validation server and print its "
                   "messages; record nothing.")
@pass_app
def send_purchases(app: App, dry_run: bool, validate: bool) -> None:
    """Send the orders not yet sent to GA4 (Measurement Protocol) and Meta (Conversions API)."""
    from feeds.purchases.run import send_purchases as run

    cfg = app.load()
    report = run(cfg, dry_run=dry_run, validate=validate)
    for line in report.lines():
        app.echo(line)
    app.echo(report.summary())
    if not report.ok:
        raise FeedsError("; ".join(f"{p.platform.value}: {p.message}"
                                   for p in report.platforms.values() if p.message))
