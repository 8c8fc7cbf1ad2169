"""`snippet`: the loader tag, and every tracking service's code for previews."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from feeds.cli.app import App, pass_app

__all__ = ["snippet"]


@click.command()
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
def snippet(app: App, service: str, event: str | None, product: str | None,
            order: str | None, category: int | None, placement: str, nonce: str) -> None:
    """Print the loader tag, or a service's code (with one event) for previews."""
    from feeds.events.snippets import preview

    cfg = app.load()
    click.echo(preview(cfg, service, event=event, placement=placement, product=product,
                       order=order, category=category, nonce=nonce,
                       now=datetime.now(UTC)))
