"""The service against a hostile or careless internet (issue 20): verdicts that cannot be misread
or reused, caps and lockouts that cannot be sidestepped, idle streams closed, browser-facing
headers, multipart uploads, a corrupt gallery refused at start. A real uvicorn on loopback."""
import base64
import contextlib
import json
import logging
import socket
import time

import cv2
import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from marginlive.challenge.session import SessionConfig
from marginlive.errors import MarginliveError
from marginlive.server import tokens
from marginlive.server.app import ServerConfig, create_app
from marginlive.server.service import Refused
from server_util import UNPACED_FPS, closed_by_server, running

SECRET = b"test-secret-0123456789-0123456789"
ADMIN = "admin-token-for-tests"


def make_app(model, tmp_path, **kw):
    session = SessionConfig(n_challenges=1, challenge_timeout_s=1.0, retries=0, passive_min_frames=3,
                            passive_window=5, actions=("raise_right_hand",))
    kw.setdefault("max_fps", UNPACED_FPS)
    return create_app(ServerConfig(model=str(model), gallery=str(tmp_path / "g.db"), secret=SECRET,
                                   admin_token=ADMIN, session=session, **kw))


@pytest.fixture(scope="module")
def jpegs(live_frames):
    return [cv2.imencode(".jpg", f.image)[1].tobytes() for f in live_frames]


def run_to_verdict(addr, sid, frames, origin=None):
    headers = {"Origin": origin} if origin else None
    with connect(f"ws://{addr}/v1/sessions/{sid}/stream", additional_headers=headers) as ws:
        for i in range(400):
            ws.send(frames[i % len(frames)])
            m = json.loads(ws.recv())
            if "verdict" in m or "error" in m and "seq" not in m:
                return m
    raise AssertionError("no verdict")


def test_a_rejected_verdict_verifies_as_not_accepted_and_only_once(always_fake_model, tmp_path, jpegs):
    with running(make_app(always_fake_model, tmp_path)) as addr:
        sid = httpx.post(f"http://{addr}/v1/sessions", json={"nonce": "n-123", "audience": "bank"}).json()["session_id"]
        m = run_to_verdict(addr, sid, jpegs)
        assert m["state"] == "rejected"
        url = f"http://{addr}/v1/verdicts/verify"
        assert httpx.post(url, json={"token": m["verdict"], "nonce": "another"}).status_code == 400
        assert httpx.post(url, json={"token": m["verdict"], "audience": "shop"}).status_code == 400
        r = httpx.post(url, json={"token": m["verdict"], "nonce": "n-123", "audience": "bank"})
        body = r.json()
        assert r.status_code == 403 and "valid" not in body        # 200 is an acceptance's alone
        assert body["signature_valid"] is True and body["accepted"] is False and body["verdict"] == "rejected"
        assert body["detail"].startswith("the verdict is a rejection: ")
        assert body["session_id"] == sid and body["claims"]["nonce"] == "n-123"
        assert httpx.post(url, json={"token": m["verdict"]}).status_code == 409     # one-time


