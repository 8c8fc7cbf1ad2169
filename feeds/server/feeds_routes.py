"""`/feeds/<key>/<file>` and `/reports/<key>/<stem>.json`: published files, straight from disk.

Nothing is rendered on request. Each response comes from ONE open descriptor:
its `fstat` gives the ETag, Last-Modified and length, and the body streams
from it, so a feed replaced by the build (`os.replace`) while it is being
downloaded reaches the client whole, old or new, never mixed. Conditional
requests (304), ranges (206) and the build's precompressed `<file>.gz`
(`Content-Encoding: gzip`, its own ETag) are handled here.

Range follows RFC 9110 section 14: one `bytes` range is served (206, or 416 when
it lies wholly beyond the end); another unit, several ranges or a malformed
spec are ignored, and the whole file is the answer (200).

A wrong key and an unknown file give the same 404, so neither can be probed.
"""

from __future__ import annotations

import errno
import hmac
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from flask import Blueprint, Response, abort, request, send_file

from feeds.server.context import context

__all__ = ["CONTENT_TYPES", "bp", "key_matches"]

bp = Blueprint("feeds", __name__)

#: Content-Type by extension; feeds are UTF-8 text.
CONTENT_TYPES = {
    "xml": "application/xml; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}
# Stems as the config allows them (feeds.config._FILE_STEM); no dot files, no .gz, no paths.
_FEED_NAME = re.compile(r"^([a-z0-9][a-z0-9_-]{0,63})\.(" + "|".join(CONTENT_TYPES) + r")$")
_REPORT_NAME = re.compile(r"^([a-z0-9][a-z0-9_-]{0,63})\.json$")
# A .gz this much older than its feed was left behind by a build that stopped between
# the two writes; the order of the two writes is the build's, so allow some slack.
STALE_GZ_SECONDS = 300
_MISSING = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP}
# One byte-range-spec (`first-[last]`) or suffix-range (`-length`), RFC 9110 14.1.1;
# the unit is case-insensitive. A list of ranges does not match: it is ignored.
_ONE_BYTE_RANGE = re.compile(r"bytes=(?:([0-9]+)-([0-9]*)|-([0-9]+))", re.IGNORECASE)
# Positions with more digits than this are beyond any file (and int() of a huge
# string of digits is slow, then refused).
_MAX_DIGITS = 18

Opened = tuple[BinaryIO, os.stat_result]


def key_matches(given: str | None, key: str) -> bool:
    """Whether `given` is the access key, compared in constant time."""
    return bool(key) and hmac.compare_digest((given or "").encode("utf-8"), key.encode("utf-8"))


@bp.get("/feeds/<key>/<name>")
def feed(key: str, name: str) -> Response:
    """The published feed `name` (GET and HEAD), gzipped when the client accepts it."""
    ctx = context()
    match = _FEED_NAME.match(name)
    if not key_matches(key, ctx.key) or match is None:
        abort(404)
    # Only what the state says is published: a withdrawn feed (its channel disabled)
    # stays on disk but is no longer served.
    record = next((f for f in ctx.layout.published() if f.file == name), None)
    if record is None:
        abort(404)
    opened = _open_feed(ctx.layout.feeds / name, gzip_ok=_accepts_gzip())
    if opened is None:
        abort(404)
    fh, st, encoding = opened
    # The channel's format declared the type when the file was published.
    content_type = record.content_type or CONTENT_TYPES[match.group(2)]
    return _file_response(fh, st, content_type, encoding)


