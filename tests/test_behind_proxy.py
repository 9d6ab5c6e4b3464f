"""The service behind nginx exactly as deploy/nginx.conf sets it up: Debian's nginx terminating TLS
(a self-signed certificate for localhost) in front of a real server on loopback that trusts it as
its proxy. The page over HTTPS in Chromium, a session streamed over wss and redeemed once, a
forged X-Forwarded-For that names no one, an upload above nginx's default body limit."""
import contextlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from browser_util import chrome, need_chromium, wait_for_verdict, write_y4m
from conftest import need_shared
from marginlive.challenge.session import SessionConfig
from marginlive.server.app import ServerConfig, create_app
from server_util import UNPACED_FPS, free_port, running

CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"
CLIENT = "127.0.0.2"    # the browser's address as nginx sees it: any loopback address but the proxy's


def nginx_binary() -> str | None:
    """Debian's nginx: on the PATH, or in /usr/sbin where a user's PATH leaves it out."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def need_nginx():
    if not nginx_binary() or not shutil.which("openssl"):
        pytest.skip("needs Debian's nginx and openssl (make test installs them as root)")


def certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def write_site(folder: Path, port: int, upstream: str) -> Path:
    """deploy/nginx.conf with its @...@ values filled in, at ``folder``/site.conf, and a self-signed
    certificate for it; returns the certificate."""
    cert, key = certificate(folder)
    site = CONF.read_text()
    for k, v in {"LISTEN": f"127.0.0.1:{port}", "SERVER_NAME": "localhost", "CERTIFICATE": str(cert),
                 "CERTIFICATE_KEY": str(key), "UPSTREAM": upstream}.items():
        site = site.replace(f"@{k}@", v)
    assert not re.search(r"@[A-Z_]+@", site), "deploy/nginx.conf names a value the test does not fill"
    (folder / "site.conf").write_text(site)
    return cert


def write_main(folder: Path, spool: Path) -> Path:
    """A minimal main configuration around site.conf: pid, logs and body buffers of its own.
    The buffers go to ``spool``, open to nginx's workers: they run as nobody where the test runs
    as root, and pytest's folders are its user's alone."""
    temps = ""
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (spool / kind).mkdir()
        (spool / kind).chmod(0o777)     # not mkdir's mode, which the umask narrows
        temps += f"  {kind}_temp_path {spool / kind};\n"
    conf = folder / "nginx.conf"
    conf.write_text(f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
                    "events { worker_connections 64; }\n"
                    f"http {{\n  access_log off;\n{temps}  include {folder}/site.conf;\n}}\n")
    return conf


def wait_listening(proc, port: int, timeout_s: float = 15.0):
    deadline = time.time() + timeout_s
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"nginx did not start: {proc.stderr.read().decode()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if time.time() > deadline:
            raise AssertionError(f"nginx did not listen in {timeout_s:g} s")
        time.sleep(0.05)


@contextlib.contextmanager
def nginx(upstream: str, folder: Path):
    """Debian's nginx running deploy/nginx.conf in front of ``upstream`` (host:port), its files in
    ``folder``; yields (the proxy's port, its certificate)."""
    need_nginx()
    port = free_port()
    cert = write_site(folder, port, upstream)
    spool = Path(tempfile.mkdtemp(prefix="marginlive-nginx-"))
    try:
        spool.chmod(0o755)
        conf = write_main(folder, spool)
        proc = subprocess.Popen([nginx_binary(), "-p", str(folder), "-e",
                                 str(folder / "error.log"), "-c", str(conf), "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_listening(proc, port)
            yield port, cert
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def make_app(model, tmp_path):
    session = SessionConfig(n_challenges=1, challenge_timeout_s=1.0, retries=0, passive_min_frames=3,
                            passive_window=5, actions=("raise_right_hand",))
    return create_app(ServerConfig(model=str(model), gallery=str(tmp_path / "g.db"), session=session,
                                   max_fps=UNPACED_FPS, secret=b"proxy-test-secret-0123456789abcdef",
                                   admin_token="admin-token-for-tests"))


# the TLS and WebSocket handshake through nginx, in seconds: websockets' 10 s default was once exceeded on
# a 2-core machine still busy with the packages `make system` had just installed (a refusal then read as
# a timeout, not the 403 asserted)
OPEN_TIMEOUT = 60


@pytest.fixture
def proxied(always_real_model, tmp_path):
    """(the app, the proxy's https base URL, its certificate): the server trusts 127.0.0.1, nginx's
    address toward it."""
    app = make_app(always_real_model, tmp_path)
    with running(app, trusted_proxies=("127.0.0.1",)) as upstream, nginx(upstream, tmp_path) as (port, cert):
        yield app, f"https://localhost:{port}", cert


def client(cert, source: str = CLIENT) -> httpx.Client:
    """HTTPS from the loopback address ``source``, trusting only the test's certificate."""
    transport = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(cert)), local_address=source)
    return httpx.Client(transport=transport, trust_env=False, timeout=30)


def test_a_session_streams_over_wss_and_its_verdict_redeems_once(proxied, live_frames):
    import cv2
    app, base, cert = proxied
    frames = [cv2.imencode(".jpg", f.image)[1].tobytes() for f in live_frames]
    with client(cert) as c:
        health = c.get(f"{base}/health")
        assert health.json()["status"] == "ok" and "max-age" in health.headers["strict-transport-security"]
        assert health.headers["x-frame-options"] == "DENY"            # the server's own headers pass through
        made = c.post(f"{base}/v1/sessions", json={"nonce": "n-1", "audience": "app"}).json()
        ctx = ssl.create_default_context(cafile=str(cert))
        # the page's own origin, as a browser sends it: the Host nginx passes on must match it
        with connect(base.replace("https", "wss") + made["stream"], ssl=ctx, proxy=None, open_timeout=OPEN_TIMEOUT,
                     additional_headers={"Origin": base}, source_address=(CLIENT, 0)) as ws:
            for i in range(400):
                ws.send(frames[i % len(frames)])
                m = json.loads(ws.recv())
                if "verdict" in m:
                    break
        assert m["state"] == "rejected" and m["verdict"]     # the frames never raise a hand
        body = {"token": m["verdict"], "nonce": "n-1", "audience": "app"}
        first = c.post(f"{base}/v1/verdicts/verify", json=body)
        assert first.status_code == 403 and first.json()["signature_valid"] and not first.json()["accepted"]
        assert c.post(f"{base}/v1/verdicts/verify", json=body).status_code == 409


def test_a_forged_forwarded_for_names_no_client(proxied):
    app, base, cert = proxied
    with client(cert) as c:
        sid = c.post(f"{base}/v1/sessions", headers={"X-Forwarded-For": "203.0.113.7"}).json()["session_id"]
    # the address nginx saw, not the one the client wrote: limits and lockouts count the real one
    assert app.state.ml.store.get(sid).client == CLIENT


def test_another_origin_cannot_open_a_stream(proxied):
    app, base, cert = proxied
    with client(cert) as c:
        made = c.post(f"{base}/v1/sessions", json={"nonce": "n-2"}).json()
    with pytest.raises(Exception, match="403"):
        connect(base.replace("https", "wss") + made["stream"], proxy=None, source_address=(CLIENT, 0),
                open_timeout=OPEN_TIMEOUT, ssl=ssl.create_default_context(cafile=str(cert)),
                additional_headers={"Origin": "https://evil.example"})


def test_an_upload_above_nginx_default_limit_reaches_the_server(proxied):
    app, base, cert = proxied
    with client(cert) as c:
        r = c.post(f"{base}/v1/liveness", content=os.urandom(1_500_000),
                   headers={"authorization": "Bearer admin-token-for-tests"})
    # the server's own answer (JSON), not nginx's 413 page for bodies above 1 MiB
    assert r.status_code == 400 and "not a readable image" in r.json()["detail"]


@pytest.mark.slow
def test_the_page_over_https_reaches_a_verdict(always_real_model, tmp_path):
    need_chromium()
    y4m = tmp_path / "live.y4m"
    assert write_y4m(need_shared("data", "videos", "live-1.webm"), y4m) > 30
    app = make_app(always_real_model, tmp_path)
    with running(app, trusted_proxies=("127.0.0.1",)) as upstream, nginx(upstream, tmp_path) as (port, _):
        driver = chrome(y4m, "--ignore-certificate-errors")
        try:
            driver.get(f"https://localhost:{port}/?autostart=1")
            verdict, seen, _ = wait_for_verdict(driver)
            token = driver.find_element("id", "verdict").text
        finally:
            driver.quit()
    assert verdict == "rejected", seen                  # the video raises no hand
    assert "Raise your right hand" in seen and token.startswith("signed verdict: ")
