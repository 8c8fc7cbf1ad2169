"""Where everything lives under `data_dir`, in one place.

    catalog.sqlite3                 the store (feeds.storage.store)
    feeds/<stem>.<ext>              published feeds, served as they are
    feeds/<stem>.<ext>.gz           the same bytes gzipped, served to clients that accept gzip
    reports/<stem>.json             the last build's counts and violations of one feed
    history/<stem>/*.gz             earlier published versions of one feed
    state/feeds/<stem>.json         what is published: items, time, size, digest (PublishedFeed)
    state/refresh.json              the last scheduled sync + build and its outcome
    tracking/                       the product index the tracking loader reads
    .lock-<name>                    advisory locks (feeds.storage.lock)

State files are kept out of `feeds/` so that nothing but feeds can ever be
served from there.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["Layout", "PublishedFeed", "write_json_atomic"]


@dataclass(frozen=True)
class PublishedFeed:
    """The state of one published feed file."""

    stem: str
    channel: str
    file: str
    content_type: str
    items: int
    published_at: datetime
    bytes: int
    sha256: str
    country: str = ""
    language: str = ""
    currency: str = ""
    kind: str = ""  # the channel's kind when `channel` names an instance of it

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["published_at"] = self.published_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PublishedFeed:
        values = {k: v for k, v in data.items() if k in _FIELDS}
        values["published_at"] = datetime.fromisoformat(values["published_at"])
        return cls(**values)


@dataclass(frozen=True)
class Layout:
    """The paths of one data directory."""

    root: Path

    @property
    def store(self) -> Path:
        return self.root / "catalog.sqlite3"

    @property
    def feeds(self) -> Path:
        return self.root / "feeds"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def tracking(self) -> Path:
        return self.root / "tracking"

    @property
    def refresh_state(self) -> Path:
        return self.root / "state" / "refresh.json"

    def history(self, stem: str) -> Path:
        return self.root / "history" / stem

    def report(self, stem: str) -> Path:
        return self.reports / f"{stem}.json"

    def feed_state(self, stem: str) -> Path:
        return self.root / "state" / "feeds" / f"{stem}.json"

    def lock(self, name: str) -> Path:
        return self.root / f".lock-{name}"

    def published(self) -> list[PublishedFeed]:
        """Every published feed, by stem (unreadable state files are skipped)."""
        folder = self.root / "state" / "feeds"
        found = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                found.append(PublishedFeed.from_json(json.loads(path.read_text("utf-8"))))
            except (OSError, ValueError, TypeError, KeyError):
                continue
        return found

    def withdraw(self, stem: str) -> None:
        """Stop publishing feed `stem`: its state goes, so the server no longer serves it
        and /health no longer checks it; the file and its history stay on disk."""
        self.feed_state(stem).unlink(missing_ok=True)

    def published_feed(self, stem: str) -> PublishedFeed | None:
        return next((f for f in self.published() if f.stem == stem), None)


_FIELDS = {"stem", "channel", "file", "content_type", "items", "published_at", "bytes",
           "sha256", "country", "language", "currency", "kind"}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file in the same folder, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