@bp.get("/reports/<key>/<name>")
def report(key: str, name: str) -> Response:
    """The last build's report of one feed (counts and violations) as JSON."""
    ctx = context()
    match = _REPORT_NAME.match(name)
    if not key_matches(key, ctx.key) or match is None:
        abort(404)
    opened = _open_regular(ctx.layout.report(match.group(1)))
    if opened is None:
        abort(404)
    return _file_response(*opened, CONTENT_TYPES["json"], None)


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def _open_regular(path: Path) -> Opened | None:
    """`path` opened for reading with its fstat, or None if it is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in _MISSING:
            return None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise


def _open_feed(path: Path, *, gzip_ok: bool) -> tuple[BinaryIO, os.stat_result, str | None] | None:
    """The .gz variant when wanted and current, else the feed itself; None if there is none."""
    if gzip_ok:
        gz = _open_regular(path.with_name(path.name + ".gz"))
        if gz is not None:
            if _gz_current(gz[1], path):
                return gz[0], gz[1], "gzip"
            gz[0].close()
    plain = _open_regular(path)
    return None if plain is None else (plain[0], plain[1], None)


def _gz_current(gz: os.stat_result, path: Path) -> bool:
    """Whether the .gz belongs to the feed at `path` (which must still exist)."""
    try:
        feed_mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return False  # the feed was withdrawn; do not keep serving its .gz
    return feed_mtime - gz.st_mtime <= STALE_GZ_SECONDS


def _etag(st: os.stat_result, encoding: str | None) -> str:
    """A strong ETag from the open file's identity; the gzip variant's differs."""
    tag = f"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}"
    return f"{tag}-gz" if encoding else tag


def _file_response(fh: BinaryIO, st: os.stat_result, mimetype: str,
                   encoding: str | None) -> Response:
    """Stream `fh` with validators from `st`; 304 / 206 / 416 as the request asks.

    werkzeug's send_file only handles Range for a path (it cannot size a file
    object), so the length is set here and `make_conditional` gets it explicitly.
    """
    try:
        response = send_file(fh, mimetype=mimetype, etag=_etag(st, encoding),
                             last_modified=st.st_mtime, conditional=False)
        # Exactly ours: werkzeug would append a second charset to "text/csv; charset=utf-8".
        response.headers["Content-Type"] = mimetype
        if encoding:
            response.headers["Content-Encoding"] = encoding
        response.vary.add("Accept-Encoding")
        response.content_length = st.st_size
        response.make_conditional(_range_environ(request.environ, st.st_size),
                                  accept_ranges=True, complete_length=st.st_size)
    except BaseException:
        fh.close()
        raise
    return response



def _range_environ(environ: dict, length: int) -> dict:
    """`environ` with its Range header as werkzeug should see it (RFC 9110 14.2).

    werkzeug answers 416 to any Range it cannot serve, where the RFC says to
    ignore an unknown unit (and allows ignoring several ranges or a bad spec),
    and 416 to a suffix longer than the file, which means the whole file.
    """
    header = environ.get("HTTP_RANGE")
    if header is None:
        return environ
    honoured = dict(environ)
    value = _honoured_range(header, length)
    if value is None:
        del honoured["HTTP_RANGE"]
    else:
        honoured["HTTP_RANGE"] = value
    return honoured


def _honoured_range(header: str, length: int) -> str | None:
    """The Range for werkzeug, in one of two forms it serves right; None to ignore it.

    - one satisfiable bytes range: its absolute form `bytes=first-last` (206);
    - one unsatisfiable (it starts at or past the end, or is the suffix `-0`):
      `bytes=<length>-` (416, with `Content-Range: bytes */<length>`);
    - another unit, several ranges, or a malformed or invalid spec (a last
      position before the first): None (the whole file, 200).
    """
    found = _ONE_BYTE_RANGE.fullmatch(header.strip(" \t"))
    if found is None or length <= 0:
        return None
    first, last, suffix = found.groups()
    if suffix is not None:
        size = _position(suffix)
        return f"bytes={max(0, length - size)}-{length - 1}" if size else f"bytes={length}-"
    start, end = _position(first), _position(last) if last else None
    if end is not None and end < start:
        return None
    if start >= length:
        return f"bytes={length}-"
    return f"bytes={start}-{length - 1 if end is None else min(end, length - 1)}"


def _position(digits: str) -> int:
    """A byte position; one too long to matter counts as far past any file."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else 10 ** _MAX_DIGITS
