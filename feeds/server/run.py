"""Running the feed server (waitress) and the schedule, and the feed URLs to paste.

The commands (`serve`, `worker`, `refresh`, `urls`) live in `feeds.cli.server`.

waitress gets its connection limits from `[server]` explicitly, never its own
defaults (100 connections, 120 s idle), which 100 clients trickling one header
line at a time could exhaust: see `create_server`. Production still runs behind
a reverse proxy (deploy/nginx.conf), which bounds the time a request header may
take; waitress cannot.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import click

from feeds.config import Config, ServerSettings
from feeds.errors import ConfigError, FeedsError
from feeds.server.schedule import RefreshJob, Scheduler
from feeds.storage.layout import Layout

__all__ = ["create_server", "feed_urls", "run_server", "run_worker"]

log = logging.getLogger("feeds.server")

#: How often waitress looks for connections idle longer than `channel_timeout_s` (its
#: default, 30 s, would let an idle connection live up to a whole interval longer).
CLEANUP_INTERVAL_S = 5
#: The largest request body the server takes: a Vendre order webhook (1 MB); each route
#: that takes a body enforces its own, smaller cap (the loader's beacon: 4 KB), and the
#: others take none. Waitress's default would buffer up to 1 GB to disk before the app
#: could answer.
MAX_REQUEST_BODY_BYTES = 1024 * 1024
#: The kernel send buffer of each connection (Linux doubles it). Left to autotuning, a
#: client that reads slowly gets up to 4 MB (tcp_wmem): 200 slow readers of a feed took
#: 800 MB of kernel memory, and waitress's one loop stalled /health for 5 s filling
#: them. 256 KiB still moves a feed at 5 MB/s to a client 100 ms away, and at full
#: speed to a proxy on the same host.
SEND_BUFFER_BYTES = 256 * 1024
# Descriptors one connection can hold: its socket and the feed file it is streaming.
_FDS_PER_CONNECTION = 2
_FDS_SPARE = 64  # listener, trigger pipe, store, logs, imports


def create_server(app: Any, settings: ServerSettings, host: str, port: int) -> Any:
    """A waitress server for `app` on host:port with `[server]`'s threads and limits.

    - `connection_limit`: beyond it waitress stops accepting and new clients wait
      in the listen backlog, so it must be well above what slow clients may hold.
    - `channel_timeout_s`: a connection that sends and receives nothing for this
      long is closed, looked for every `CLEANUP_INTERVAL_S` (or sooner). A client
      that trickles a byte now and then is not idle: only the limit and the proxy
      stop it.
    - poll() instead of select(), which fails beyond 1024 descriptors, and the
      process's open-files limit raised to what the limit needs.
    - each connection's send buffer fixed at `SEND_BUFFER_BYTES` (set on the
      listening socket, which accepted connections inherit).

    :raises OSError: the address cannot be bound.
    """
    import waitress
    from waitress.server import BaseWSGIServer

    _raise_open_files_limit(settings.connection_limit * _FDS_PER_CONNECTION + _FDS_SPARE)
    server = waitress.create_server(
        app, host=host, port=port, ident="vendre-feeds",
        threads=settings.threads,
        connection_limit=settings.connection_limit,
        channel_timeout=settings.channel_timeout_s,
        cleanup_interval=min(CLEANUP_INTERVAL_S, settings.channel_timeout_s),
        max_request_body_size=MAX_REQUEST_BODY_BYTES,
        asyncore_use_poll=True)
    # One listener, or several (a host name with IPv4 and IPv6 addresses) in its map.
    listeners = ([server] if isinstance(server, BaseWSGIServer) else
                 [d for d in server.map.values() if isinstance(d, BaseWSGIServer)])
    for listener in listeners:
        listener.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    return server


def _raise_open_files_limit(needed: int) -> None:
    """Raise the soft RLIMIT_NOFILE towards `needed` (never above the hard limit).

    Service managers often start processes with a soft limit of 1024, which 1000
    connections streaming feeds would exceed; accept() would then fail.
    """
    try:
        import resource
    except ImportError:  # not on Unix: nothing to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError):
        target = soft
    if target < needed:
        log.warning("open files are limited to %d, below the %d that [server] "
                    "connection_limit may need; raise the hard limit (LimitNOFILE=)",
                    target, needed)


def feed_urls(cfg: Config, base: str | None = None) -> list[str]:
    """What `urls` prints: the status page's URL, then the ad feeds' URLs with where to
    paste each, then the marketplace payloads' URLs (pushed, shown for inspection).

    :param base: where the server is reached when `[server] public_url` is unset
        (default: [server] host and port).
    """
    from feeds.server.factory import require_access_key
    from feeds.server.status_data import where_it_goes

    key = require_access_key(cfg)
    base, quoted = cfg.public_base(base), quote(key, safe="")
    lines = [f"status page: {base}/?key={quoted}"]
    files = cfg.publish.public_url.rstrip("/")
    if files:  # the CDN in front of [publish] target serves the feeds and a static page
        lines = [f"status page: {files}/status/{quoted}/index.html  (a copy every run "
                 f"uploads; live on the server: {base}/?key={quoted})"]
    published = Layout(cfg.data_dir).published()
    if not published:
        return lines + ["no feed is published yet (run `vendre-feeds refresh`)",
                        *webhook_lines(cfg, base)]
    feeds, payloads = [], []
    for feed in published:
        pushed, paste = where_it_goes(cfg, feed)
        url = f"  {feed.file}: {files or base}/feeds/{quoted}/{quote(feed.file)}"
        if pushed:
            payloads.append(url)
        else:
            feeds += [url, f"    paste into {paste}"] if paste else [url]
    if feeds:
        lines += ["", "Ad feeds: paste these URLs", *feeds]
    if payloads:
        lines += ["", "Marketplace payloads: pushed with `vendre-feeds push NAME`, never "
                      "fetched; these URLs are for looking at what is sent", *payloads]
    webhooks = webhook_lines(cfg, base)
    return lines + (["", *webhooks] if webhooks else [])


def webhook_lines(cfg: Config, base: str) -> list[str]:
    """The URL to give Vendre's order webhooks (it holds the webhook secret)."""
    if not cfg.purchases.enabled:
        return []
    from feeds.server.purchase_routes import webhook_secret

    secret = webhook_secret(cfg)
    if not secret:
        return [f"order webhooks: set the environment variable "
                f"{cfg.purchases.webhook_secret_env} to a long random secret first"]
    return [f"order webhooks (Vendre: Appar & Integration > Webhooks, new_order and "
            f"updated_order): {base}/hooks/vendre/{quote(secret, safe='')}"]


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Make SIGTERM stop the process like Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _scheduler(cfg: Config, job: RefreshJob | None) -> Scheduler | None:
    return Scheduler(cfg, job) if cfg.schedule.every_minutes > 0 else None


