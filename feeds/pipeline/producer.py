"""Running a build's per-product work in a second process, streamed back in batches.

Why two processes: a feed build is CPU-bound Python, and one process uses one
core whatever its threads do (the GIL). On a machine with two cores the build's
one pass over the products (read, derive, map, check: `feeds.pipeline.items`)
runs in a child while the parent renders, writes and parses back every file: a
producer/consumer pipeline (`feeds.pipeline.run` decides when).

What crosses: the job (frozen dataclasses; channels travel by name) to the
child, once; then batches of plain data (dicts, lists, strings, Decimals,
`Violation`s, counts) to the parent, pickled through a one-way pipe. Nothing
else: no lxml trees, no open files, no database connections. A send returns
only once the parent reads it, so the child runs at most one batch ahead and
memory stays bounded whatever the catalogue's size. The child writes no files.

How failures travel: an exception in the child is sent to the parent and
raised there as the same exception, with the child's traceback as a note (an
exception that does not survive pickling becomes a `BuildError` with the same
one-line message). A child that dies without a word (killed, out of memory)
is a `BuildError`. When the parent stops early (an error, Ctrl-C, a closed
generator), it terminates the child before it goes on, so the caller's cleanup
(temporary files, the old feed left in place) is the same as in one process.
The child ignores SIGINT: Ctrl-C in a terminal reaches the whole process group,
and the parent alone decides.

The child is started with `spawn` (a fresh interpreter), never `fork`: the
parent may have threads (the server's scheduler, the feed writer), and a forked
copy of a threaded process can deadlock. Starting one costs a few hundred
milliseconds, so callers use this only for large catalogues. As with any spawned
process, the program's main module must be safe to import (`python -m feeds`
and the `vendre-feeds` script are; a script without a `__main__` guard makes the
child die before its first batch, and the build then runs the pass itself);
multiprocessing also starts its small resource-tracker process once per parent.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from feeds.errors import BuildError

__all__ = ["Send", "produced"]

Job = TypeVar("Job")
Send = Callable[[Any], None]

_CONTEXT = multiprocessing.get_context("spawn")
_BATCH, _ERROR, _DONE = "batch", "error", "done"


def produced(work: Callable[[Job, Send], None], job: Job) -> Iterator[Any]:
    """Run `work(job, send)` in a child process; yield whatever it `send`s, in order.

    `work` must be a module-level function (the child imports it by name) and
    `job` must pickle. Close the iterator (or exhaust it) to end the child.

    :raises BuildError: the child died without reporting an exception.
    """
    reader, writer = _CONTEXT.Pipe(duplex=False)
    with reader:
        with writer:  # closed here once the child has its copy: the child's death is EOF
            child = _CONTEXT.Process(target=_child_main, args=(work, job, writer),
                                     name="feeds-producer", daemon=True)
            child.start()
        finished = False
        try:
            while True:
                try:
                    kind, payload = reader.recv()
                except EOFError:
                    child.join()
                    raise BuildError("the producer process ended without a result "
                                     f"(exit code {child.exitcode})") from None
                if kind == _BATCH:
                    yield payload
                elif kind == _ERROR:
                    raise payload
                else:
                    finished = True
                    return
        finally:
            if not finished:
                child.terminate()
            child.join()


def _child_main(work: Callable[[Job, Send], None], job: Job, writer: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def send(batch: Any) -> None:
        writer.send((_BATCH, batch))

    try:
        work(job, send)
    except BaseException as exc:  # every failure goes to the parent, which raises it
        writer.send((_ERROR, _portable(exc)))
    else:
        writer.send((_DONE, None))
    finally:
        writer.close()


def _portable(exc: BaseException) -> BaseException:
    """`exc` with the child's traceback as a note, or a BuildError if it cannot travel."""
    where = "".join(traceback.format_exception(exc)).rstrip()
    try:
        exc.add_note(f"raised in the producer process:\n{where}")
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        portable = BuildError(message)
        portable.add_note(f"raised in the producer process:\n{where}")
        return portable
