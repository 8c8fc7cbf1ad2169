"""What every command shares: the `App` (config file, verbosity, echo, progress) and the
group that turns failures into one line and an exit code.

This is one of the two places (with the HTTP server) where exceptions become
messages: a `FeedsError` is printed as one line (secrets masked) and the
process exits with the error's code (2 for configuration errors, 1 otherwise).
A closed pipe (`vendre-feeds urls | head -1`) is no error: the reader has what
it wanted, and the command ends quietly with 0.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from feeds import log as feeds_log
from feeds.config import FLEET_ENV, Config, Fleet, load_config, load_fleet
from feeds.errors import ConfigError, FeedsError
from feeds.progress import Progress, make_progress

__all__ = ["App", "FeedsGroup", "pass_app"]

log = logging.getLogger("feeds.cli")


class App:
    """What every command shares: where the config is and how loud to be."""

    def __init__(self, config: str | None, verbosity: int, fleet: str | None = None) -> None:
        self.config_file = config
        self.verbosity = verbosity
        self.fleet_file = fleet or os.environ.get(FLEET_ENV) or None
        self._fleet: Fleet | None = None
        self._closed = False  # stdout was closed by its reader

    @property
    def in_fleet(self) -> bool:
        """Whether a fleet file was named (`--fleet` or $VENDRE_FEEDS_FLEET)."""
        return self.fleet_file is not None

    def fleet(self) -> Fleet:
        """The fleet file, read once."""
        if self._fleet is None:
            self._fleet = load_fleet(self.fleet_file)
        return self._fleet

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    def load(self, *, warn: bool = False, **overrides: Any) -> Config:
        """The config; with `warn`, its warnings on stderr (what build, validate and serve
        want a user to see before they act)."""
        cfg = (self._shop_of_fleet(overrides) if self.in_fleet else
               load_config(self.config_file, overrides=overrides or None))
        feeds_log.add_secret(*cfg.secrets())
        if warn and not self.quiet:
            for line in cfg.warnings:
                click.echo(f"warning: {line}", err=True)
        return cfg

    def _shop_of_fleet(self, overrides: dict[str, Any]) -> Config:
        """The shop `--config` names, with its fleet's data dir and `[publish]`."""
        path = self.config_file or os.environ.get("VENDRE_FEEDS_CONFIG")
        if not path:
            raise ConfigError("--config: name one shop's file of the fleet, e.g. "
                              "--config shops/acme.toml")
        fleet = self.fleet()
        return fleet.load_shop(fleet.name_of(path), overrides=overrides or None)

    def echo(self, text: str = "") -> None:
        """A line on stdout, secrets masked. Once stdout is closed (`push ... | head`), the
        rest is dropped quietly and the command goes on: a push half-done for want of a
        reader would help nobody, and the reader asked for no more."""
        if self.quiet or self._closed:
            return
        try:
            click.echo(feeds_log.mask(text))
        except BrokenPipeError:
            self._closed = True
            _drop_stdout()

    def progress(self) -> Progress:
        return make_progress(quiet=self.quiet, echo=self.echo)


class FeedsGroup(click.Group):
    """Translates FeedsError (and anything unexpected) into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FeedsError as exc:
            click.echo(f"error: {feeds_log.mask(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            _drop_stdout()
            sys.exit(0)
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


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of what is still
    buffered for the closed pipe fails no more (the reader has gone)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (a test's runner): nothing to do
        pass


pass_app = click.make_pass_decorator(App)
