"""The feed server: `create_app(config)`, run by `vendre-feeds serve` under waitress.

`create_app` is imported lazily so that CLI commands which never serve (sync,
build, ...) do not pay for importing Flask.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from feeds.server.factory import create_app

        return create_app
    raise AttributeError(name)
