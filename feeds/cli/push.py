"""`push` and `push-status`: a pushed channel's published file, sent to its marketplace."""

from __future__ import annotations

import click

from feeds.cli.app import App, pass_app

__all__ = ["push", "push_status"]


@click.command()
@click.argument("channel")
@click.option("--dry-run", is_flag=True,
              help="Show what would be created, updated, paused or deleted; send nothing.")
@click.option("--force", is_flag=True,
              help="Send it even when it would remove more than max_removal_percent of the "
                   "articles for sale.")
@pass_app
def push(app: App, channel: str, dry_run: bool, force: bool) -> None:
    """Send CHANNEL's last published payload to its marketplace (only what changed)."""
    from feeds.pipeline import deliver

    cfg = app.load()
    report = deliver.push(cfg, channel, dry_run=dry_run, force=force, echo=app.echo)
    app.echo(report.summary())
    for sku, why in sorted(report.left_out.items())[:20]:
        app.echo(f"  dropped {sku}: {why}")
    for sku, why in sorted(report.rejected.items())[:20]:
        app.echo(f"  rejected {sku}: {why}")


@click.command("push-status")
@click.argument("channel")
@pass_app
def push_status(app: App, channel: str) -> None:
    """What CHANNEL's marketplace accepted and rejected, per SKU, with its own messages."""
    from feeds.pipeline import deliver

    cfg = app.load()
    for line in deliver.check_status(cfg, channel).lines():
        app.echo(line)
