"""`fleet worker | beat | serve | status | enqueue | run`: many shops on Celery workers.

Thin: each command reads the fleet file (`--fleet` or $VENDRE_FEEDS_FLEET) and calls
`feeds.fleet`; Celery and redis are imported only here (the `fleet` extra).
"""

from __future__ import annotations

import click

from feeds.cli.app import App, pass_app
from feeds.errors import FeedsError

__all__ = ["fleet"]


def _fleet(app: App):  # noqa: ANN202 (feeds.config.Fleet, imported lazily)
    from feeds.fleet import require_extra

    require_extra()
    return app.fleet()


@click.group()
def fleet() -> None:
    """Many shops on Celery workers with a Redis broker (extra: vendre-feeds[fleet]).

    Every command reads the fleet file: --fleet PATH (before `fleet`) or
    $VENDRE_FEEDS_FLEET.
    """


@fleet.command()
@click.option("--shard", type=int, default=None,
              help="The shard whose queue this worker serves (needed when shards > 1).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: the machine's cores).")
@pass_app
def worker(app: App, shard: int | None, concurrency: int | None) -> None:
    """Run the jobs of one shard's shops (its state lives on this machine)."""
    from feeds.fleet.run import run_worker

    code = run_worker(_fleet(app), shard, concurrency=concurrency, verbosity=app.verbosity,
                      echo=app.echo)
    raise SystemExit(code)


@fleet.command()
@pass_app
def beat(app: App) -> None:
    """Queue each shop's refresh by its [schedule], and its purchases (run exactly one)."""
    from feeds.fleet.run import run_beat

    run_beat(_fleet(app), verbosity=app.verbosity, echo=app.echo)


@fleet.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="Port.")
@pass_app
def serve(app: App, host: str, port: int) -> None:
    """Serve every shop's status page, loader, webhooks and beacons under its keys."""
    from feeds.fleet.run import run_serve

    run_serve(_fleet(app), host, port, echo=app.echo)


@fleet.command()
@pass_app
def status(app: App) -> None:
    """One line per shop: its state, when, its feeds and shard; then the queues."""
    from feeds.fleet.celery_app import redis_client
    from feeds.fleet.control import status_lines
    from feeds.fleet.records import Records

    fleet_ = _fleet(app)
    redis = redis_client(fleet_)
    for line in status_lines(fleet_, Records(redis), redis):
        click.echo(line)


@fleet.command()
@click.argument("shops", nargs=-1)
@pass_app
def enqueue(app: App, shops: tuple[str, ...]) -> None:
    """Queue a refresh of the named shops (all by default) and return."""
    from feeds.fleet.celery_app import make_celery
    from feeds.fleet.control import enqueue as send

    fleet_ = _fleet(app)
    queued = send(fleet_, make_celery(fleet_).send_task, shops)
    for q in queued:
        app.echo(f"{q.shop}: queued on shard {q.shard}" if q.task_id else
                 f"{q.shop}: not queued: {q.error}")
    failed = [q.shop for q in queued if not q.task_id]
    if failed:
        raise FeedsError(f"not queued: {', '.join(failed)}")


@fleet.command()
@click.argument("shops", nargs=-1)
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Seconds to wait (default: the fleet's visibility_timeout_s).")
@pass_app
def run(app: App, shops: tuple[str, ...], timeout: float | None) -> None:
    """Queue a refresh of the named shops (all by default) and wait for every outcome.

    Exits 1 naming each shop that failed (or was skipped, or interrupted), 0 when all
    succeeded.
    """
    from feeds.fleet.celery_app import make_celery, redis_client
    from feeds.fleet.control import RunResult, wait
    from feeds.fleet.control import enqueue as send
    from feeds.fleet.records import Records

    fleet_ = _fleet(app)
    queued = send(fleet_, make_celery(fleet_).send_task, shops)

    def done(result: RunResult) -> None:
        app.echo(_outcome(result))

    results = wait(Records(redis_client(fleet_)), queued, on_done=done,
                   timeout_s=timeout or fleet_.settings.visibility_timeout_s)
    failed = [r for r in results if not r.ok]
    if failed:
        raise FeedsError(f"{len(failed)} of {_shops(len(results))} did not succeed: "
                         + "; ".join(_outcome(r) for r in failed))
    app.echo(f"all {_shops(len(results))} refreshed")


def _outcome(result) -> str:  # noqa: ANN001 (feeds.fleet.control.RunResult, imported lazily)
    """`shop: state`, with the reason when it did not succeed."""
    text = f"{result.shop}: {result.state.value}"
    return text + (f" ({result.error})" if result.error and not result.ok else "")


def _shops(count: int) -> str:
    return f"{count} shop" + ("s" if count != 1 else "")
