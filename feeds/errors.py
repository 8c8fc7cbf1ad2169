"""Every failure vendre-feeds raises, under one base class.

The tree::

    FeedsError                      base; `str(exc)` is one line fit for a user
     ├── ConfigError                a missing or malformed setting (CLI exit 2)
     ├── VendreError                reading the shop's /API/1 failed
     │    ├── VendreAuthError       401/403: the API key was refused
     │    ├── VendreUnavailable     timeouts and connection errors, after retries
     │    ├── VendreResponseError   an HTTP error status or a body that is not the envelope
     │    └── IncompleteSync        the pages did not add up to what the first page promised
     ├── StoreError                 the local store is missing, locked or unreadable
     ├── LockBusy                   another sync/build holds the data-dir lock
     ├── BuildError                 a feed could not be built or published
     │    ├── FeedInvalid           the rendered output is not well-formed / not the channel's shape
     │    ├── DropGuardTripped      the item count fell more than `max_drop_percent`
     │    └── UploadError           copying the published files to object storage failed
     └── NotFound                   an unknown channel, product, category or order

Bad catalogue *data* is never an exception: it becomes a `Violation` with a
severity (see `feeds.core.validation`). These exceptions are translated once, at the
CLI (`feeds.cli`) and HTTP (`feeds.server`) boundaries. No message may contain a
secret: callers pass URLs without keys, and the key never enters a URL.
"""

from __future__ import annotations

__all__ = [
    "BuildError",
    "ConfigError",
    "DropGuardTripped",
    "FeedInvalid",
    "FeedsError",
    "IncompleteSync",
    "LockBusy",
    "NotFound",
    "StoreError",
    "UploadError",
    "VendreAuthError",
    "VendreError",
    "VendreResponseError",
    "VendreUnavailable",
]


class FeedsError(Exception):
    """Base of every vendre-feeds failure. The message is one line for a user."""

    exit_code = 1


class ConfigError(FeedsError):
    """A setting is missing or malformed; the message names the key."""

    exit_code = 2


class VendreError(FeedsError):
    """Reading the shop's API failed."""


class VendreAuthError(VendreError):
    """The shop answered 401 or 403."""


class VendreUnavailable(VendreError):
    """The shop could not be reached (timeouts, connection errors) after retries."""


class VendreResponseError(VendreError):
    """The shop answered with an error status or a body that is not the list envelope."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class IncompleteSync(VendreError):
    """The pages read did not add up to the total the first page promised."""


class StoreError(FeedsError):
    """The local store is missing or unreadable."""


class LockBusy(FeedsError):
    """Another sync or build is running on the same data directory."""


class BuildError(FeedsError):
    """A feed could not be built or published."""


class FeedInvalid(BuildError):
    """The rendered output failed the parse-back check; it was not published."""


class DropGuardTripped(BuildError):
    """The item count fell by more than the allowed percentage; not published."""


class UploadError(BuildError):
    """Copying the published files to object storage failed; the local files and the
    previous objects stay, and the next run uploads what is missing or different."""


class NotFound(FeedsError):
    """An unknown channel, product, category or order was asked for."""
