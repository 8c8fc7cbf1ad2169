"""deploy/nginx.conf, run by a real nginx on 127.0.0.1 in front of the real server.

The shipped file is used as it is, with only what must differ on a test machine
substituted: ports, the upstream's port, the certificate (a throwaway
self-signed one from `openssl`), log paths and, for one test, the header
timeout. Each substitution must find its text, so a change to the shipped file
that the test no longer covers fails here instead of being skipped over.

Skips where nginx or openssl is absent; fails instead where
VENDRE_FEEDS_REQUIRE_PROXY=1 (CI, which installs them).
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, make_config
from tests.server.conftest import ACCESS_KEY, feed_xml

DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"
# Read at import: tests/conftest.py removes VENDRE_* variables from each test's environment.
REQUIRED = os.environ.get("VENDRE_FEEDS_REQUIRE_PROXY") == "1"
BODY = feed_xml(2000)


def tool(name: str) -> str:
    """The path of `name` (also in /usr/sbin, often not on a user's PATH), or a skip."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        message = f"{name} is not installed (apt-get install {name})"
        if REQUIRED:
            pytest.fail(f"{message}, and VENDRE_FEEDS_REQUIRE_PROXY=1")
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def substitute(text: str, old: str, new: str) -> str:
    assert old in text, f"deploy/nginx.conf no longer has {old!r}; update this test"
    return text.replace(old, new)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for feeds.shop.se and 127.0.0.1, and its key."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=feeds.shop.se",
                    "-addext", "subjectAltName=DNS:feeds.shop.se,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@dataclass
class Proxy:
    """A running nginx: its https and http base URLs, the CA to trust, its folder."""

    https: str
    http: str
    cert: Path
    folder: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.https, timeout=10,
                            verify=ssl.create_default_context(cafile=str(self.cert)))

    def logs(self) -> str:
        return "\n".join(p.read_text("utf-8", "replace") for p in self.folder.glob("*.log"))