def test_malformed_tokens_and_bodies_get_4xx(always_real_model, tmp_path):
    good = tokens.sign({"sid": "s", "jti": "s", "verdict": "accepted"}, SECRET)
    head, payload, sig = good.split(".")
    b64 = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()  # noqa: E731
    last = sig[-1]
    respelled = sig[:-1] + ("B" if last == "A" else "A")   # other trailing bits: another spelling
    bad = [head + "." + payload + "." + sig + "=", head + "=." + payload + "." + sig, head + "." + payload + "." + respelled,
           "a.b", "", "x" * 5000] + [f"{b64(h)}.{payload}.{sig}" for h in ([1, 2], 3, "HS256", None)]
    # deeper than Python's parser goes
    nested = base64.urlsafe_b64encode(b"[" * 1500 + b"]" * 1500).rstrip(b"=").decode()
    bad += [f"{nested}.{payload}.{sig}", f"{head}.{nested}.{sig}"]
    with running(make_app(always_real_model, tmp_path)) as addr:
        url = f"http://{addr}/v1/verdicts/verify"
        for t in bad:
            r = httpx.post(url, json={"token": t})
            assert r.status_code == 400 and r.json().get("accepted") in (False, None), t[:80]
        assert httpx.post(url, content=b"[1]").status_code == 400
        assert httpx.post(url, content=b"{" * 100).status_code == 400
        for deep in (b"[" * 4000 + b"]" * 4000, b'{"":' * 1500 + b"1" + b"}" * 1500):
            assert httpx.post(url, content=deep).status_code == 400
            assert httpx.post(f"http://{addr}/v1/sessions", content=deep).status_code == 400
        assert httpx.post(url, content=b" " * 20000).status_code == 413
        assert httpx.post(f"http://{addr}/v1/sessions", json={"nonce": 5}).status_code == 400
    with pytest.raises(tokens.TokenError):
        tokens.verify(head + "." + payload + "." + respelled, SECRET)
    assert tokens.verify(good, SECRET)["verdict"] == "accepted"


def test_a_field_a_route_does_not_know_is_refused_not_ignored(always_real_model, tmp_path):
    """A misspelt binding would otherwise pass unnoticed: "expected_identiy" ignored makes a session
    that accepts anyone, "audiance" ignored redeems a verdict bound to another application."""
    with running(make_app(always_real_model, tmp_path)) as addr:
        r = httpx.post(f"http://{addr}/v1/sessions", json={"nonce": "n", "expected_identiy": "alice"})
        assert r.status_code == 400 and r.json()["detail"] == (
            "unknown field 'expected_identiy': this route takes nonce, audience, expected_identity, enrol")
        r = httpx.post(f"http://{addr}/v1/verdicts/verify", json={"token": "a.b.c", "audiance": "app"})
        assert r.status_code == 400 and "unknown field 'audiance'" in r.json()["detail"]
        assert httpx.post(f"http://{addr}/v1/sessions", json={"nonce": "n", "audience": "app",
                                                               "expected_identity": "alice"}).status_code == 201
        # a name no enrolment can hold (a space at its end) would reject every time: refused at once
        r = httpx.post(f"http://{addr}/v1/sessions", json={"expected_identity": "alice "})
        assert r.status_code == 400 and "no space at either end" in r.json()["detail"]


def test_a_server_that_could_score_no_frame_is_not_made(always_real_model, tmp_path):
    from marginlive.errors import InputError
    for bad in ({"max_fps": 0.0}, {"rate_per_s": 0.0}, {"max_fps": float("nan")}, {"header_timeout_s": 0.0},
                {"max_connections_per_address": 0}):
        with pytest.raises(InputError, match="must be above 0"):
            make_app(always_real_model, tmp_path, **bad)
    for bits in (0, 129):
        with pytest.raises(InputError, match="ipv6_prefix must be 1-128 bits"):
            make_app(always_real_model, tmp_path, ipv6_prefix=bits)


def test_open_sessions_are_capped_per_client_and_in_all(always_real_model, tmp_path):
    app = make_app(always_real_model, tmp_path, max_sessions_per_client=2, max_sessions=3)
    with running(app) as addr:
        url = f"http://{addr}/v1/sessions"
        assert [httpx.post(url).status_code for _ in range(2)] == [201, 201]
        r = httpx.post(url)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    svc = app.state.ml
    svc.create("10.0.0.2")
    with pytest.raises(Refused) as e:
        svc.create("10.0.0.3")
    assert e.value.http_status == 503 and e.value.retry_after >= 1


def test_a_session_streams_only_from_its_client_and_only_once(always_real_model, tmp_path):
    svc = make_app(always_real_model, tmp_path).state.ml
    e = svc.create("10.0.0.2")
    assert svc.claim(e.id, "10.0.0.9")[1][0] == 4403
    assert svc.claim(e.id, "10.0.0.2")[1] is None
    assert svc.claim(e.id, "10.0.0.2")[1][0] == 4409


