"""Logging that can never print a secret.

Every handler installed here carries a `SecretFilter`: the Vendre API key and
the feed access key are replaced by `***` in the message and its arguments
before anything is written, wherever the text came from.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

__all__ = ["SecretFilter", "add_secret", "mask", "setup_logging"]

_SECRETS: set[str] = set()
MASK = "***"


def add_secret(*values: str) -> None:
    """Register values that must never appear in a log line (short values are ignored)."""
    _SECRETS.update(v for v in values if v and len(v) >= 4)


def mask(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every registered (and every given) secret replaced by ***."""
    for secret in sorted(set(secrets or ()) | _SECRETS, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """Rewrites each record so its final message holds no registered secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(verbosity: int = 0) -> None:
    """Log to stderr: warnings by default, info with -v, debug with -vv, errors with -q."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        verbosity, logging.DEBUG if verbosity > 1 else logging.ERROR)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_vendre_feeds", False)]:
        root.removeHandler(old)
    handler._vendre_feeds = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; keep it at our debug level only.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbosity > 1 else logging.WARNING)
