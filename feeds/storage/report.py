"""The violations report of one feed, streamed to disk so it never fills memory.

`reports/<stem>.json`::

    {"violations": [{"severity", "item_id", "field", "rule", "message"}, ...],
     "feed": "google-no", "channel": "google", "built_at": "...",
     "published": true, "reason": "",
     "counts": {"products": n, "items": n, "dropped": n, "excluded": {why: n},
                "errors": {rule: n}, "warnings": {rule: n}}}

Violations are written one by one as the build finds them; the counts, known
only at the end, follow. The file is renamed into place when complete.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from feeds.core.validation import Severity, Violation

__all__ = ["Counts", "ReportWriter"]


@dataclass
class Counts:
    """What one build did with the products: written, dropped by rule, excluded, warned."""

    products: int = 0
    items: int = 0
    dropped: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {"products": self.products, "items": self.items, "dropped": self.dropped,
                "excluded": dict(self.excluded.most_common()),
                "errors": dict(self.errors.most_common()),
                "warnings": dict(self.warnings.most_common())}


class ReportWriter:
    """Appends violations to a temporary file; `finish` completes and renames it."""

    def __init__(self, target: Path | None, keep_first: int = 0) -> None:
        self.target = target
        self.first: list[Violation] = []
        self._keep_first = keep_first
        self._fh: IO[str] | None = None
        self._tmp: Path | None = None
        self._written = 0
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            self._fh = self._tmp.open("w", encoding="utf-8")
            self._fh.write('{"violations": [')

    def add(self, violations: Iterable[Violation], counts: Counts) -> None:
        for v in violations:
            (counts.errors if v.severity is Severity.ERROR else counts.warnings)[v.rule] += 1
            if len(self.first) < self._keep_first:
                self.first.append(v)
            if self._fh is not None:
                self._fh.write(("," if self._written else "") + "\n"
                               + json.dumps(v.as_dict(), ensure_ascii=False))
                self._written += 1

    def finish(self, summary: Mapping[str, Any], counts: Counts) -> None:
        """Write the summary and counts, then move the report into place."""
        if self._fh is None or self._tmp is None or self.target is None:
            return
        tail = json.dumps({**summary, "counts": counts.as_json()}, ensure_ascii=False,
                          indent=1)
        self._fh.write("\n], " + tail[1:])
        self._fh.close()
        self._fh = None
        os.replace(self._tmp, self.target)

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
