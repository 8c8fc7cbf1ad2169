"""The `vendre-feeds` command line.

This is one of the two places (with the HTTP server) where exceptions become
messages: a `FeedsError` is printed as one line (secrets masked) and the
process exits with the error's code (2 for configuration errors, 1 otherwise).
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from feeds import log as feeds_log
from feeds.config import Config, load_config, starter_toml
from feeds.errors import FeedsError, NotFound
from feeds.progress import make_progress
from feeds.status import format_status

__all__ = ["main"]

log = logging.getLogger("feeds.cli")


class _App:
    """What every command shares: where the config is and how loud to be."""

    def __init__(self, config: str | None, verbosity: int) -> None:
        self.config_file = config
        self.verbosity = verbosity

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    def load(self, **overrides: Any) -> Config:
        cfg = load_config(self.config_file, overrides=overrides or None)
        feeds_log.add_secret(*cfg.secrets())
        return cfg

    def echo(self, text: str = "") -> None:
        if not self.quiet:
            click.echo(feeds_log.mask(text))

    def progress(self):  # noqa: ANN201 - a feeds.progress.Progress
        return make_progress(quiet=self.quiet, echo=self.echo)


class _Group(click.Group):
    """Translates FeedsError (and anything unexpected) into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FeedsError as exc:
            click.echo(f"error: {feeds_log.mask(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was published or replaced", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: one line, the traceback only with -v
            verbose = ctx.obj is not None and ctx.obj.verbosity > 0
            if verbose:
                log.exception("unexpected error")
            hint = "" if verbose else " (run with -v for the traceback)"
            click.echo(f"error: unexpected {type(exc).__name__}: "
                       f"{feeds_log.mask(str(exc))}{hint}", err=True)
            sys.exit(1)


pass_app = click.make_pass_decorator(_App)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", metavar="PATH",
              help="Config file (default: $VENDRE_FEEDS_CONFIG, else ./vendre-feeds.toml).")
