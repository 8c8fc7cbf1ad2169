"""What every fake API shares: a WSGI app served on a free port of 127.0.0.1.

A fake subclasses `LoopbackFake`, calls `_init_server()` in its `__init__` and
implements `_wsgi(environ, start_response)`; it gets `start()`, `stop()`, the
context manager, `base_url`, and misbehaviour on command (`misbehave()`, `calm()`:
tests/fakes/misbehave.py), in front of its own handlers. No pytest here: the
benchmarks use the fakes too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.fakes.misbehave import Misbehaviour

__all__ = ["LoopbackFake", "QuietHandler"]


class QuietHandler(WSGIRequestHandler):
    """No access log lines on stderr; errors are still reported."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LoopbackFake:
    """start() / stop() / `with` for a fake served by werkzeug in a daemon thread."""

    thread_name = "fake-api"
    handler: type[WSGIRequestHandler] = QuietHandler
    _server: BaseWSGIServer | None
    _thread: threading.Thread | None
    _stopping: threading.Event

    def _init_server(self) -> None:
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._misbehaviour = Misbehaviour(self._stopping)

    def misbehave(self, mode: str, target: str = "*", *, times: int | None = None,
                  **options: Any) -> Self:
        """From now on, answer requests matching `target` in `mode` (echo, huge,
        gzip_bomb, drip, hang, nested, error_body, partial, stuck; see
        tests/fakes/misbehave.py), `times` times (None: all)."""
        self._misbehaviour.add(mode, target, times=times, **options)
        return self

    def calm(self) -> Self:
        """Honest again: drop every misbehaviour rule."""
        self._misbehaviour.clear()
        return self

    @property
    def arrivals(self) -> int:
        """How many requests have reached the fake so far, answered or not (yet)."""
        return self._misbehaviour.arrivals

    @property
    def misbehaved(self) -> list[tuple[str, str, str]]:
        """(mode, method, path) of every answer a misbehaviour rule gave."""
        return list(self._misbehaviour.log)

    def _wsgi(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        raise NotImplementedError

    def start(self) -> Self:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        self._server = make_server("127.0.0.1", 0, self._misbehaviour.wrap(self._wsgi),
                                   threaded=True, request_handler=self.handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still waiting on a delay are answered at once."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._server.server_port}"
