"""The violations report of one feed, streamed to disk so it never fills memory.

`reports/<stem>.json`::

    {"violations": [{"severity", "item_id", "field", "rule", "message"}, ...],
     "feed": "google-no", "channel": "google", "built_at": "...",
     "published": true, "reason": "",
     "counts": {"products": n, "items": n, "dropped": n, "skipped": {why: n},
                "errors": {rule: n}, "warnings": {rule: n}}}

`dropped` counts items an error kept out (never violations: one item may break two
rules); `skipped` counts, by reason, products that are no item of the channel by design
(not for sale, or left out by its own filters). Reports written before that word was
chosen say `excluded`; they are read the same.

Violations are written one by one as the build finds them; the counts, known
only at the end, follow. The file is renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from feeds.core.validation import Severity, Violation

__all__ = ["Counts", "ReportSummary", "ReportWriter", "dropped_items", "read", "violation_json",
           "violations"]

_HEAD = '{"violations": ['



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
                "skipped": dict(self.excluded.most_common()),
                "errors": dict(self.errors.most_common()),
                "warnings": dict(self.warnings.most_common())}


# `json.dumps(v.as_dict(), ensure_ascii=False)` places each string through this very
# function (the C one where the interpreter has it); calling it directly writes the same
# text at a sixth of the cost, and a build writes a line for every warning it finds.
_string = json.encoder.encode_basestring


def violation_json(v: Violation) -> str:
    """One violation as its report line: the text of `json.dumps(v.as_dict(),
    ensure_ascii=False)`."""
    fields = (v.severity.value, v.item_id, v.field, v.rule or v.field, v.message)
    if not all(type(f) is str for f in fields):  # not what Violation promises: the long way
        return json.dumps(v.as_dict(), ensure_ascii=False)
    s = _string
    return (f'{{"severity": {s(fields[0])}, "item_id": {s(fields[1])}, '
            f'"field": {s(fields[2])}, "rule": {s(fields[3])}, "message": {s(fields[4])}}}')


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
        if not isinstance(violations, Sequence):
            violations = tuple(violations)
        for v in violations:
            (counts.errors if v.severity is Severity.ERROR else counts.warnings)[v.rule] += 1
            if len(self.first) < self._keep_first:
                self.first.append(v)
        if self._fh is not None:
            lines = [violation_json(v) for v in violations]
            if lines:
                self._fh.write(("," if self._written else "") + "\n" + ",\n".join(lines))
                self._written += len(lines)

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


@dataclass(frozen=True)
class ReportSummary:
    """A report's head: which file, when, whether it was published, and its counts.

    `unreadable` is True for a report that exists but cannot be read (every other
    field then keeps its default).
    """

    feed: str = ""
    channel: str = ""
    built_at: datetime | None = None
    published: bool = True
    reason: str = ""
    products: int = 0
    items: int = 0
    dropped: int = 0
    excluded: Mapping[str, int] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)
    warnings: Mapping[str, int] = field(default_factory=dict)
    unreadable: bool = False

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def warning_count(self) -> int:
        return sum(self.warnings.values())


def read(path: Path) -> ReportSummary | None:
    """The summary of the report at `path`; None when there is none."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return ReportSummary(unreadable=True)
    if not isinstance(data, dict):
        return ReportSummary(unreadable=True)
    counts = data.get("counts") if isinstance(data.get("counts"), dict) else {}
    try:
        built = datetime.fromisoformat(data["built_at"]) if data.get("built_at") else None
    except (TypeError, ValueError):
        built = None
    return ReportSummary(
        feed=str(data.get("feed", "")), channel=str(data.get("channel", "")), built_at=built,
        published=data.get("published", True) is not False, reason=str(data.get("reason") or ""),
        products=_int(counts.get("products")), items=_int(counts.get("items")),
        dropped=_int(counts.get("dropped")),
        excluded=_counter(counts.get("skipped", counts.get("excluded"))),
        errors=_counter(counts.get("errors")), warnings=_counter(counts.get("warnings")))


def violations(path: Path, ids: Collection[str] | None = None) -> Iterator[dict[str, Any]]:
    """The report's violations, one dict at a time (only those of items in `ids`, when
    given); none without a readable report.

    A report `ReportWriter` wrote holds one violation per line and is read line by
    line (memory stays flat for a million violations); with `ids`, a line is parsed
    only when it names one of them (a million violations: 5.5 s parsed line by line,
    under a second looked through this way). Any other JSON report is read whole.
    """
    wanted = _naming(ids) if ids is not None else None
    try:
        with path.open(encoding="utf-8") as fh:
            if fh.readline().rstrip("\n") != _HEAD:
                fh.seek(0)
                data = json.load(fh)
                found = data.get("violations") if isinstance(data, dict) else None
                yield from (v for v in found or [] if isinstance(v, dict)
                            and (ids is None or str(v.get("item_id", "")) in ids))
                return
            for line in fh:
                if not line.startswith("{"):
                    return  # the counts that follow the list
                if wanted is not None and not wanted.search(line):
                    continue
                v = json.loads(line.rstrip().removesuffix(","))
                if isinstance(v, dict) and (ids is None or str(v.get("item_id", "")) in ids):
                    yield v
    except (OSError, ValueError):
        return


def _naming(ids: Collection[str]) -> re.Pattern[str]:
    """A pattern matching a violation line (as `ReportWriter` writes it) of one of `ids`."""
    values = "|".join(re.escape(json.dumps(str(i), ensure_ascii=False)) for i in ids)
    return re.compile(f'"item_id": (?:{values or "(?!)"})[,}}]')


def dropped_items(path: Path, ids: Collection[str] | None = None) -> dict[str, str]:
    """item id -> the first error that kept it out of the file (empty without a report);
    only for `ids` when given."""
    found: dict[str, str] = {}
    for v in violations(path, ids):
        if v.get("severity") == Severity.ERROR.value:
            found.setdefault(str(v.get("item_id", "")), f"{v.get('field')}: {v.get('message')}")
    return found


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _counter(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): _int(v) for k, v in value.items()}
