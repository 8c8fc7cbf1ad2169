"""The `vendre-feeds` command line: one click group, with the commands attached from
their modules (`catalog`, `build`, `push`, `tracking`, `server`, `demo`, `purchases`,
`fleet`).

Import rule: the CLI may import anything in `feeds`; nothing in `feeds` imports it.
"""

from __future__ import annotations

import click

from feeds import log as feeds_log
from feeds.cli import build, catalog, demo, fleet, purchases, push, server, tracking
from feeds.cli.app import App, FeedsGroup, pass_app

__all__ = ["main", "pass_app"]


@click.group(cls=FeedsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", metavar="PATH",
              help="Config file (default: $VENDRE_FEEDS_CONFIG, else ./vendre-feeds.toml).")
@click.option("--fleet", "fleet", metavar="PATH",
              help="Fleet file (default: $VENDRE_FEEDS_FLEET): every command then works on "
                   "the shop --config names, with the fleet's data dir; see `fleet --help`.")
@click.option("-v", "--verbose", count=True, help="More detail (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(package_name="vendre-feeds")
@click.pass_context
def main(ctx: click.Context, config: str | None, fleet: str | None, verbose: int,
         quiet: bool) -> None:
    """Feeds and tracking for Vendre webshops."""
    verbosity = -1 if quiet else verbose
    feeds_log.setup_logging(verbosity)
    ctx.obj = App(config, verbosity, fleet)


for _command in (catalog.init, catalog.sync, catalog.status, build.build, build.validate,
                 build.diff, build.upload, tracking.snippet, demo.demo, server.serve,
                 server.worker, server.refresh, server.urls, push.push, push.push_status,
                 purchases.send_purchases, fleet.fleet):
    main.add_command(_command)
