"""What a request brings into the logs cannot forge a line or drive a terminal.

The access log and error lines write the decoded request path; `%0a` in it must
not start a line that reads as a record of its own, and `%1b[2J` must not reach
a terminal as ESC. Control characters are escaped, a traceback's lines are
indented, and the key masking still holds.
"""

from __future__ import annotations

import logging
import re
import socket

import pytest

from feeds.server.factory import KeyPathFilter, loggable, printable
from tests.server.conftest import feed_xml

FORGED = "2026-11-28 12:00:00,000 ERROR feeds.server: disk failed, call 555-0100"
# caplog's format: "LEVEL    logger:file.py:line message"; a record starts at column 0.
RECORD_START = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+:")


def _records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.split(".")[0] in {"feeds", "waitress"}]


def _assert_one_record_per_line_start(text: str) -> None:
    """Every line of the formatted log starts a record or is an indented continuation."""
    assert "\x1b" not in text and "\r" not in text
    for line in text.splitlines():
        assert RECORD_START.match(line) or line.startswith("  "), f"forged line: {line!r}"


@pytest.mark.parametrize(("raw", "logged"), [
    ("/a\nb", "/a\\nb"),
    ("/a\r\nb", "/a\\r\\nb"),
    ("\x1b[2J", "\\x1b[2J"),
    ("\x9b2J", "\\x9b2J"),  # CSI, the one-byte ESC [
    ("tab\there", "tab\\there"),
    ("nul\x00del\x7f", "nul\\x00del\\x7f"),
    ("a\u2028b\u2029c\x85d", "a\\u2028b\\u2029c\\x85d"),  # what str.splitlines splits on
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # right-to-left override
    ("/feeds/åäö/ok – ✓", "/feeds/åäö/ok – ✓"),  # printable text stays as it is
])
def test_printable_escapes_control_characters(raw, logged):
    assert printable(raw) == logged


def test_loggable_escapes_and_still_masks_the_key(key):
    assert loggable("GET", f"/feeds/{key}/google.xml\n{FORGED}") == \
        f"GET /feeds/***/google.xml\\n{FORGED}"
    assert loggable("GET", f"/?key={key}&x=\x1b[2J") == "GET /?key=***&x=\\x1b[2J"


def test_access_log_of_an_injected_path_is_one_line(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/no/such%0a" + FORGED.replace(" ", "%20") + "%1b[2J")
    assert response.status_code == 404
    access = [r for r in _records(caplog) if r.name == "feeds.server.access"]
    assert len(access) == 1
    message = access[0].getMessage()
    assert "\n" not in message and "\x1b" not in message
    assert f"GET /no/such\\n{FORGED}\\x1b[2J 404" in message
    _assert_one_record_per_line_start(caplog.text)


def test_error_line_and_traceback_cannot_forge_a_record(app, client, caplog, key):
    def explode(rest: str):
        raise RuntimeError(f"cannot serve\n{FORGED}\x1b[2J")

    app.add_url_rule("/boom/<rest>", view_func=explode)
    with caplog.at_level(logging.INFO):
        response = client.get(f"/boom/x%0a{FORGED.replace(' ', '%20')}?key={key}")
    assert response.status_code == 500 and response.data == b"500 Internal Server Error\n"
    [error] = [r for r in _records(caplog) if r.levelno == logging.ERROR]
    assert error.getMessage() == f"error on GET /boom/x\\n{FORGED}?key=***"
    assert error.exc_text.startswith("  Traceback (most recent call last):\n")
    assert error.exc_text.endswith(f"\n  RuntimeError: cannot serve\n  {FORGED}\\x1b[2J")
    assert key not in caplog.text
    _assert_one_record_per_line_start(caplog.text)


def test_waitress_messages_are_escaped_too(app, caplog, key):
    assert any(isinstance(f, KeyPathFilter) for f in logging.getLogger("waitress").filters)
    with caplog.at_level(logging.INFO):
        logging.getLogger("waitress").info("Client disconnected while serving %s",
                                           f"/feeds/{key}/x\n{FORGED}\x1b[2J")
    assert caplog.records[-1].getMessage() == \
        f"Client disconnected while serving /feeds/***/x\\n{FORGED}\\x1b[2J"
    _assert_one_record_per_line_start(caplog.text)


def test_a_real_request_with_raw_and_encoded_controls(live, app, publisher, key, caplog):
    """Through waitress: percent-encoded controls (decoded into the path) and raw
    ones in the query (which waitress passes on as they came)."""
    publisher.feed("google", feed_xml(3))
    server = live(app)
    port = server.server.effective_port
    target = (f"/feeds/{key}/google.xml%0a{FORGED.replace(' ', '%20')}%1b[2J"
              "?q=\x1b[2J\x1b]0;owned\x07")
    with caplog.at_level(logging.INFO):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                         .encode("latin-1"))
            answer = b""
            while chunk := sock.recv(65536):  # the access line is written before the answer
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 404 ")
    text = caplog.text
    assert f"GET /feeds/***/google.xml\\n{FORGED}\\x1b[2J?q=\\x1b[2J\\x1b]0;owned\\x07 404" \
        in text
    assert key not in text
    _assert_one_record_per_line_start(text)
