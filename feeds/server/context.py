"""What every view needs: the `ServerContext`, kept on the app by `init_app`, and the
helpers that read it (`context()`, `render()`). Route modules import this module,
never the factory (as Flask's tutorial's blueprints import `db`, not the app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from jinja2 import Environment

from feeds.config import Config
from feeds.formats.templates import make_env
from feeds.server.status_data import Previews
from feeds.storage.layout import Layout

__all__ = ["ServerContext", "SnippetHook", "context", "init_app", "render"]

#: `app.config["STATUS_SNIPPETS"]`: cfg -> [(title, code), ...], the previews the status
#: page folds under its loader tag (`feeds.server.status_data.Previews`).
SnippetHook = Previews


@dataclass(frozen=True)
class ServerContext:
    """What every view needs, kept in `app.extensions["vendre_feeds"]`."""

    cfg: Config
    layout: Layout
    env: Environment

    @property
    def key(self) -> str:
        return self.cfg.server.access_key


def default_snippets(cfg: Config) -> list[tuple[str, str]]:
    """The previews of what the loader sends, for the configured tracking services."""
    from feeds.events.snippets import status_snippets

    return status_snippets(cfg)


def init_app(app: Flask, config: Config, snippets: SnippetHook | None = None) -> None:
    """Keep the server's context on `app` (one Jinja environment for the CLI and the
    server: same escaping, StrictUndefined)."""
    app.config["STATUS_SNIPPETS"] = snippets or default_snippets
    app.extensions["vendre_feeds"] = ServerContext(
        config, Layout(config.data_dir), make_env(config.build.templates_dir or None))


def context() -> ServerContext:
    """The ServerContext of the current app."""
    return current_app.extensions["vendre_feeds"]


def render(template: str, **values: Any) -> str:
    """Render `templates/<template>` with the project's Jinja environment."""
    return context().env.get_template(template).render(**values)