def test_failures_counted_at_the_verdict_lock_out_streams_already_created(always_fake_model, tmp_path, jpegs):
    with running(make_app(always_fake_model, tmp_path, max_failures=1)) as addr:
        first, second = (httpx.post(f"http://{addr}/v1/sessions").json()["session_id"] for _ in range(2))
        assert run_to_verdict(addr, first, jpegs)["state"] == "rejected"
        with connect(f"ws://{addr}/v1/sessions/{second}/stream") as ws:
            m = json.loads(ws.recv(timeout=5))
        assert "verdict" not in m and "too many failed attempts" in m["error"]
        r = httpx.post(f"http://{addr}/v1/sessions")
        assert r.status_code == 429 and "retry-after" in r.headers


def test_a_silent_stream_ends_with_a_signed_timeout(always_real_model, tmp_path):
    with running(make_app(always_real_model, tmp_path, idle_timeout_s=0.5)) as addr:
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        with connect(f"ws://{addr}/v1/sessions/{sid}/stream") as ws:
            m = json.loads(ws.recv(timeout=5))
        claims = tokens.verify(m["verdict"], tokens.rejection_key(SECRET))
        assert claims["verdict"] == "rejected" and claims["reason"].startswith("timeout")


def test_browser_facing_headers_origin_and_no_cdn_docs(always_real_model, tmp_path, jpegs):
    with running(make_app(always_real_model, tmp_path)) as addr:
        for path in ("/", "/health", "/static/app.js"):
            h = httpx.get(f"http://{addr}{path}").headers
            assert "frame-ancestors 'none'" in h["content-security-policy"] and h["x-content-type-options"] == "nosniff"
            assert "camera=(self)" in h["permissions-policy"] and h["referrer-policy"] == "no-referrer"
        assert httpx.get(f"http://{addr}/docs").status_code == 404
        assert "/v1/verdicts/verify" in httpx.get(f"http://{addr}/openapi.json").json()["paths"]
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        with pytest.raises(InvalidStatus) as e:
            run_to_verdict(addr, sid, jpegs, origin="https://evil.example")
        assert e.value.response.status_code == 403
        m = run_to_verdict(addr, sid, jpegs, origin=f"http://{addr}")   # the page's own origin
        assert "verdict" in m


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(always_real_model, tmp_path):
    for trusted, want in (((), "127.0.0.1"), (("127.0.0.1",), "203.0.113.7")):
        app = make_app(always_real_model, tmp_path)
        with running(app, trusted_proxies=trusted) as addr:
            sid = httpx.post(f"http://{addr}/v1/sessions", headers={"X-Forwarded-For": "203.0.113.7"}).json()["session_id"]
        assert app.state.ml.store.get(sid).client == want


def test_an_ipv6_client_is_its_network_for_every_per_client_limit(always_real_model, tmp_path):
    """Addresses of one /64 (one home line: any of them is the client's to send from) share the
    per-client session cap; another /64 has its own, and an IPv4-mapped address is its IPv4 one."""
    app = make_app(always_real_model, tmp_path, max_sessions_per_client=2)
    with running(app, trusted_proxies=("127.0.0.1",)) as addr:
        def create(address):
            return httpx.post(f"http://{addr}/v1/sessions", headers={"X-Forwarded-For": address})
        first = create("2001:db8:1:2::a")
        assert app.state.ml.store.get(first.json()["session_id"]).client == "2001:db8:1:2::/64"
        assert create("2001:db8:1:2:ffff::b").status_code == 201
        assert create("2001:db8:1:2::c").status_code == 429
        assert create("2001:db8:1:3::a").status_code == 201
        assert [create(a).status_code for a in ("203.0.113.7", "::ffff:203.0.113.7", "203.0.113.7")] == [201, 201, 429]


