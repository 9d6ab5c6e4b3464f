"""A stop signal lets the logins in flight finish (server/drain.py): `marginlive serve` in a process
of its own, sent SIGTERM as systemd or a rolling restart sends it."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from server_util import free_port, wait_healthy


@pytest.fixture(scope="module")
def jpegs(live_frames):
    return [cv2.imencode(".jpg", f.image)[1].tobytes() for f in live_frames]


@pytest.fixture
def server(always_real_model, tmp_path):
    """A server whose sessions wait 30 s for an action that never comes: a login stays in flight."""
    port = free_port()
    env = {**os.environ, "MARGINLIVE_ADMIN_TOKEN": "admin-token-for-tests", "ORT_DISABLE_TELEMETRY": "1"}
    out, err = open(tmp_path / "out.log", "w"), open(tmp_path / "err.log", "w")    # the audit trail; messages
    proc = subprocess.Popen([sys.executable, "-m", "marginlive", "serve", "--port", str(port), "--model",
                             str(always_real_model), "--gallery", str(tmp_path / "g.db"), "--challenge-timeout", "30",
                             "--max-fps", "1000"], env=env, stdout=out, stderr=err)
    addr = f"127.0.0.1:{port}"
    try:
        wait_healthy(addr)
        yield proc, addr
    finally:
        proc.kill()
        proc.wait(10)
        out.close()
        err.close()


@contextlib.contextmanager
def streaming(addr, jpegs):
    """A login in flight: a session streamed until its challenge is asked."""
    sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
    with connect(f"ws://{addr}/v1/sessions/{sid}/stream") as ws:
        for i in range(100):
            ws.send(jpegs[i % len(jpegs)])
            if json.loads(ws.recv()).get("state") == "challenge":
                yield ws
                return
        raise AssertionError("the session never reached its challenge")


def events(path) -> dict:
    """The audit trail's events on the server's standard output, by name (the last of each)."""
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")]
    return {e["event"]: e for e in lines}


def test_a_stop_signal_lets_the_login_in_flight_finish_and_takes_no_new_one(server, jpegs, tmp_path):
    proc, addr = server
    with streaming(addr, jpegs) as ws:
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        r = httpx.post(f"http://{addr}/v1/sessions")
        assert r.status_code == 503 and "stopping" in r.json()["detail"] and r.headers["retry-after"] == "1"
        assert httpx.get(f"http://{addr}/health").status_code == 503   # the load balancer looks elsewhere
        ws.send(jpegs[0])                                               # the login in flight still served
        assert json.loads(ws.recv())["state"] == "challenge"
        ws.send("end")
        last = json.loads(ws.recv())
        assert last["state"] == "rejected" and last["verdict"].count(".") == 2   # a signed verdict, not a 1012
    proc.wait(10)                                                       # then the server stops
    said = events(tmp_path / "out.log")
    assert said["stopping"]["signal"] == "SIGTERM" and said["stopping"]["streams_open"] == 1
    assert said["drained"]["streams_cut"] == 0
    assert "stopping once the 1 login(s) in flight are done" in (tmp_path / "err.log").read_text()


def test_a_second_stop_signal_stops_at_once(server, jpegs):
    proc, addr = server
    with streaming(addr, jpegs) as ws:
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None                                      # draining
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(50):
                ws.send(jpegs[0])
                ws.recv()
        assert closed.value.rcvd.code == 1012
    proc.wait(10)
