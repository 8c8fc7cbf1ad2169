"""Logging that can never print a secret, and the one scrubber of secrets in text.

Every handler installed here carries a `SecretFilter`: the registered secrets (the
Vendre API key, the feed access key, the marketplace credentials, an access token
once issued) are replaced by `***` in the message and its arguments before anything
is written, wherever the text came from.

A hostile server echoes a credential in whatever form it received it, so each secret
is masked in every form it travels in (`Secrets`): as given, URL-encoded (`quote`,
`quote_plus`, as in a form body or a query; also twice), JSON-escaped (also twice),
and base64 (HTTP Basic
auth sends `base64(id:token)`; no run of 16 characters of it survives, nor of the
base64 of a secret alone at any alignment). Mask first, then cut (`shown`): a text
cut first can keep all of a secret but its last character.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["SecretFilter", "Secrets", "add_secret", "add_secret_pair", "mask", "setup_logging",
           "shown"]

MASK = "***"
MIN_SECRET = 4  # shorter values are not masked: they would mask ordinary words
BASE64_RUN = 16  # no run this long of a secret's base64 may survive
_BASE64_CHARS = re.compile(rf"[A-Za-z0-9+/_-]{{{BASE64_RUN},}}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


class Secrets:
    """Secret values and the forms they travel in; `scrub(text)` masks every one.

    Thread-safe: a push may register its access token while another thread logs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._ordered: list[str] = []
        self._grams: set[str] = set()
        self.longest = 0

    def add(self, *values: str) -> None:
        """Register values (shorter than 4 characters are ignored)."""
        for value in values:
            if value and len(value) >= MIN_SECRET:
                self._register(_forms(value), _base64_variants(value.encode("utf-8")))

    def add_pair(self, user: str, password: str) -> None:
        """Register `user:password` as HTTP Basic auth sends it (base64)."""
        if not (user and password):
            return
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        # The header itself may come back base64-encoded once more.
        self._register(_forms(encoded), [encoded, *_base64_variants(encoded.encode())])

    def _register(self, forms: Iterable[str], encoded: Iterable[str]) -> None:
        with self._lock:
            self._forms.update(f for f in forms if len(f) >= MIN_SECRET)
            for text in encoded:
                # The URL-safe alphabet too: a JWT or a URL may carry it so.
                for variant in (text, text.translate(_URLSAFE)):
                    self._grams.update(variant[i:i + BASE64_RUN]
                                       for i in range(len(variant) - BASE64_RUN + 1))
            self._ordered = sorted(self._forms, key=len, reverse=True)
            self.longest = max([len(f) for f in self._forms] + [BASE64_RUN])

    def scrub(self, text: str) -> str:
        """`text` with every form of every secret replaced by ***."""
        with self._lock:
            ordered, grams = self._ordered, self._grams
        for form in ordered:
            if form in text:
                text = text.replace(form, MASK)
        if grams:
            text = _BASE64_CHARS.sub(lambda m: _mask_runs(m.group(0), grams), text)
        return text


_URLSAFE = str.maketrans("+/", "-_")


def _forms(value: str) -> list[str]:
    """`value` as given, URL-encoded and JSON-escaped (once, and twice: a JSON answer that
    quotes a JSON text)."""
    escaped = [json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]]
    encoded = [quote(value), quote(value, safe=""), quote_plus(value)]
    return [value, *encoded, *escaped, *(json.dumps(e)[1:-1] for e in escaped),
            # a form body (URL-encoded already) echoed URL-encoded once more
            *(quote(e, safe="") for e in encoded), *(quote_plus(e) for e in encoded)]


def _base64_variants(data: bytes) -> list[str]:
    """The base64 characters that encode `data` wherever it starts in a longer text: one
    variant per alignment, without the edge characters that depend on its neighbours."""
    found = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii").rstrip("=")
        start = 4 if shift else 0          # the group holding the padding bytes
        end = len(encoded) - (len(encoded) % 4 or 4) if len(encoded) > 4 else 0
        core = encoded[start:end]
        if len(core) >= BASE64_RUN:
            found.append(core)
    return found


def _mask_runs(run: str, grams: set[str]) -> str:
    """`run` (base64-alphabet characters) with every part that matches a registered
    base64 secret over 16 characters or more masked."""
    masked = bytearray(len(run))
    hit = False
    for i in range(len(run) - BASE64_RUN + 1):
        if run[i:i + BASE64_RUN] in grams:
            masked[i:i + BASE64_RUN] = b"\1" * BASE64_RUN
            hit = True
    if not hit:
        return run
    out, i = [], 0
    while i < len(run):
        if masked[i]:
            while i < len(run) and masked[i]:
                i += 1
            out.append(MASK)
        else:
            out.append(run[i])
            i += 1
    return "".join(out)


_SECRETS = Secrets()


def add_secret(*values: str) -> None:
    """Register values that must never appear in a log line or an output, in any of
    their forms (short values are ignored)."""
    _SECRETS.add(*values)


def add_secret_pair(user: str, password: str) -> None:
    """Register a pair of credentials sent as HTTP Basic auth (`base64(user:password)`)."""
    _SECRETS.add_pair(user, password)


def mask(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every registered (and every given) secret, in any form, replaced by ***."""
    text = _SECRETS.scrub(text)  # first: its whole forms (a Basic header) before any part
    extra = [s for s in secrets or () if s]
    if extra:
        local = Secrets()
        local.add(*extra)
        text = local.scrub(text)
    return text


def shown(text: str, limit: int, secrets: Iterable[str] | None = None) -> str:
    """Text from elsewhere (an answer's body, its error message) fit for one line, a log
    or a stored message: secrets masked first, then control characters replaced, then cut
    to `limit` characters. Only the start of a long text is scrubbed: enough that no
    secret reaching into the first `limit` characters survives in part."""
    extra = [s for s in secrets or () if s]
    margin = max([_SECRETS.longest, BASE64_RUN, *(6 * len(s) for s in extra)]) + 1
    text = mask(text[:limit + margin], extra)
    text = _UNPRINTABLE.sub(" ", text)
    return text if len(text) <= limit else text[:max(limit - 3, 0)] + "..."


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
