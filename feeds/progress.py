"""Progress of long steps: a bar in a terminal, one summary line per step elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

__all__ = ["Progress", "Step", "make_progress"]


class Step(Protocol):
    def advance(self, items: int, pages: int = 0) -> None: ...
    def set_total(self, total: int) -> None: ...
    def close(self, summary: str) -> None: ...


class Progress(Protocol):
    def step(self, name: str, total: int | None = None, unit: str = "items") -> Step: ...
    def total_known(self, total: int) -> None: ...


class _LineStep:
    """Counts silently; prints one line when the step ends (cron, CI, pipes)."""

    def __init__(self, name: str, echo: Callable[[str], None]) -> None:
        self.name, self._echo = name, echo
        self.items = self.pages = 0
        self._start = time.monotonic()

    def advance(self, items: int, pages: int = 0) -> None:
        self.items += items
        self.pages += pages

    def set_total(self, total: int) -> None:
        pass

    def close(self, summary: str) -> None:
        self._echo(f"{self.name}: {summary} ({time.monotonic() - self._start:.1f} s)")


class _BarStep(_LineStep):
    """A tqdm bar with items, pages and time left; then the same summary line."""

    def __init__(self, name: str, echo: Callable[[str], None], total: int | None,
                 unit: str, stream: TextIO) -> None:
        super().__init__(name, echo)
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=name, unit=f" {unit}", file=stream, leave=False,
                         dynamic_ncols=True)

    def advance(self, items: int, pages: int = 0) -> None:
        super().advance(items, pages)
        self._bar.update(items)
        if pages:
            self._bar.set_postfix_str(f"{self.pages} pages", refresh=False)

    def set_total(self, total: int) -> None:
        self._bar.total = total
        self._bar.refresh()

    def close(self, summary: str) -> None:
        self._bar.close()
        super().close(summary)


class _Quiet:
    def advance(self, items: int, pages: int = 0) -> None:
        pass

    def set_total(self, total: int) -> None:
        pass

    def close(self, summary: str) -> None:
        pass


class _Progress:
    def __init__(self, mode: str, echo: Callable[[str], None], stream: TextIO) -> None:
        self._mode, self._echo, self._stream = mode, echo, stream
        self._current: Step = _Quiet()

    def step(self, name: str, total: int | None = None, unit: str = "items") -> Step:
        if self._mode == "quiet":
            self._current = _Quiet()
        elif self._mode == "bar":
            self._current = _BarStep(name, self._echo, total, unit, self._stream)
        else:
            self._current = _LineStep(name, self._echo)
        return self._current

    def total_known(self, total: int) -> None:
        """The current step's total, once known (a sync learns it from the first page)."""
        self._current.set_total(total)


def make_progress(*, quiet: bool = False, echo: Callable[[str], None] = print,
                  stream: TextIO | None = None) -> Progress:
    """A bar when `stream` (stderr) is a terminal, summary lines otherwise, nothing if quiet."""
    stream = stream or sys.stderr
    mode = "quiet" if quiet else "bar" if stream.isatty() else "lines"
    return _Progress(mode, echo, stream)