def run_server(cfg: Config, host: str, port: int, *, schedule: bool = True,
               job: RefreshJob | None = None, echo: Callable[[str], None] = click.echo) -> None:
    """Serve `create_app(cfg)` with waitress until Ctrl-C / SIGTERM, with the schedule.

    ConfigError (before listening) when `[server] access_key` is empty.
    """
    from feeds.server.factory import create_app

    app = create_app(cfg)
    try:
        server = create_server(app, cfg.server, host, port)
    except OSError as exc:
        raise FeedsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    scheduler = _scheduler(cfg, job) if schedule else None
    poller = _poller(cfg) if schedule else None
    every = f"every {cfg.schedule.every_minutes} min" if scheduler else "no schedule"
    echo(f"serving on http://{host}:{server.effective_port} ({every}); "
         "`vendre-feeds urls` prints the feed URLs")
    with _sigterm_interrupts():
        if scheduler:
            scheduler.start()
        if poller:
            poller.start()
        try:
            server.run()  # returns after KeyboardInterrupt (waitress catches it)
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            if poller:
                poller.stop(timeout=5)
            if scheduler and not scheduler.stop(timeout=5):
                log.warning("a refresh was still running at shutdown; it was abandoned "
                            "(the last good feeds stay published)")
    echo("stopped")


def _poller(cfg: Config) -> Any:
    """The purchases poller (webhooks sent within a minute), when purchases are on."""
    if not cfg.purchases.enabled:
        return None
    from feeds.purchases.poll import PurchasesPoller

    return PurchasesPoller(cfg)


def run_worker(cfg: Config, *, job: RefreshJob | None = None,
               echo: Callable[[str], None] = click.echo) -> None:
    """Run only the schedule (and the purchases poller), in the foreground, until
    Ctrl-C / SIGTERM."""
    scheduler = _scheduler(cfg, job)
    poller = _poller(cfg)
    if scheduler is None and poller is None:
        raise ConfigError("schedule.every_minutes: is 0, so a worker has nothing to do")
    if scheduler:
        echo(f"refreshing every {cfg.schedule.every_minutes} min on {cfg.data_dir}")
    if poller:
        echo("sending orders to GA4 and Meta within a minute of their webhooks")
    with _sigterm_interrupts():
        try:
            if scheduler and poller:
                poller.start()
            (scheduler or poller).run_forever()
        except KeyboardInterrupt:
            pass
        finally:
            if scheduler:
                scheduler.stop(timeout=0)
            if poller:
                poller.stop(timeout=0)
    echo("stopped")
