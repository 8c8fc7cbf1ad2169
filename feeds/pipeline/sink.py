"""Writing a rendered feed: the file, its gzip twin and its SHA-256, in one pass.

Rendering holds the GIL; compressing and writing mostly do not (zlib, hashlib
and file writes release it for large buffers). So the
encoded chunks go through a small bounded queue to a writer thread, which uses
the machine's second core while the renderer goes on, and memory stays
bounded by the queue.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["FeedSink", "Written"]

_QUEUE_CHUNKS = 8  # each chunk is one batch of rendered text, some hundreds of kB
# The twin is made on every publish and read by a few fetchers a day. Measured on a 13 MB
# Google feed (BENCHMARKS.md), in CPU per item: zlib level 3 3.0 µs (1.52 MB), level 1
# 2.7 µs (1.75 MB), level 6 6.4 µs (1.20 MB); ISA-L's deflate (python-isal) level 2 0.72 µs
# (1.69 MB): a quarter of the CPU for a tenth more bytes. Both release the GIL.
try:
    from isal.igzip import IGzipFile as _GzipFile
    _GZIP_LEVEL = 2
except ImportError:  # a platform without python-isal's wheels: the standard library's zlib
    from gzip import GzipFile as _GzipFile  # type: ignore[assignment]
    _GZIP_LEVEL = 3


@dataclass(frozen=True)
class Written:
    sha256: str
    bytes: int


class FeedSink:
    """A context manager: `write(text)` any number of times; `written` after the block."""

    def __init__(self, path: Path, gz_path: Path) -> None:
        self._path, self._gz_path = path, gz_path
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._error: BaseException | None = None
        self._digest = hashlib.sha256()
        self._size = 0
        self._thread = threading.Thread(target=self._run, name="feed-writer", daemon=True)
        self.written: Written | None = None

    def __enter__(self) -> FeedSink:
        self._thread.start()
        return self

    def write(self, text: str | bytes) -> None:
        """Queue `text` (bytes are UTF-8 already) for the writer thread."""
        if self._error is not None:
            raise self._error
        self._queue.put(text if isinstance(text, bytes) else text.encode("utf-8"))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._queue.put(None)
        self._thread.join()
        if kind is None and self._error is not None:
            raise self._error
        if kind is None:
            self.written = Written(self._digest.hexdigest(), self._size)

    def _run(self) -> None:
        try:
            # No file name and a zero time in the gzip header: the same feed gives the same
            # .gz bytes, so an unchanged feed is not uploaded again (feeds.storage.objects).
            with self._path.open("wb") as plain, self._gz_path.open("wb") as raw, \
                    _GzipFile(filename="", mode="wb", fileobj=raw,
                              compresslevel=_GZIP_LEVEL, mtime=0) as packed:
                while (chunk := self._queue.get()) is not None:
                    plain.write(chunk)
                    packed.write(chunk)
                    self._digest.update(chunk)
                    self._size += len(chunk)
        except BaseException as exc:  # reported to the renderer by write() or __exit__
            self._error = exc
            while self._queue.get() is not None:  # drain, so the renderer never blocks
                pass
