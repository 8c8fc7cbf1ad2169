"""`build`, `validate` and `diff`: the feed files."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from feeds.cli.app import App, pass_app
from feeds.config import Config
from feeds.errors import FeedsError, NotFound
from feeds.jobs.status import format_build

__all__ = ["build", "diff", "upload", "upload_published", "validate"]


@click.command()
@click.argument("channels", nargs=-1)
@click.option("--force", is_flag=True,
              help="Publish even if the guard objects (a feed that fell by more than "
                   "max_drop_percent, or a first publication that is empty or holds fewer "
                   "than half of the sellable products).")
@pass_app
def build(app: App, channels: tuple[str, ...], force: bool) -> None:
    """Build and publish the feeds of CHANNELS (default: every enabled channel), then the
    tracking loader's product index."""
    from feeds.jobs.refresh import IndexNotRebuilt, build_all, index_skipped

    cfg = app.load(warn=True)
    try:
        results = build_all(cfg, codes=channels, force=force, now=datetime.now(UTC),
                            progress=app.progress())
    except IndexNotRebuilt as exc:
        # The feeds are out; their summary first, then the one line of what failed
        # (exit 1, so cron notices that the loader's index is stale).
        app.echo(format_build(exc.results))
        upload_published(app, cfg)
        raise
    app.echo(format_build(results))
    upload_failed = upload_published(app, cfg)
    failed = [r for r in results if not r.ok]
    if failed:
        raise FeedsError(f"{len(failed)} of {len(results)} feeds not published: "
                         + "; ".join(f"{r.stem} ({r.reason.split(';')[0]})" for r in failed)
                         + index_skipped(cfg))
    if upload_failed is not None:
        raise upload_failed


@click.command()
@click.option("--all", "everything", is_flag=True,
              help="Upload every file, changed or not (after changing max_age_s).")
@pass_app
def upload(app: App, everything: bool) -> None:
    """Upload the published files and the status page to [publish] target (only what is
    missing or different there)."""
    from feeds.config import require

    cfg = app.load(warn=True)
    require(cfg.publish.target, "publish.target", "set it to s3://bucket/prefix")
    failed = upload_published(app, cfg, everything=everything)
    if failed is not None:
        raise failed


def upload_published(app: App, cfg: Config, *, everything: bool = False) -> FeedsError | None:
    """After a local publish: upload to `[publish] target` (when set) and say what went
    up; the failure is returned, for the caller to raise after its own."""
    if not cfg.publish.target:  # `feeds.server.upload.publishing`, before loading Flask
        return None
    from feeds.server.upload import Uploader
    try:
        uploader = Uploader(cfg)
        synced = uploader.files(everything=everything)
        uploader.status_page()
    except FeedsError as exc:
        return exc
    app.echo(f"uploaded to {cfg.publish.target}: {len(synced.uploaded)} files changed, "
             f"{synced.unchanged} unchanged, {len(synced.deleted)} deleted, and the status page")
    return None


@click.command()
@click.argument("channels", nargs=-1)
@click.option("--limit", default=20, show_default=True, help="Violations to list per feed.")
@pass_app
def validate(app: App, channels: tuple[str, ...], limit: int) -> None:
    """Build CHANNELS without publishing and show their violations."""
    from feeds.pipeline.run import build_feeds

    cfg = app.load(warn=True)
    results = build_feeds(cfg, codes=channels, publish_feeds=False, progress=app.progress(),
                          keep_first=limit)
    app.echo(format_build(results, violations=True))
    if any(not r.ok for r in results):
        raise FeedsError("some feeds failed their checks")


@click.command()
@click.argument("feed")
@pass_app
def diff(app: App, feed: str) -> None:
    """Show what changed in FEED (e.g. google, google-no) between its last two versions."""
    from feeds.pipeline.diff import diff_latest, format_diff
    from feeds.pipeline.plan import feed_specs
    from feeds.storage.layout import Layout

    cfg = app.load()
    spec = next((s for s in feed_specs(cfg) if s.stem == feed), None)
    if spec is None:
        raise NotFound(f"unknown feed {feed!r}; feeds: "
                       + ", ".join(s.stem for s in feed_specs(cfg)))
    app.echo(format_diff(diff_latest(Layout(cfg.data_dir), feed, spec.channel)))