def site_conf(upstream_port: int, https_port: int, http_port: int, folder: Path,
              cert: Path, key: Path, header_timeout: str | None) -> str:
    """deploy/nginx.conf with this machine's ports, paths and certificate."""
    text = DEPLOY_CONF.read_text("utf-8")
    text = substitute(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    text = substitute(text, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    text = substitute(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = substitute(text, "listen [::]:443 ssl;", "")
    text = substitute(text, "listen [::]:80;", "")
    text = substitute(text, "/etc/letsencrypt/live/feeds.shop.se/fullchain.pem", str(cert))
    text = substitute(text, "/etc/letsencrypt/live/feeds.shop.se/privkey.pem", str(key))
    text = substitute(text, "/var/log/nginx/", f"{folder}/")
    if header_timeout:
        text = substitute(text, "client_header_timeout 10s;",
                          f"client_header_timeout {header_timeout};")
    return text


def main_conf(folder: Path) -> str:
    """What nginx.conf around a site has, in `folder`: one process, in the foreground."""
    temp = "\n".join(f"    {kind}_temp_path {folder}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nmaster_process off;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/main-error.log warn;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n{temp}\n    access_log off;\n    include {folder}/site.conf;\n}}\n")


@pytest.fixture
def proxy(tmp_path) -> Iterator[Callable[..., Proxy]]:
    """`proxy(upstream_port, header_timeout=None)` starts nginx; all stop at teardown."""
    nginx = tool("nginx")
    running: list[subprocess.Popen] = []

    def start(upstream_port: int, header_timeout: str | None = None) -> Proxy:
        folder = tmp_path / f"nginx{len(running)}"
        folder.mkdir()
        cert, key = self_signed(folder)
        https_port, http_port = free_port(), free_port()
        (folder / "site.conf").write_text(site_conf(upstream_port, https_port, http_port,
                                                    folder, cert, key, header_timeout))
        (folder / "nginx.conf").write_text(main_conf(folder))
        args = [nginx, "-p", f"{folder}/", "-c", str(folder / "nginx.conf"), "-e", "stderr"]
        checked = subprocess.run([*args, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, f"nginx -t rejects deploy/nginx.conf:\n{checked.stderr}"
        with (folder / "stderr.log").open("wb") as stderr:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr)
        running.append(proc)
        _wait_listening(https_port, proc, folder / "stderr.log")
        return Proxy(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}",
                     cert, folder)

    yield start
    for proc in running:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(port: int, proc: subprocess.Popen, stderr: Path,
                    timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"nginx exited with {proc.returncode}:\n{stderr.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nginx does not listen on {port}")


@pytest.fixture
def upstream(tmp_path, live, app, publisher):
    """The real server, built as `serve` builds it, with google.xml (+ .gz) published."""
    publisher.feed("google", BODY, items=2000)
    publisher.sync_ok()
    settings = make_config(tmp_path, server={"access_key": ACCESS_KEY}).server
    return live(app, settings=settings)


def test_feed_health_and_404_through_the_proxy(proxy, upstream, key):
    front = proxy(upstream.server.effective_port)
    with front.client() as http:
        feed = http.get(f"/feeds/{key}/google.xml", headers={"Accept-Encoding": "identity"})
        with http.stream("GET", f"/feeds/{key}/google.xml",
                         headers={"Accept-Encoding": "gzip"}) as zipped:
            packed = b"".join(zipped.iter_raw())
        part = http.get(f"/feeds/{key}/google.xml",
                        headers={"Range": "bytes=0-9", "Accept-Encoding": "identity"})
        revalidated = http.get(f"/feeds/{key}/google.xml",
                               headers={"If-None-Match": feed.headers["etag"],
                                        "Accept-Encoding": "identity"})
        health = http.get("/health")
        status_page = http.get(f"/?key={key}")
        missing = http.get("/no/such/page")
        wrong_key = http.get("/feeds/wrong-key/google.xml")
    direct = httpx.get(f"{upstream.url}/feeds/{key}/google.xml",
                       headers={"Accept-Encoding": "identity"})
    assert feed.status_code == 200 and feed.content == BODY
    assert feed.headers["etag"] == direct.headers["etag"]
    assert feed.headers["x-content-type-options"] == "nosniff"  # the app's headers pass
    assert feed.headers["strict-transport-security"] == "max-age=31536000"
    assert feed.headers["server"] == "nginx"  # no version (server_tokens off)
    assert zipped.headers["content-encoding"] == "gzip" and gzip.decompress(packed) == BODY
    assert part.status_code == 206 and part.content == BODY[:10]
    assert revalidated.status_code == 304
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert status_page.status_code == 200  # the query reached the server
    # The server's own plain 404, not nginx's page: the paths went through.
    assert missing.status_code == wrong_key.status_code == 404
    assert missing.content == wrong_key.content == b"404 Not Found\n"


def test_plain_http_redirects_to_https(proxy, upstream, key):
    front = proxy(upstream.server.effective_port)
    r = httpx.get(f"{front.http}/health", timeout=10)
    assert r.status_code == 301 and r.headers["location"] == "https://127.0.0.1/health"


def test_a_trickled_header_is_cut_and_a_body_refused(proxy, upstream):
    front = proxy(upstream.server.effective_port, header_timeout="1s")
    port = int(front.https.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(front.cert))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="feeds.shop.se") as tls:
        tls.settimeout(0.2)
        tls.sendall(b"GET /health HTTP/1.1\r\nHost: feeds.shop.se\r\n")
        started, answer = time.monotonic(), None
        while time.monotonic() - started < 10:
            try:
                answer = tls.recv(1024)
                break
            except TimeoutError:
                tls.sendall(b"X-Trickle: 1\r\n")  # never idle, never done
            except (ConnectionError, ssl.SSLError):
                answer = b""
                break
        took = time.monotonic() - started
    assert answer == b"", "nginx answered a request whose header never ended"
    assert took < 3, f"the trickled header was cut after {took:.1f} s, not ~1 s"
    with front.client() as http:
        posted = http.post("/health", content=b"x" * 4096)
    assert posted.status_code == 413


def test_proxy_logs_never_show_the_key(proxy, upstream, key):
    front = proxy(upstream.server.effective_port)
    with front.client() as http:
        assert http.get(f"/feeds/{key}/google.xml").status_code == 200
        assert http.get(f"/?key={key}").status_code == 200
        assert http.get(f"/reports/{key}/google.json").status_code == 404
        assert http.get("/health").status_code == 200
    # Upstream gone: nginx's error log would carry the request line, key included.
    dead = proxy(free_port())
    with dead.client() as http:
        assert http.get(f"/feeds/{key}/google.xml").status_code == 502
    access = (front.folder / "vendre-feeds.access.log").read_text("utf-8")
    assert '"GET /feeds/***/google.xml HTTP/1.1" 200 ' in access
    assert '"GET /?*** HTTP/1.1" 200 ' in access
    assert '"GET /reports/***/google.json HTTP/1.1" 404 ' in access
    assert '"GET /health HTTP/1.1" 200 ' in access
    assert key not in front.logs() + dead.logs()


def test_webhooks_and_beacons_through_the_proxy(proxy, live, tmp_path, monkeypatch):
    """deploy/nginx.conf takes a webhook up to 1 MB and a beacon up to 4 KB; the beacon's
    client IP is the one nginx saw, not what the client wrote into X-Forwarded-For; the
    webhook secret is logged as ***."""
    import json

    from feeds.server import create_app
    from feeds.storage.inbox import Inbox

    secret = "proxy-hook-secret-Tk29xQ"
    monkeypatch.setenv("VENDRE_FEEDS_WEBHOOK_SECRET", secret)
    cfg = make_config(tmp_path, server={"access_key": ACCESS_KEY},
                      tracking={"site_key": "site1", "ga4_id": "G-ABCD1234"},
                      purchases={"enabled": True})
    upstream = live(create_app(cfg), settings=cfg.server)
    front = proxy(upstream.server.effective_port)
    order = json.dumps({"id": 5006, "pad": "x" * 500_000}).encode()
    beacon = json.dumps({"order": "5006", "consent": {
        "ad_storage": "granted", "analytics_storage": "granted", "ad_user_data": "granted",
        "ad_personalization": "granted"}}).encode()
    headers = {"Origin": "https://shop.example", "Content-Type": "text/plain",
               "X-Forwarded-For": "6.6.6.6"}
    with front.client() as http:
        assert http.post(f"/hooks/vendre/{secret}", content=order).status_code == 200
        assert http.post(f"/hooks/vendre/{secret}",
                         content=b"x" * (2 * 1024 * 1024)).status_code == 413
        assert http.post("/t/site1/seen", content=beacon, headers=headers).status_code == 204
        assert http.post("/t/site1/seen", content=b"x" * 5000,
                         headers=headers).status_code == 413
    inbox = Inbox.in_dir(cfg.data_dir)
    assert [h.order_id for h in inbox.webhooks()] == ["5006"]
    (kept,) = inbox.beacons_for(["5006"])["5006"]
    assert kept.data["ip"] == "127.0.0.1"  # the client nginx saw; 6.6.6.6 was its own claim
    access = (front.folder / "vendre-feeds.access.log").read_text("utf-8")
    assert '"POST /hooks/vendre/*** HTTP/1.1" 200 ' in access
    assert secret not in front.logs()
