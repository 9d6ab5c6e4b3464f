"""Two service replicas on one Redis (server/store.py RedisStore): a session created on one streams
on the other, a verdict redeemed on one is refused on the other, limits and lockouts hold across
both. A real redis-server (Debian's package) on a free loopback port, started and stopped here."""
import json
import shutil
import socket
import subprocess
import time

import cv2
import httpx
import pytest
from websockets.sync.client import connect

from marginlive.challenge.session import SessionConfig
from marginlive.errors import InputError
from marginlive.server.app import ServerConfig, create_app
from server_util import UNPACED_FPS, closed_by_server, free_port, running, wait_healthy

SECRET = b"shared-secret-of-the-two-replicas"


def start_redis(port: int, d) -> subprocess.Popen:
    """A redis-server on loopback ``port`` without persistence, answering when this returns."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (make test installs Debian's redis-server as root)")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    port = free_port()
    proc = start_redis(port, tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def fresh(redis_url):
    import redis
    redis.Redis.from_url(redis_url).flushdb()
    return redis_url


def replica(model, tmp_path, url, **kw):
    # the live video never raises a hand: every session ends rejected (a blink it may do by chance)
    session = kw.pop("session", SessionConfig(n_challenges=1, challenge_timeout_s=1.0, retries=0, passive_min_frames=3,
                                              passive_window=5, actions=("raise_right_hand", "raise_left_hand")))
    kw.setdefault("max_fps", UNPACED_FPS)
    kw.setdefault("secret", SECRET)
    return create_app(ServerConfig(model=str(model), gallery=str(tmp_path / "g.db"), session=session,
                                   admin_token="admin-token-for-tests", redis=url, **kw))


@pytest.fixture(scope="module")
def jpegs(live_frames):
    return [cv2.imencode(".jpg", f.image)[1].tobytes() for f in live_frames]


def verdict(addr, sid, frames):
    with connect(f"ws://{addr}/v1/sessions/{sid}/stream") as ws:
        for i in range(200):
            ws.send(frames[i % len(frames)])
            m = json.loads(ws.recv())
            if "verdict" in m:
                return m


def test_a_session_created_on_one_replica_streams_and_redeems_once_across_both(always_fake_model, tmp_path,
                                                                               fresh, jpegs):
    with running(replica(always_fake_model, tmp_path, fresh)) as a, running(replica(always_fake_model, tmp_path, fresh)) as b:
        sid = httpx.post(f"http://{a}/v1/sessions", json={"nonce": "n1"}).json()["session_id"]
        m = verdict(b, sid, jpegs)
        assert m["state"] == "rejected"
        with connect(f"ws://{a}/v1/sessions/{sid}/stream") as ws:    # used, whichever replica is asked
            assert "already used" in json.loads(ws.recv())["error"]
        r = httpx.post(f"http://{a}/v1/verdicts/verify", json={"token": m["verdict"], "nonce": "n1"})
        assert r.status_code == 403 and r.json()["accepted"] is False and r.json()["session_id"] == sid
        assert httpx.post(f"http://{b}/v1/verdicts/verify", json={"token": m["verdict"]}).status_code == 409
        metrics = httpx.get(f"http://{a}/metrics", headers={"authorization": "Bearer admin-token-for-tests"}).text
        assert 'marginlive_sessions_total{verdict="rejected",step="passive",liveness_unsure="false"} 1' in metrics


def test_an_enrolment_session_created_on_one_replica_enrols_when_streamed_on_the_other(always_real_model, tmp_path,
                                                                                        fresh, jpegs):
    """The session's record in Redis carries its name: the replica that streams it enrols, as the
    admin asked of the other one (the challenge's landmarks scripted: the video raises no hand)."""
    from challenge_fakes import raising_right_hand
    from test_enrol_session import RAISE_RIGHT_HAND
    a_app, b_app = (replica(always_real_model, tmp_path, fresh, session=RAISE_RIGHT_HAND) for _ in range(2))
    b_app.state.ml.landmarker = raising_right_hand()
    with running(a_app) as a, running(b_app) as b:
        sid = httpx.post(f"http://{a}/v1/sessions", json={"enrol": "alice"},
                         headers={"authorization": "Bearer admin-token-for-tests"}).json()["session_id"]
        m = verdict(b, sid, jpegs)
    assert m["state"] == "accepted" and m["enrolled"] == "alice", m
    assert [(r["name"], r["embeddings"]) for r in b_app.state.ml.gallery_list()] == [("alice", 5)]


def test_limits_and_lockouts_hold_across_replicas(always_fake_model, tmp_path, fresh, jpegs):
    kw = dict(max_failures=1, max_sessions_per_client=2)
    with running(replica(always_fake_model, tmp_path, fresh, **kw)) as a, \
            running(replica(always_fake_model, tmp_path, fresh, **kw)) as b:
        s1 = httpx.post(f"http://{a}/v1/sessions").json()["session_id"]
        assert httpx.post(f"http://{b}/v1/sessions").status_code == 201
        assert httpx.post(f"http://{b}/v1/sessions").status_code == 429          # 2 open, counted on both
        assert verdict(b, s1, jpegs)["state"] == "rejected"
        r = httpx.post(f"http://{a}/v1/sessions")                                 # locked out on the other
        assert r.status_code == 429 and "failed attempts" in r.json()["detail"]


def test_request_rate_is_shared(always_real_model, tmp_path, fresh):
    kw = dict(rate_per_s=0.01, burst=3)
    with running(replica(always_real_model, tmp_path, fresh, **kw)) as a, \
            running(replica(always_real_model, tmp_path, fresh, **kw)) as b:
        codes = [httpx.post(f"http://{x}/v1/liveness", content=b"x", headers={"authorization": "Bearer admin-token-for-tests"})
                 .status_code for x in (a, b, a, b)]
        assert codes == [400, 400, 400, 429]


def test_an_unreachable_redis_is_a_clear_error(always_real_model, tmp_path):
    with pytest.raises(InputError, match="cannot reach Redis"):
        replica(always_real_model, tmp_path, "redis://127.0.0.1:1/0")


def _children(pid: int) -> list[int]:
    import os
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return out


def test_serve_with_two_worker_processes_on_one_redis(always_fake_model, tmp_path, fresh, jpegs):
    import os
    import signal
    import sys
    exe = [sys.executable, "-m", "marginlive", "serve"]
    port = free_port()
    env = {**os.environ, "MARGINLIVE_ADMIN_TOKEN": "admin-token-for-tests", "ORT_DISABLE_TELEMETRY": "1"}
    r = subprocess.run(exe + ["--workers", "2", "--port", str(port)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "needs --redis" in r.stderr
    server = subprocess.Popen(exe + ["--workers", "2", "--redis", fresh, "--port", str(port), "--model", str(always_fake_model),
                                     "--gallery", str(tmp_path / "g.db"), "--challenges", "1",
                                     "--max-connections-per-address", "3"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"127.0.0.1:{port}")
        workers = [c for c in _children(server.pid) if "spawn_main" in open(f"/proc/{c}/cmdline").read()]
        assert len(workers) == 2
        # the models live in the workers: the supervisor (the command's own process) maps no ONNX Runtime
        assert "onnxruntime" in open(f"/proc/{workers[0]}/maps").read()
        assert "onnxruntime" not in open(f"/proc/{server.pid}/maps").read()
        addr = f"127.0.0.1:{port}"
        tokens = []
        for _ in range(4):      # connections land on either process; every one shares the state
            sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
            tokens.append(verdict(addr, sid, jpegs)["verdict"])
        codes = [httpx.post(f"http://{addr}/v1/verdicts/verify", json={"token": t}).status_code for t in tokens * 2]
        assert codes == [403] * 4 + [409] * 4          # rejections (no hand is raised), then replays
        # each worker caps this address at 3 connections: of 7 held open, one process has a 4th, closed
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(7)]
        time.sleep(0.5)
        assert sum(closed_by_server(s, 0.2) for s in held) >= 1
        for s in held:
            s.close()
        os.kill(workers[0], signal.SIGKILL)        # a worker lost (the kernel's OOM killer): replaced
        for _ in range(300):
            now = [c for c in _children(server.pid) if "spawn_main" in open(f"/proc/{c}/cmdline").read()]
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2 and workers[0] not in now
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        assert verdict(addr, sid, jpegs)["state"] == "rejected"
    finally:
        server.terminate()
        server.wait(20)


def test_the_identity_evidence_is_redeemed_on_the_other_replica(always_real_model, tmp_path, fresh):
    """The match's distance stays in the session's Redis record, not in the token: the replica that
    redeems the verdict reads it from there."""
    from marginlive.identity.recognise import Decision
    one, other = replica(always_real_model, tmp_path, fresh), replica(always_real_model, tmp_path, fresh)
    svc = one.state.ml
    e = svc.create("10.0.0.2", expected_identity="alice")
    session = svc.new_session(e)
    session.identity, session.decision = "alice", Decision("alice", "alice", 0.25, None, 2)
    token = svc.finish(e, session, "accepted")
    with running(other) as b:
        r = httpx.post(f"http://{b}/v1/verdicts/verify", json={"token": token})
    assert r.status_code == 200 and r.json()["identity_evidence"] == {"distance": 0.25, "margin": None, "probes": 2}


def test_the_signing_key_rotates_replica_by_replica_without_a_verdict_refused(always_real_model, tmp_path, fresh):
    """docs/deploying.md's rotation: every replica first verifies the next key, then each signs with
    it and still verifies the old one until its verdicts expire, then the old one is dropped."""
    from marginlive.server.run import config_from_json, config_to_json
    old, new = SECRET, b"the-next-shared-secret-of-the-replicas"
    step1 = replica(always_real_model, tmp_path, fresh, secret=old, verify_secrets=(new,))
    step2 = replica(always_real_model, tmp_path, fresh, secret=new, verify_secrets=(old,))
    step3 = replica(always_real_model, tmp_path, fresh, secret=new)
    cfg = step2.state.ml.cfg
    assert config_from_json(config_to_json(cfg)) == cfg        # as --workers hands it to each process

    def signed_by(app, verdict):
        svc = app.state.ml
        e = svc.create("10.0.0.2")
        return svc.finish(e, svc.new_session(e), verdict)

    url = "http://{}/v1/verdicts/verify"
    with running(step1) as a, running(step2) as b, running(step3) as c:
        for signer, redeemer in ((step1, b), (step2, a)):       # each replica's verdicts, on the other
            r = httpx.post(url.format(redeemer), json={"token": signed_by(signer, "accepted")})
            assert r.status_code == 200 and r.json()["accepted"] is True
            r = httpx.post(url.format(redeemer), json={"token": signed_by(signer, "rejected")})
            assert r.status_code == 403 and r.json()["signature_valid"] is True
        assert httpx.post(url.format(c), json={"token": signed_by(step2, "accepted")}).status_code == 200
        r = httpx.post(url.format(c), json={"token": signed_by(step1, "accepted")})   # the old key, dropped
        assert r.status_code == 400 and r.json()["detail"] == "invalid verdict: bad signature"


def test_a_redis_outage_is_a_503_and_the_service_resumes_after_it(always_real_model, tmp_path, jpegs):
    """Redis down: requests get 503 with Retry-After (not a 500), /health says so for the load
    balancer, a stream closes with 1013; Redis back: the same replica serves again."""
    from websockets.exceptions import ConnectionClosed
    port = free_port()
    proc = start_redis(port, tmp_path)
    down = "the session store (Redis) cannot be reached; try again shortly"
    try:
        with running(replica(always_real_model, tmp_path, f"redis://127.0.0.1:{port}/0")) as a:
            sid = httpx.post(f"http://{a}/v1/sessions").json()["session_id"]
            with connect(f"ws://{a}/v1/sessions/{sid}/stream") as ws:
                ws.send(jpegs[0])
                assert "state" in json.loads(ws.recv())
                proc.terminate()
                proc.wait(10)
                ws.send("end")                    # the verdict cannot be kept: no verdict, 1013
                assert json.loads(ws.recv()) == {"error": down}
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv()
                assert closed.value.rcvd.code == 1013
            r = httpx.post(f"http://{a}/v1/sessions")
            assert r.status_code == 503 and r.json() == {"detail": down} and r.headers["retry-after"] == "5"
            assert httpx.get(f"http://{a}/health").status_code == 503
            assert httpx.post(f"http://{a}/v1/verdicts/verify", json={"token": "a.b.c"}).status_code == 400
            proc = start_redis(port, tmp_path)
            assert httpx.get(f"http://{a}/health").status_code == 200
            assert httpx.post(f"http://{a}/v1/sessions").status_code == 201
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_record_with_fields_this_version_does_not_know_is_read(always_real_model, tmp_path, fresh):
    """A newer replica may add a field to a session's record in Redis: an older one reads the rest."""
    import redis
    svc = replica(always_real_model, tmp_path, fresh).state.ml
    e = svc.create("10.0.0.2")
    r = redis.Redis.from_url(fresh, decode_responses=True)
    key = f"marginlive:s:{e.id}"
    record = json.loads(r.get(key))
    r.set(key, json.dumps({**record, "field_of_a_later_version": 1}), keepttl=True)
    assert svc.store.get(e.id).id == e.id and svc.claim(e.id, "10.0.0.2")[1] is None
