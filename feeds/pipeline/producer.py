"""Running a build's per-product work in a second process, streamed back in batches.

Why two processes: a feed build is CPU-bound Python, and one process uses one
core whatever its threads do (the GIL). On a machine with two cores the build's
one pass over the products (read, derive, map, check: `feeds.pipeline.items`)
runs in a child while the parent renders, writes and parses back every file: a
producer/consumer pipeline (`feeds.pipeline.run` decides when).

What crosses: the job (frozen dataclasses; channels travel by name) to the
child, once; then batches of plain data (bytes, dicts, lists, strings, Decimals,
`Violation`s, counts) to the parent, pickled through a one-way pipe. Nothing
else: no lxml trees, no open files, no database connections. A send returns
once the pipe holds it: on Linux the pipe is enlarged to `_PIPE_BYTES` (a batch
is larger than the default 64 kB), so the child works on while the parent reads
(a thread sending for it waited up to 5 ms for the GIL each time, measured), and
memory stays bounded whatever the catalogue's size. The child writes no files.

Sharing the work: `Claims` lets both processes take rows of the same block, the
child from the back and the parent from the front, a few at a time, until they
meet; whoever is idle works, so the two cores finish together whatever each
side's other work costs (`feeds.pipeline.run` uses it).

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

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["Claims", "Send", "produced"]

Job = TypeVar("Job")
Send = Callable[[Any], None]

_CONTEXT = multiprocessing.get_context("spawn")
_BATCH, _ERROR, _DONE = "batch", "error", "done"
_PIPE_BYTES = 1 << 20  # Linux's limit for an unprivileged process (/proc/sys/fs/pipe-max-size)


class Claims:
    """The rows of the block both processes work on: the parent takes them from the front
    (up to a limit: the rows it was sent), the child from the back, `step` at a time,
    until none is left (shared memory and one lock; made in the parent and given to the
    child when it starts)."""

    def __init__(self) -> None:
        self._cells = _CONTEXT.Array("q", 4)  # block number, front, back, front's limit

    def open(self, block: int, size: int, limit: int) -> None:
        """Block number `block` of `size` rows is the one to share now, the parent's part
        at most its first `limit` rows (in the child)."""
        with self._cells.get_lock():
            self._cells[:] = [block, 0, size, limit]

    def front(self, block: int, step: int) -> tuple[int, int] | None:
        """The next `step` rows (start, end) of `block` from the front; None when none is
        left or that block is over."""
        cells = self._cells
        with cells.get_lock():
            start, end = cells[1], min(cells[2], cells[3])
            if cells[0] != block or start >= end:
                return None
            cells[1] = min(end, start + step)
            return start, cells[1]

    def back(self, step: int) -> tuple[int, int] | None:
        """The last `step` free rows (start, end) of the open block; None when none is left."""
        cells = self._cells
        with cells.get_lock():
            start, end = cells[1], cells[2]
            if start >= end:
                return None
            cells[2] = max(start, end - step)
            return cells[2], end


def produced(work: Callable[..., None], job: Job, *shared: Any) -> Iterator[Any]:
    """Run `work(job, send, *shared)` in a child process; yield whatever it `send`s, in order.

    `work` must be a module-level function (the child imports it by name) and
    `job` must pickle; `shared` are objects made for sharing with a child (`Claims`).
    Close the iterator (or exhaust it) to end the child.

    :raises BuildError: the child died without reporting an exception.
    """
    reader, writer = _CONTEXT.Pipe(duplex=False)
    _enlarge(reader)
    with reader:
        with writer:  # closed here once the child has its copy: the child's death is EOF
            child = _CONTEXT.Process(target=_child_main, args=(work, job, writer, *shared),
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


def _enlarge(pipe: Connection) -> None:
    """Give the pipe room for a batch or two, where the system allows it (Linux)."""
    size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if size is None:
        return
    try:
        fcntl.fcntl(pipe.fileno(), size, _PIPE_BYTES)
    except OSError:  # a lower limit: the default size works, with less overlap
        pass


def _child_main(work: Callable[..., None], job: Job, writer: Connection, *shared: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def send(batch: Any) -> None:
        writer.send_bytes(pickle.dumps((_BATCH, batch), protocol=pickle.HIGHEST_PROTOCOL))

    try:
        work(job, send, *shared)
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
