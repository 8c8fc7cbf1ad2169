"""`demo`: the bundled demo shop, synced, built and served (no shop, no key, no network)."""

from __future__ import annotations

from pathlib import Path

import click

from feeds.cli.app import App, pass_app

__all__ = ["demo"]


@click.command()
@click.option("--data-dir", default="./vendre-feeds-demo", show_default=True,
              help="Where the demo keeps its store and feeds.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface the demo's server listens on.")
@click.option("--port", default=8000, show_default=True, type=int,
              help="Port the demo's server listens on.")
@click.option("--no-serve", is_flag=True, help="Stop after building (no server).")
@pass_app
def demo(app: App, data_dir: str, host: str, port: int, no_serve: bool) -> None:
    """Sync the bundled demo shop, build everything and serve it (no shop, no key)."""
    from feeds.demo.run import run_demo

    run_demo(Path(data_dir), host=host, port=port, serve=not no_serve, echo=app.echo,
             progress=app.progress())