@click.option("-v", "--verbose", count=True, help="More detail (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(package_name="vendre-feeds")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: int, quiet: bool) -> None:
    """Feeds and tracking for Vendre webshops."""
    verbosity = -1 if quiet else verbose
    feeds_log.setup_logging(verbosity)
    ctx.obj = _App(config, verbosity)


@main.command()
@click.option("--path", "path", default=None, metavar="PATH",
              help="Where to write (default: the --config path or ./vendre-feeds.toml).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_app
def init(app: _App, path: str | None, force: bool) -> None:
    """Write a commented starter config with fresh random keys."""
    target = Path(path or app.config_file or os.environ.get("VENDRE_FEEDS_CONFIG")
                  or "vendre-feeds.toml")
    if target.exists() and not force:
        raise FeedsError(f"{target} exists; use --force to overwrite it")
    target.write_text(starter_toml(), encoding="utf-8")
    target.chmod(0o600)  # it holds the feed access key
    app.echo(f"wrote {target}: fill in [vendre] api_url and [shop] base_url, then "
             "`export VENDRE_API_KEY=...` and run `vendre-feeds sync`")


@main.command()
@pass_app
def sync(app: _App) -> None:
    """Read products, categories and recent orders into the local store."""
    cfg = app.load()
    record = sync_shop(app, cfg)
    app.echo(_sync_line(record))


def sync_shop(app: _App, cfg: Config, *, transport: Any = None, api_key: str | None = None,
              now: datetime | None = None):  # noqa: ANN201 - a SyncRecord
    """Run one sync with this command's progress display."""
    from feeds.sync import sync_shop as run

    return run(cfg, app.progress(), transport=transport, api_key=api_key, now=now)


def _sync_line(record: Any) -> str:
    line = (f"synced {record.products} products, {record.categories} categories, "
            f"{record.orders} orders ({record.added} added, {record.removed} removed, "
            f"{record.changed} changed)")
    for warning in record.warnings:
        line += f"\nwarning: {warning}"
    return line


@main.command()
@pass_app
def status(app: _App) -> None:
    """What is in the store, when it was synced and built, and what failed."""
    cfg = app.load()
    app.echo(format_status(cfg, now=datetime.now(UTC)))


@main.command()
@click.argument("channels", nargs=-1)
@click.option("--force", is_flag=True, help="Publish even if the drop guard objects.")
@pass_app
def build(app: _App, channels: tuple[str, ...], force: bool) -> None:
    """Build and publish the feeds of CHANNELS (default: every enabled channel), then the
    tracking loader's product index."""
    from feeds.refresh import build_all

    cfg = app.load()
    results = build_all(cfg, codes=channels, force=force, now=datetime.now(UTC),
                        progress=app.progress())
    app.echo(format_build(results))
    failed = [r for r in results if not r.ok]
    if failed:
        raise FeedsError(f"{len(failed)} of {len(results)} feeds not published: "
                         + ", ".join(r.stem for r in failed))


@main.command()
@click.argument("channels", nargs=-1)
@click.option("--limit", default=20, show_default=True, help="Violations to list per feed.")
@pass_app
def validate(app: _App, channels: tuple[str, ...], limit: int) -> None:
    """Build CHANNELS without publishing and show their violations."""
    from feeds.build import build_feeds

    cfg = app.load()
    results = build_feeds(cfg, codes=channels, publish_feeds=False, progress=app.progress(),
                          keep_first=limit)
    app.echo(format_build(results, violations=True))
    if any(not r.ok for r in results):
        raise FeedsError("some feeds failed their checks")


def format_build(results, *, violations: bool = False) -> str:  # noqa: ANN001
    """What the per-feed progress lines (items written) do not say: per feed, items
    dropped by rule, warnings by kind, products left out, and why a feed was refused."""
    lines = []
    for r in results:
        c = r.counts
        parts = [f"{c.products} products read"]
        for label, counter in (("dropped", c.errors), ("warnings", c.warnings),
                               ("not for sale or filtered", c.excluded)):
            if counter:
                kinds = ", ".join(f"{kind} {n}" for kind, n in counter.most_common())
                parts.append(f"{label} {sum(counter.values())} ({kinds})")
        lines.append(f"{r.stem}: " + "; ".join(parts))
        if r.reason:
            lines.append(f"  NOT PUBLISHED: {r.reason}")
        if violations:
            lines += [f"  {v.severity.value} {v.item_id} {v.field}: {v.message}"
                      for v in r.first_violations]
    return "\n".join(lines)


@main.command()
@click.argument("feed")
@pass_app
def diff(app: _App, feed: str) -> None:
    """Show what changed in FEED (e.g. google, google-no) between its last two versions."""
    from feeds.build import feed_specs
    from feeds.diff import diff_latest, format_diff
    from feeds.layout import Layout

    cfg = app.load()
    spec = next((s for s in feed_specs(cfg) if s.stem == feed), None)
    if spec is None:
        raise NotFound(f"unknown feed {feed!r}; feeds: "
                       + ", ".join(s.stem for s in feed_specs(cfg)))
    app.echo(format_diff(diff_latest(Layout(cfg.data_dir), feed, spec.channel)))


@main.command()
@click.argument("service", type=click.Choice(["loader", "all", "gtm", "ga4", "meta", "criteo"]))
@click.option("--event", "event", default=None,
              help="view_item, view_item_list, add_to_cart, view_cart, begin_checkout, "
                   "purchase, view_home, page_view")
@click.option("--product", default=None, help="Vendre product id or article number.")
@click.option("--order", default=None, help="Order number (from the store).")
@click.option("--category", default=None, type=int, help="Vendre category id.")
@click.option("--placement", type=click.Choice(["head", "body"]), default="head",
              show_default=True)
@click.option("--nonce", default="", help="CSP nonce for every inline <script>.")
@pass_app
def snippet(app: _App, service: str, event: str | None, product: str | None,
            order: str | None, category: int | None, placement: str, nonce: str) -> None:
    """Print the loader tag, or a service's code (with one event) for previews."""
    from feeds.snippets import preview

    cfg = app.load()
    click.echo(preview(cfg, service, event=event, placement=placement, product=product,
                       order=order, category=category, nonce=nonce,
                       now=datetime.now(UTC)))


@main.command()
@click.option("--data-dir", default="./vendre-feeds-demo", show_default=True,
              help="Where the demo keeps its store and feeds.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Stop after building (no server).")
@pass_app
def demo(app: _App, data_dir: str, host: str, port: int, no_serve: bool) -> None:
    """Sync the bundled demo shop, build everything and serve it (no shop, no key)."""
    from feeds.demo.run import run_demo

    run_demo(app, Path(data_dir), host=host, port=port, serve=not no_serve)


def _register_commands() -> None:
    """The server's commands (serve, worker, refresh, urls) live with the server."""
    from feeds.server.commands import register

    register(main, pass_app)


_register_commands()
