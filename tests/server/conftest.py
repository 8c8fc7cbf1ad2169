"""Fixtures for the feed server: a data dir with fake published feeds, the app, a live server.

The build is someone else's work, so feeds are "published" here the way the
build does it: the file and its .gz replaced atomically, the `PublishedFeed`
state and the report JSON written next to them (see feeds.storage.layout).
"""

from __future__ import annotations

import gzip
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import waitress
from flask import Flask
from flask.testing import FlaskClient

from feeds.config import Config, ServerSettings
from feeds.server import create_app
from feeds.server.run import create_server
from feeds.storage.layout import Layout, PublishedFeed, write_json_atomic
from feeds.storage.store import Store
from tests.conftest import make_config

ACCESS_KEY = "test-access-key-Zq81vNw3"
# What a build records for each format (feeds.core.outputs), which the server serves.
CONTENT_TYPES = {"xml": "application/xml; charset=utf-8", "json": "application/json",
                 "csv": "text/csv; charset=utf-8"}


def replace_file(path: Path, data: bytes) -> None:
    """Write `data` next to `path`, then `os.replace` it over `path` (as the build does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def feed_xml(items: int, *, tag: str = "item") -> bytes:
    """A small well-formed RSS feed with `items` items."""
    body = "".join(f"<{tag}><g:id>{i}</g:id><title>Produkt {i}</title></{tag}>"
                   for i in range(1, items + 1))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:g="http://base.google.com/ns/1.0"><channel><title>Testshop</title>'
            f"{body}</channel></rss>\n").encode()


@dataclass(frozen=True)
class Publisher:
    """Writes published feeds, reports and sync records into one data dir."""

    cfg: Config

    @property
    def layout(self) -> Layout:
        return Layout(self.cfg.data_dir)

    def feed(self, stem: str, body: bytes, *, channel: str | None = None, items: int = 3,
             ext: str = "xml", gz: bool = True,
             published_at: datetime | None = None) -> PublishedFeed:
        """Publish `body` as `feeds/<stem>.<ext>` (+ .gz) with its state file."""
        file = f"{stem}.{ext}"
        if gz:
            replace_file(self.layout.feeds / f"{file}.gz", gzip.compress(body, mtime=0))
        replace_file(self.layout.feeds / file, body)
        feed = PublishedFeed(
            stem=stem, channel=channel or stem.split("-")[0], file=file,
            content_type=CONTENT_TYPES[ext], items=items,
            published_at=published_at or datetime.now(UTC), bytes=len(body), sha256="0" * 64)
        write_json_atomic(self.layout.feed_state(stem), feed.as_json())
        return feed

    def report(self, stem: str, *, channel: str | None = None, items: int = 3,
               errors: Mapping[str, int] | None = None,
               warnings: Mapping[str, int] | None = None,
               excluded: Mapping[str, int] | None = None, published: bool = True,
               reason: str = "", violations: list[dict[str, Any]] | None = None,
               dropped: int = 0) -> dict:
        """Write `reports/<stem>.json` in the build's shape and return it."""
        data = {"feed": stem, "channel": channel or stem.split("-")[0],
                "built_at": datetime.now(UTC).isoformat(), "published": published,
                "reason": reason,
                "counts": {"items": items, "dropped": dropped, "errors": dict(errors or {}),
                           "warnings": dict(warnings or {}), "skipped": dict(excluded or {})},
                "violations": violations or []}
        write_json_atomic(self.layout.report(stem), data)
        return data

    def sync_ok(self, products: int = 2) -> None:
        """Record a successful sync of `products` products in the store."""
        store = Store.in_dir(self.cfg.data_dir)
        with store.write_snapshot(datetime.now(UTC)) as writer:
            writer.add_products([{"id": i, "parent": 0} for i in range(1, products + 1)])
            writer.add_categories([{"id": 1}])
            writer.add_orders([])

    def sync_failed(self, error: str) -> None:
        Store.in_dir(self.cfg.data_dir).record_failure(datetime.now(UTC), error)


@pytest.fixture
def key() -> str:
    """The access key of `server_config`."""
    return ACCESS_KEY


@pytest.fixture
def server_config(tmp_path: Path) -> Config:
    """A Config with an access key and no public_url (URLs fall back to the request host)."""
    return make_config(tmp_path, server={"access_key": ACCESS_KEY})


@pytest.fixture
def publisher(server_config: Config) -> Publisher:
    """Publishes fake feeds into the data dir of `server_config`."""
    return Publisher(server_config)


@pytest.fixture
def app(server_config: Config) -> Flask:
    """The app over `server_config`'s data dir."""
    return create_app(server_config)


class BufferedClient(FlaskClient):
    """Reads each response whole and closes it, as a WSGI server does.

    Unbuffered, the test client keeps the response (and so the feed's open
    descriptor) until `.close()`, which the tests would have to call each time.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask's test client of `app` (buffered)."""
    app.test_client_class = BufferedClient
    return app.test_client()


class LiveServer:
    """A real waitress server on 127.0.0.1 (a free port), run in a thread.

    With `settings`, it is built as `serve` builds it (`feeds.server.run.create_server`).
    """

    def __init__(self, app: Flask, threads: int = 4,
                 settings: ServerSettings | None = None) -> None:
        if settings is None:
            self.server = waitress.create_server(app, host="127.0.0.1", port=0,
                                                 threads=threads, ident="vendre-feeds")
        else:
            self.server = create_server(app, settings, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._thread = threading.Thread(target=self.server.run, name="waitress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close every socket from inside the server's loop, which then returns."""
        def close_all() -> None:
            for dispatcher in list(self.server._map.values()):
                # Channels and the trigger clean up in handle_close; the listener has none.
                try:
                    (dispatcher.close if dispatcher is self.server else dispatcher.handle_close)()
                except OSError:  # already closed
                    self.server._map.pop(dispatcher._fileno, None)

        self.server.task_dispatcher.shutdown(timeout=5)
        try:
            self.server.trigger.pull_trigger(close_all)
        except OSError:
            # The trigger's pipe is already closed (seen once, at teardown of a test that
            # filled the connection limit): close the rest from here; the loop sees its
            # map empty within one poll timeout and returns.
            close_all()
        self._thread.join(10)
        assert not self._thread.is_alive(), "waitress did not stop"


@pytest.fixture
def live() -> Iterator[Any]:
    """`live(app)` starts a waitress server for `app` and returns it; all stop at teardown."""
    servers: list[LiveServer] = []

    def start(app: Flask, threads: int = 4, settings: ServerSettings | None = None) -> LiveServer:
        servers.append(LiveServer(app, threads, settings))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