def test_client_keys():
    from marginlive.server.security import client_key
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2:3:4:5:6", 56) == "2001:db8:1::/56"
    assert client_key("2001:db8::6", 128) == "2001:db8::6/128"
    assert client_key("::ffff:10.0.0.1") == "10.0.0.1" and client_key("10.0.0.1") == "10.0.0.1"
    assert client_key("testclient") == "testclient"


def test_multipart_upload_of_an_image(always_real_model, tmp_path, jpegs):
    with running(make_app(always_real_model, tmp_path)) as addr:
        url, h = f"http://{addr}/v1/liveness", {"authorization": f"Bearer {ADMIN}"}
        r = httpx.post(url, files={"image": ("face.jpg", jpegs[0], "image/jpeg")}, headers=h)
        assert r.status_code == 200 and len(r.json()["faces"]) == 1
        r = httpx.post(url, files={"note": (None, "no file")}, headers=h)
        assert r.status_code == 400 and "no file" in r.json()["detail"]
        r = httpx.post(url, content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x", **h})
        assert r.status_code == 400


@contextlib.contextmanager
def server_errors(caplog):
    """``caplog`` on uvicorn's error logger for the block (entered once the server runs: uvicorn sets
    up its loggers at start)."""
    log = logging.getLogger("uvicorn.error")
    log.addHandler(caplog.handler)
    try:
        yield
    finally:
        log.removeHandler(caplog.handler)


def logged_errors(caplog, wait_s=1.5) -> list[str]:
    """The server's ERROR lines (``caplog`` on uvicorn's error logger), after ``wait_s`` s for one to come."""
    deadline = time.time() + wait_s
    while time.time() < deadline and not any(r.levelno >= logging.ERROR for r in caplog.records):
        time.sleep(0.05)
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_upload_dropped_halfway_is_no_server_error(always_real_model, tmp_path, caplog):
    """A client that closes its connection before its body arrived (anyone can) leaves no traceback
    in the error log, and the server answers the next client."""
    with running(make_app(always_real_model, tmp_path)) as addr, server_errors(caplog):
        host, port = addr.split(":")
        for path, ctype, start in [("/v1/liveness", "image/jpeg", b"\xff\xd8\xff"),
                                   ("/v1/sessions", "application/json", b'{"nonce": ')]:
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: 1000\r\n\r\n"
            with socket.create_connection((host, int(port))) as s:
                s.sendall(head.encode() + start)
                time.sleep(0.2)                 # the handler is reading the body when the client goes
        assert logged_errors(caplog) == []
        assert httpx.get(f"http://{addr}/health").status_code == 200


def test_a_stream_dropped_before_its_answer_is_no_server_error(always_real_model, tmp_path, caplog, jpegs):
    """A client whose connection drops (no close frame) while its frame is scored leaves no traceback
    in the error log; its session ends, rejected (and counted as such)."""
    with running(make_app(always_real_model, tmp_path)) as addr, server_errors(caplog):
        sids = [httpx.post(f"http://{addr}/v1/sessions").json()["session_id"] for _ in range(3)]
        for sid in sids:
            with connect(f"ws://{addr}/v1/sessions/{sid}/stream") as ws:
                ws.send(jpegs[0])
                ws.socket.close()               # gone before the frame's answer is sent
        assert logged_errors(caplog) == []
        text = httpx.get(f"http://{addr}/metrics", headers={"authorization": f"Bearer {ADMIN}"}).text
        rejected = [ln for ln in text.splitlines() if ln.startswith('marginlive_sessions_total{verdict="rejected"')]
        assert sum(int(ln.rsplit(" ", 1)[1]) for ln in rejected) == 3


def test_a_connection_without_a_complete_request_in_time_is_closed(always_real_model, tmp_path, jpegs):
    """Sockets that send nothing, or headers a byte at a time, would hold uvicorn's connection limit
    (503 for everyone) for ever: they are closed at the header deadline; a stream, whose headers came
    in time, is not."""
    with running(make_app(always_real_model, tmp_path, header_timeout_s=0.5)) as addr:
        host, port = addr.split(":")
        silent, partial, second = (socket.create_connection((host, int(port)), timeout=3) for _ in range(3))
        partial.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        second.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert second.recv(1000).startswith(b"HTTP/1.1 200")
        second.sendall(b"GET /health HTTP/1.1\r\n")       # the next request on it, never finished
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        with connect(f"ws://{addr}/v1/sessions/{sid}/stream") as ws:
            time.sleep(1.0)
            for s in (silent, partial, second):
                assert closed_by_server(s)
            ws.send(jpegs[0])
            assert json.loads(ws.recv(timeout=5))["seq"] == 1
        assert httpx.get(f"http://{addr}/health").status_code == 200


def test_headers_past_their_cap_are_answered_431_and_the_connection_closed(always_real_model, tmp_path):
    """httptools holds a header line until it ends: a header sent without end would fill memory at the
    speed of the network. Past 64 KiB the request is refused; a browser's few KiB, cookies too, pass."""
    with running(make_app(always_real_model, tmp_path)) as addr:
        assert httpx.get(f"http://{addr}/health", headers={"cookie": "a=" + "b" * 30_000}).status_code == 200
        assert httpx.get(f"http://{addr}/health", headers={"x-a": "a" * 100_000}).status_code == 431   # one read
        host, port = addr.split(":")
        s = socket.create_connection((host, int(port)))
        s.settimeout(5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        answer, closed = b"", False
        try:
            for _ in range(64):                          # 4 MiB of one header line, if it is taken
                s.sendall(b"a" * 65536)
            while chunk := s.recv(4096):
                answer += chunk
            closed = True
        except socket.timeout:                           # taken in and waited on: no cap
            pass
        except OSError:                                  # reset: closed with the line unread, as wanted
            closed = True
        s.close()
        assert closed and (answer == b"" or answer.startswith(b"HTTP/1.1 431")), answer[:80]
        assert httpx.get(f"http://{addr}/health").status_code == 200


@pytest.mark.parametrize("proxy", [False, True])
def test_one_address_holds_a_few_connections_unless_it_is_the_trusted_proxy(always_real_model, tmp_path, proxy):
    """Beyond ``max_connections_per_address`` open sockets of one address, its next one is closed
    unanswered, until some close; a trusted proxy, which carries every client, is not capped; a
    stream stops counting once upgraded (the session caps bound those)."""
    app = make_app(always_real_model, tmp_path, max_sessions_per_client=8, max_connections_per_address=4)
    with running(app, trusted_proxies=("127.0.0.1",) if proxy else ()) as addr:
        sids = [httpx.post(f"http://{addr}/v1/sessions").json()["session_id"] for _ in range(6)]
        with contextlib.ExitStack() as stack:
            for sid in sids:
                stack.enter_context(connect(f"ws://{addr}/v1/sessions/{sid}/stream"))
            assert httpx.get(f"http://{addr}/health").status_code == 200
        host, port = addr.split(":")
        held = [socket.create_connection((host, int(port))) for _ in range(4)]
        extra = socket.create_connection((host, int(port)))
        assert closed_by_server(extra, 1.0) != proxy
        if not proxy:
            held.pop().close()
            time.sleep(0.2)
        assert httpx.get(f"http://{addr}/health").status_code == 200
        for s in held + [extra]:
            s.close()


def test_trusted_proxies_are_addresses_networks_or_anyone():
    from marginlive.server.protocol import trusted
    assert trusted("127.0.0.1", "127.0.0.1") and trusted("10.1.2.3", "192.168.0.1, 10.0.0.0/8")
    assert trusted("::1", ["::1"]) and trusted("203.0.113.9", "*")
    assert not trusted("10.1.2.3", "") and not trusted("10.1.2.3", "192.168.0.0/16,unix:/run/x.sock")


def test_a_corrupt_gallery_stops_the_server_at_start(always_real_model, tmp_path, capsys):
    from marginlive.cli import main
    bad = tmp_path / "g.db"
    bad.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(MarginliveError, match="corrupt"):
        make_app(always_real_model, tmp_path)
    rc = main(["serve", "--model", str(always_real_model), "--gallery", str(bad), "--port", "1"])
    err = capsys.readouterr().err
    assert rc != 0 and "corrupt" in err and "Traceback" not in err


def test_a_gallery_that_cannot_be_made_stops_the_server_at_start(always_real_model, tmp_path, capsys):
    """Not a 500 at the first enrolment: the folder of a gallery not made yet is checked at start."""
    from marginlive.cli import main
    (tmp_path / "file").write_text("a file where the gallery's folder would go")
    with pytest.raises(MarginliveError, match="a gallery cannot be made there"):   # fails, not serves, if unchecked
        make_app(always_real_model, tmp_path / "file")
    rc = main(["serve", "--model", str(always_real_model), "--gallery", str(tmp_path / "file" / "g.db"), "--port", "1"])
    err = capsys.readouterr().err
    assert rc == 7 and "a gallery cannot be made there" in err and "Traceback" not in err


def test_a_redis_url_that_is_wrong_or_unreachable_is_one_line_without_its_password(capsys, tmp_path):
    """The command line's answer to a bad --redis: never a traceback, never the password in the URL."""
    pytest.importorskip("redis")
    from marginlive.cli import main
    for url, says in [("http://127.0.0.1:1", "not a Redis URL"), ("redis://:hunter2@127.0.0.1:1/0", "cannot reach Redis")]:
        assert main(["serve", "--redis", url, "--gallery", str(tmp_path / "g.db"), "--port", "1"]) == 2
        err = capsys.readouterr().err
        assert says in err and "hunter2" not in err and "Traceback" not in err


def test_an_allowed_origin_is_checked_as_a_browser_sends_it(capsys):
    from marginlive.cli import main
    for bad in ("app.example.com", "https://app.example.com/", "https://app.example.com/login"):
        with pytest.raises(SystemExit):
            main(["serve", "--allow-origin", bad])
        assert "e.g. https://app.example.com" in capsys.readouterr().err


def test_serve_check_loads_the_settings_and_exits_without_serving(always_real_model, tmp_path, capsys):
    from marginlive.cli import main
    with socket.socket() as busy:             # the running server's port: --check does not bind it
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        rc = main(["serve", "--check", "--model", str(always_real_model), "--gallery", str(tmp_path / "g.db"),
                   "--port", port])
        assert rc == 0 and "settings checked: model " in capsys.readouterr().out
        rc = main(["serve", "--check", "--model", str(tmp_path / "none.onnx"), "--port", port])
        err = capsys.readouterr().err
        assert rc != 0 and "none.onnx" in err and "Traceback" not in err


def test_a_short_signing_secret_stops_the_server_at_start(always_real_model, tmp_path, capsys, monkeypatch):
    from marginlive.cli import main
    with pytest.raises(MarginliveError, match="at least 32"):
        ServerConfig(secret=b"x" * 31)
    args = ["serve", "--model", str(always_real_model), "--gallery", str(tmp_path / "g.db"), "--port", "1"]
    monkeypatch.setenv("MARGINLIVE_SECRET", "password123")      # guessable offline from any verdict
    rc = main(args)
    err = capsys.readouterr().err
    assert rc != 0 and "MARGINLIVE_SECRET" in err and "Traceback" not in err
    # a key still verified during a rotation could forge verdicts as well as the signing one
    monkeypatch.setenv("MARGINLIVE_SECRET", SECRET.decode())
    monkeypatch.setenv("MARGINLIVE_VERIFY_SECRETS", f"{'x' * 40}, password123")
    rc = main(args)
    err = capsys.readouterr().err
    assert rc != 0 and "MARGINLIVE_VERIFY_SECRETS" in err and "has 11 bytes" in err and "Traceback" not in err


def test_no_input_answers_500(always_real_model, tmp_path):
    """Random bodies, content types and headers on every route: always an answer below 500."""
    import numpy as np
    rng = np.random.default_rng(0)
    bodies = [b"", b"{}", b"null", b'{"token": null}', b'{"token": "a.b.c", "nonce": []}', b"\x00" * 100,
              bytes(rng.integers(0, 256, 3000, dtype=np.uint8)), b"\xff\xd8\xff" + bytes(500), b"\x89PNG\r\n\x1a\n" + bytes(40)]
    types = ["application/json", "image/jpeg", "multipart/form-data", "multipart/form-data; boundary=", "text/plain"]
    routes = ["/v1/liveness", "/v1/sessions", "/v1/verdicts/verify", "/v1/identities/x"]
    with running(make_app(always_real_model, tmp_path, rate_per_s=1000, burst=1000, max_sessions_per_client=1000,
                          max_sessions=1000)) as addr:
        for route in routes:
            for body in bodies:
                for ct in types:
                    r = httpx.post(f"http://{addr}{route}", content=body,
                                   headers={"content-type": ct, "authorization": "Bearer admin-token-for-tests"})
                    assert r.status_code < 500, (route, body[:20], ct, r.status_code, r.text)


def test_the_identity_distance_is_told_at_redemption_not_in_the_token(always_real_model, tmp_path):
    """The client can read the verdict's claims: they name the identity, never how close the match
    was (a distance would guide a morph); the relying party gets that when it redeems the verdict."""
    from marginlive.identity.recognise import Decision
    app = make_app(always_real_model, tmp_path)
    svc = app.state.ml
    e = svc.create("10.0.0.2", expected_identity="alice")
    session = svc.new_session(e)
    session.identity, session.decision = "alice", Decision("alice", "alice", 0.31234, 0.12345, 3)
    token = svc.finish(e, session, "accepted")
    claims = tokens.verify(token, SECRET)
    assert claims["identity"] == "alice" and claims["expected_identity"] == "alice"
    assert not any("distance" in k or "margin" in k or "probes" in k for k in claims)
    with running(app) as addr:
        r = httpx.post(f"http://{addr}/v1/verdicts/verify", json={"token": token, "expected_identity": "alice"})
    assert r.status_code == 200 and r.json()["accepted"] and r.json()["identity"] == "alice"
    assert r.json()["identity_evidence"] == {"distance": 0.3123, "margin": 0.1235, "probes": 3}


def test_a_rejection_cannot_pass_for_an_acceptance_in_a_jwt_library(always_real_model, tmp_path):
    """A relying party checking verdicts with MARGINLIVE_SECRET in a standard JWT library (PyJWT),
    without reading the verdict claim, accepts an acceptance and finds a rejection's signature
    invalid; the server redeems both, and refuses a verdict whose claim and key disagree."""
    import jwt
    svc = make_app(always_real_model, tmp_path).state.ml
    issued = {}
    for verdict in ("accepted", "rejected"):
        e = svc.create("10.0.0.2", nonce=f"n-{verdict}", audience="my-app")
        issued[verdict] = svc.finish(e, svc.new_session(e), verdict)
    claims = jwt.decode(issued["accepted"], SECRET, algorithms=["HS256"], audience="my-app")
    assert claims["verdict"] == "accepted" and claims["nonce"] == "n-accepted"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(issued["rejected"], SECRET, algorithms=["HS256"], audience="my-app")
    assert svc.redeem(issued["rejected"], audience="my-app")[0]["verdict"] == "rejected"
    assert svc.redeem(issued["accepted"], audience="my-app")[0]["verdict"] == "accepted"
    for key, verdict in ((SECRET, "rejected"), (tokens.rejection_key(SECRET), "accepted")):
        with pytest.raises(tokens.TokenError, match="does not match its key"):
            svc.redeem(tokens.sign({"sid": "s", "jti": f"j-{verdict}", "verdict": verdict}, key))


def test_open_sessions_are_counted_for_the_admin_not_the_public(always_real_model, tmp_path):
    """/health (public) says the service answers; how many sessions are open (and people enrolled)
    only /metrics tells, to the admin token."""
    def open_sessions(addr):
        text = httpx.get(f"http://{addr}/metrics", headers={"authorization": f"Bearer {ADMIN}"}).text
        return int(next(line for line in text.splitlines() if line.startswith("marginlive_open_sessions ")).split()[1])
    with running(make_app(always_real_model, tmp_path)) as addr:
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        assert set(httpx.get(f"http://{addr}/health").json()) == {"status", "model", "margin"}
        assert open_sessions(addr) == 1
        with connect(f"ws://{addr}/v1/sessions/{sid}/stream") as ws:
            ws.send("end")
            assert json.loads(ws.recv())["state"] == "rejected"
        assert open_sessions(addr) == 0


def test_a_wrong_method_names_every_method_of_the_path(always_real_model, tmp_path):
    """405 with an Allow header that lists what the path takes (RFC 9110), also where two routes
    share a path (enrol and remove an identity); each method it lists is taken."""
    with running(make_app(always_real_model, tmp_path)) as addr:
        for method, path, allow in (("PUT", "/v1/identities/x", "DELETE, POST"), ("POST", "/health", "GET"),
                                    ("OPTIONS", "/v1/sessions", "POST"), ("GET", "/v1/verdicts/verify", "POST")):
            r = httpx.request(method, f"http://{addr}{path}")
            assert (r.status_code, r.headers["allow"]) == (405, allow), (method, path)
            assert r.json() == {"detail": "Method Not Allowed"}
            for ok in allow.split(", "):
                assert httpx.request(ok, f"http://{addr}{path}").status_code != 405, (ok, path)
        assert httpx.get(f"http://{addr}/nowhere").status_code == 404


def test_a_page_on_an_allowed_origin_may_create_sessions_and_nothing_more(always_real_model, tmp_path):
    """CORS for POST /v1/sessions alone, and only for --allow-origin: its preflight is answered and
    its answers, a 429 too, name the origin; another origin's and other paths' answers do not."""
    page, other = "https://app.example", "https://evil.example"
    with running(make_app(always_real_model, tmp_path, allowed_origins=(page,), max_sessions_per_client=1)) as addr:
        url = f"http://{addr}/v1/sessions"
        pre = httpx.options(url, headers={"origin": page, "access-control-request-method": "POST",
                                          "access-control-request-headers": "content-type"})
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == page
        assert pre.headers["access-control-allow-methods"] == "POST"
        assert pre.headers["access-control-allow-headers"] == "content-type"
        made = httpx.post(url, json={"nonce": "n"}, headers={"origin": page})
        assert made.status_code == 201 and made.headers["access-control-allow-origin"] == page
        refused = httpx.post(url, headers={"origin": page})                      # one open session per client
        assert refused.status_code == 429 and refused.headers["access-control-allow-origin"] == page
        assert httpx.options(url, headers={"origin": other}).status_code == 405
        assert "access-control-allow-origin" not in httpx.post(url, headers={"origin": other}).headers
        r = httpx.post(f"http://{addr}/v1/verdicts/verify", json={"token": "a.b.c"}, headers={"origin": page})
        assert r.status_code == 400 and "access-control-allow-origin" not in r.headers


def test_a_verdict_from_before_a_restart_is_not_redeemed_again(always_real_model, tmp_path):
    """Sessions kept in memory (no --redis): after a restart with the same secret the server cannot
    know whether a verdict was redeemed, so it redeems only the verdicts its sessions' records hold."""
    before = make_app(always_real_model, tmp_path).state.ml
    e = before.create("10.0.0.2")
    token = before.finish(e, before.new_session(e), "accepted")
    assert before.redeem(token)[0]["verdict"] == "accepted"
    after = make_app(always_real_model, tmp_path)                    # the same secret, an empty memory
    with running(after) as addr:
        r = httpx.post(f"http://{addr}/v1/verdicts/verify", json={"token": token})
    assert r.status_code == 400 and "on no record of this server" in r.json()["detail"]
