import json
import time
from functools import partial

import cv2
import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from conftest import as_grey
from marginlive.challenge.session import SessionConfig
from marginlive.errors import MarginliveError
from marginlive.server import tokens
from marginlive.server.app import ServerConfig, create_app
from server_util import UNPACED_FPS, running

SECRET = b"test-secret-0123456789-0123456789"
ADMIN = "admin-token-for-tests"
AS_ADMIN = {"authorization": f"Bearer {ADMIN}"}    # POST /v1/liveness takes it by default


def cfg(model, tmp_path, **kw):
    # the live video never raises a hand; other actions (a blink, a smile) it may do by chance
    session = kw.pop("session", SessionConfig(n_challenges=1, challenge_timeout_s=1.0, retries=0,
                                              passive_min_frames=3, passive_window=5,
                                              actions=("raise_right_hand", "raise_left_hand")))
    kw.setdefault("max_fps", UNPACED_FPS)
    return ServerConfig(model=str(model), gallery=str(tmp_path / "g.db"), secret=SECRET, admin_token=ADMIN,
                        session=session, **kw)


@pytest.fixture(scope="module")
def frames(live_frames):
    return [cv2.imencode(".jpg", f.image)[1].tobytes() for f in live_frames]


@pytest.fixture
def server(always_real_model, tmp_path):
    with running(create_app(cfg(always_real_model, tmp_path))) as addr:
        yield addr


def test_health_and_liveness(server, frames):
    r = httpx.get(f"http://{server}/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = httpx.post(f"http://{server}/v1/liveness", content=frames[0], headers={"content-type": "image/jpeg", **AS_ADMIN})
    assert r.status_code == 200
    faces = r.json()["faces"]
    assert len(faces) == 1 and faces[0]["label"] == "real" and len(faces[0]["box"]) == 4
    assert faces[0]["grayscale"] is False


def test_liveness_says_when_a_face_is_grayscale(server, live_frames):
    grey = as_grey(live_frames[0].image)
    r = httpx.post(f"http://{server}/v1/liveness", content=cv2.imencode(".jpg", grey)[1].tobytes(), headers=AS_ADMIN)
    assert r.status_code == 200 and [f["grayscale"] for f in r.json()["faces"]] == [True]


def test_bad_uploads_get_4xx_and_server_keeps_serving(server, frames):
    url, post = f"http://{server}/v1/liveness", partial(httpx.post, headers=AS_ADMIN)
    r = post(url, content=b"hello, not an image")
    assert r.status_code == 400 and "not a readable image" in r.json()["detail"]
    r = post(url, content=frames[0][: len(frames[0]) // 2])
    assert r.status_code == 400 and "truncated JPEG" in r.json()["detail"]
    r = post(url, content=b"")
    assert r.status_code == 400
    r = post(url, content=b"\xff" * (5 * 1024 * 1024))
    assert r.status_code == 413
    r = post(url, content=png_claiming(6000, 6000))       # 36 megapixels, a bomb's header
    assert r.status_code == 413 and "6000x6000" in r.json()["detail"]
    r = post(url, content=png_claiming(40000, 40000))
    assert r.status_code == 413 and "megapixels" in r.json()["detail"]
    assert post(url, content=frames[0]).status_code == 200


def test_the_server_decodes_jpeg_png_and_webp_only(server, live_frames):
    """A browser or camera sends JPEG, PNG or WebP; every other decoder OpenCV has stays out of
    reach of the network: a Radiance HDR header whose size Pillow cannot read would have OpenCV
    allocate 10.8 GB (30000 x 30000 floats) before it reads a pixel."""
    url, post = f"http://{server}/v1/liveness", partial(httpx.post, headers=AS_ADMIN)
    img = live_frames[0].image
    for ext in (".jpg", ".png", ".webp"):
        r = post(url, content=cv2.imencode(ext, img)[1].tobytes())
        assert r.status_code == 200 and len(r.json()["faces"]) == 1, ext
    radiance = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n" + bytes(1000)
    others = [radiance] + [cv2.imencode(ext, img)[1].tobytes() for ext in (".tiff", ".bmp", ".ppm", ".jp2")]
    # and what starts as one but no decoder takes (a PNG signature before a broken header, a JPEG's
    # markers before noise) is named as the formats it reads, not as every format the CLI reads
    broken = [b"\x89PNG\r\n\x1a\n" + bytes(40), b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"]
    for data in others + broken:
        r = post(url, content=data)
        assert r.status_code == 400 and r.json()["detail"] == "image is not a readable image: send JPEG, PNG or WebP"


def png_claiming(w: int, h: int) -> bytes:
    """A small PNG whose header says w x h pixels (1-bit grey), with one compressed row of data:
    what a decoder would allocate for comes from the header alone."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * (1 + w // 8))) + chunk(b"IEND", b""))


def stream(addr, sid, frames, max_msgs=400):
    """The session's replies to frames sent one after another as fast as it answers; those skipped
    for the stream's frame rate (``max_fps``) left out, as a client would send the next."""
    msgs = []
    with connect(f"ws://{addr}/v1/sessions/{sid}/stream", max_size=None) as ws:
        for i in range(max_msgs):
            ws.send(frames[i % len(frames)])
            m = json.loads(ws.recv())
            if "skipped" in m:
                continue
            msgs.append(m)
            if m.get("state") in ("accepted", "rejected"):
                break
    return msgs


def test_session_flow_rejects_without_action_and_signs_verdict(server, frames):
    r = httpx.post(f"http://{server}/v1/sessions")
    assert r.status_code == 201
    body = r.json()
    msgs = stream(server, body["session_id"], frames)
    states = [m["state"] for m in msgs]
    assert "challenge" in states and states[-1] == "rejected"
    instr = {m["instruction"] for m in msgs if m["state"] == "challenge"}
    assert instr and all(i for i in instr)
    assert [m["seq"] for m in msgs] == list(range(1, len(msgs) + 1))  # one answer per frame, none lost
    faces = [m["face"] for m in msgs if m.get("face")]
    assert faces and all(set(f) == {"box", "label", "track", "decided", "turned"} for f in faces)   # no score
    assert msgs[-1]["log"] and not any({"score", "distance"} & set(event) for event in msgs[-1]["log"])
    with pytest.raises(tokens.TokenError, match="bad signature"):    # the secret signs acceptances only
        tokens.verify(msgs[-1]["verdict"], SECRET)
    claims = tokens.verify(msgs[-1]["verdict"], tokens.rejection_key(SECRET))
    assert claims["verdict"] == "rejected" and claims["sid"] == body["session_id"]
    assert claims["liveness_unsure"] is False and not any(m["more_actions"] for m in msgs)
    r = httpx.post(f"http://{server}/v1/verdicts/verify", json={"token": msgs[-1]["verdict"]})
    assert r.status_code == 403 and r.json()["claims"]["verdict"] == "rejected" and r.json()["liveness_unsure"] is False
    # a forged verdict: flip it to accepted, keep the signature
    head, payload, sig = msgs[-1]["verdict"].split(".")
    forged_claims = dict(claims, verdict="accepted")
    forged = ".".join([head, tokens._b64(json.dumps(forged_claims).encode()), sig])
    r = httpx.post(f"http://{server}/v1/verdicts/verify", json={"token": forged})
    assert r.status_code == 400 and "bad signature" in r.json()["detail"]
    # a used session cannot stream again
    with connect(f"ws://{server}/v1/sessions/{body['session_id']}/stream") as ws:
        assert "already used" in json.loads(ws.recv())["error"]


def test_openapi_declares_each_body_and_error(server):
    """/openapi.json says what each route reads (the image's content types, the JSON fields) and
    which 4xx it answers, each with the one error body {"detail"}."""
    api = httpx.get(f"http://{server}/openapi.json").json()
    paths = api["paths"]
    image = paths["/v1/liveness"]["post"]["requestBody"]
    assert image["required"] and {"image/jpeg", "image/png", "multipart/form-data"} <= set(image["content"])
    verify = paths["/v1/verdicts/verify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert verify["required"] == ["token"] and {"nonce", "audience", "expected_identity"} <= set(verify["properties"])
    assert paths["/v1/sessions"]["post"]["requestBody"]["required"] is False
    session = paths["/v1/sessions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert verify["additionalProperties"] is False and session["additionalProperties"] is False   # other fields: 400
    for path, method in (("/v1/identities", "get"), ("/v1/identities/{name}", "post"),
                         ("/v1/identities/{name}", "delete"), ("/metrics", "get")):
        assert {"401", "403"} <= set(paths[path][method]["responses"]), (path, method)
    assert "409" in paths["/v1/verdicts/verify"]["post"]["responses"]
    assert "413" in paths["/v1/liveness"]["post"]["responses"]
    errors = [r for ops in paths.values() for op in ops.values() for code, r in op["responses"].items()
              if code.startswith("4") and code != "422"]
    assert errors and all(r["content"]["application/json"]["schema"]["$ref"].endswith("/Detail") for r in errors
                          if r is not paths["/v1/verdicts/verify"]["post"]["responses"].get("403"))
    rejection = paths["/v1/verdicts/verify"]["post"]["responses"]["403"]["content"]["application/json"]["schema"]
    assert rejection["$ref"].endswith("/Redemption")       # a valid rejection: the 200's body and a detail
    assert {"detail", "accepted", "verdict"} <= set(api["components"]["schemas"]["Redemption"]["properties"])


def test_unknown_and_expired_sessions(always_real_model, tmp_path):
    app = create_app(cfg(always_real_model, tmp_path))
    with running(app) as addr:
        with connect(f"ws://{addr}/v1/sessions/nope/stream") as ws:
            assert json.loads(ws.recv())["error"] == "unknown session"
    app = create_app(cfg(always_real_model, tmp_path, session_start_ttl_s=0.2))
    with running(app) as addr:
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        time.sleep(0.3)   # its start deadline has passed
        with connect(f"ws://{addr}/v1/sessions/{sid}/stream") as ws:
            assert json.loads(ws.recv())["error"] == "session expired"


def test_bad_frames_on_the_socket(server, frames):
    sid = httpx.post(f"http://{server}/v1/sessions").json()["session_id"]
    with connect(f"ws://{server}/v1/sessions/{sid}/stream") as ws:
        ws.send(b"not a jpeg")
        assert "not a readable image" in json.loads(ws.recv())["error"]
        ws.send(frames[0][:1000])
        assert "truncated" in json.loads(ws.recv())["error"]
        ws.send(frames[0])
        assert json.loads(ws.recv())["state"] in ("passive", "waiting")
        ws.send(cv2.imencode(".jpg", np.zeros((3000, 4000, 3), np.uint8))[1].tobytes())   # 12 MP: above 4K
        assert "above the limit of 8,294,400 pixels" in json.loads(ws.recv())["error"]


def test_frames_are_taken_as_sent_with_no_compression_to_inflate(server, frames):
    """The client offers per-message deflate (as browsers do); the server declines it, so no message
    is inflated before it is read, and one above the cap closes the stream (1009) unread."""
    from websockets.exceptions import ConnectionClosed
    sid = httpx.post(f"http://{server}/v1/sessions").json()["session_id"]
    with connect(f"ws://{server}/v1/sessions/{sid}/stream", compression="deflate", max_size=None) as ws:
        assert "permessage-deflate" in ws.request.headers.get("Sec-WebSocket-Extensions", "")
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        ws.send(frames[0])
        assert json.loads(ws.recv())["state"] in ("passive", "waiting")
        ws.send(b"\0" * (ServerConfig.max_frame_bytes + 4096))   # all zeros: deflate would shrink it to 2 KB
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd.code == 1009


def test_frames_beyond_a_streams_rate_are_skipped_unread(always_real_model, tmp_path, frames):
    """A client flooding frames has at most ``max_fps`` of them scored a second (after a second's worth
    at once): the rest are answered "skipped", not decoded and not counted as bad frames, so the
    stream stays open; one sent at the rate is scored."""
    from marginlive.server.stream import FrameBudget
    # a challenge the frames never meet and time to spare: the session ends within none of this
    slow = SessionConfig(n_challenges=1, challenge_timeout_s=60.0, passive_min_frames=3, passive_window=5,
                         actions=("raise_right_hand",))
    with running(create_app(cfg(always_real_model, tmp_path, max_fps=4.0, session=slow))) as addr:
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        with connect(f"ws://{addr}/v1/sessions/{sid}/stream", max_size=None) as ws:
            t = time.monotonic()
            for i in range(30):                        # all at once, then every reply
                ws.send(frames[i % len(frames)])
            replies = [json.loads(ws.recv()) for _ in range(30)]
            took = time.monotonic() - t
            scored = [m for m in replies if "state" in m]
            skipped = [m for m in replies if "skipped" in m]
            assert len(scored) + len(skipped) == 30 and [m["seq"] for m in replies] == list(range(1, 31))
            assert 4 <= len(scored) <= 4 + 4 * took + 1 and "more than 4 frames a second" in skipped[0]["skipped"]
            time.sleep(0.5)
            ws.send(frames[0])                         # at the rate again: scored, the stream still open
            assert "state" in json.loads(ws.recv())
    budget = FrameBudget(10.0, 0.0)                    # a client at the rate never loses a frame
    assert all(budget.take(0.1 * k) for k in range(1, 200))


def test_a_stream_of_text_is_closed_with_a_rejection(server):
    """Text other than "end" is no frame: each counts as a bad one, so a client cannot hold a
    session open forever without sending frames the session's deadline would count."""
    from websockets.exceptions import ConnectionClosed
    sid = httpx.post(f"http://{server}/v1/sessions").json()["session_id"]
    with connect(f"ws://{server}/v1/sessions/{sid}/stream") as ws:
        for _ in range(ServerConfig.max_bad_frames):
            ws.send("hello")
            assert json.loads(ws.recv())["error"] == "send frames as binary JPEG messages"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd.code == 1003
    with connect(f"ws://{server}/v1/sessions/{sid}/stream") as ws:
        assert "already used" in json.loads(ws.recv())["error"]


def test_admin_endpoints(server, nuaa_real_images, frames):
    subj = sorted(nuaa_real_images)[0]
    img = nuaa_real_images[subj][0].read_bytes()
    url = f"http://{server}/v1/identities"
    assert httpx.get(url).status_code == 401
    assert httpx.post(f"{url}/alice", content=img, headers={"authorization": "Bearer wrong"}).status_code == 403
    h = {"authorization": f"Bearer {ADMIN}"}
    assert httpx.get(url, headers=h).json()["identities"] == []
    r = httpx.post(f"{url}/alice", content=img, headers=h)
    assert r.status_code == 201 and r.json() == {"name": "alice", "added": 1, "faces": 1, "enough_faces": False}
    r = httpx.post(f"{url}/bob", content=b"junk", headers=h)
    assert r.status_code == 400
    blank = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()
    r = httpx.post(f"{url}/bob", content=blank, headers=h)
    assert r.status_code == 422 and "no face" in r.json()["detail"]
    assert [i["name"] for i in httpx.get(url, headers=h).json()["identities"]] == ["alice"]
    assert httpx.delete(f"{url}/carol", headers=h).status_code == 404
    assert httpx.delete(f"{url}/alice", headers=h).status_code == 200
    assert httpx.get(url, headers=h).json()["identities"] == []


def test_several_pictures_enrol_in_one_request_all_or_none(server, nuaa_real_images):
    subj = sorted(nuaa_real_images)[1]
    pictures = [p.read_bytes() for p in nuaa_real_images[subj][:3]]
    url, h = f"http://{server}/v1/identities", {"authorization": f"Bearer {ADMIN}"}
    blank = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()
    r = httpx.post(f"{url}/dora", files=[("image", (f"{i}.jpg", p, "image/jpeg")) for i, p in
                                          enumerate([*pictures[:2], blank])], headers=h)
    assert r.status_code == 422 and r.json()["detail"].startswith("image 3: ")      # the third has no face
    assert "dora" not in [i["name"] for i in httpx.get(url, headers=h).json()["identities"]]   # none added
    r = httpx.post(f"{url}/dora", files=[("image", (f"{i}.jpg", p, "image/jpeg")) for i, p in enumerate(pictures)],
                   headers=h)
    assert r.status_code == 201 and r.json() == {"name": "dora", "added": 3, "faces": 3, "enough_faces": False}
    listed = {i["name"]: i for i in httpx.get(url, headers=h).json()["identities"]}
    assert listed["dora"]["embeddings"] == 3 and listed["dora"]["enough_faces"] is False
    r = httpx.post(f"{url}/dora", files=[("image", ("x.jpg", pictures[0], "image/jpeg"))] * 11, headers=h)
    assert r.status_code == 400 and "unreadable multipart form" in r.json()["detail"]   # over max_enrol_images
    assert httpx.delete(f"{url}/dora", headers=h).status_code == 200


def test_rate_limit(always_real_model, tmp_path, frames):
    with running(create_app(cfg(always_real_model, tmp_path, rate_per_s=0.01, burst=3))) as addr:
        codes = [httpx.post(f"http://{addr}/v1/liveness", content=frames[0], headers=AS_ADMIN).status_code
                 for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        assert httpx.get(f"http://{addr}/health").status_code == 200


def test_admin_tokens_cannot_be_tried_fast_nor_be_short(always_real_model, tmp_path):
    with running(create_app(cfg(always_real_model, tmp_path, rate_per_s=0.01, burst=3))) as addr:
        codes = [httpx.get(f"http://{addr}/v1/identities", headers={"authorization": f"Bearer guess-{i}"}).status_code
                 for i in range(5)]
        assert codes == [403, 403, 403, 429, 429]
        # the client's bucket is empty: the right token waits as well
        assert httpx.get(f"http://{addr}/v1/identities", headers={"authorization": f"Bearer {ADMIN}"}).status_code == 429
    with pytest.raises(MarginliveError, match="at least 16"):
        ServerConfig(secret=SECRET, admin_token="admin")
    with pytest.raises(MarginliveError, match="MARGINLIVE_OTHER_ADMIN_TOKENS.* at least 16"):
        ServerConfig(secret=SECRET, other_admin_tokens=("old-admin-token",))


def test_the_admin_token_changes_while_its_clients_move_to_the_new_one(always_real_model, tmp_path, monkeypatch):
    """MARGINLIVE_OTHER_ADMIN_TOKENS: the previous token is accepted beside the new one until dropped."""
    from marginlive.server.run import config_from_args, config_from_json, config_to_json
    from marginlive.cli import build_parser
    monkeypatch.setenv("MARGINLIVE_ADMIN_TOKEN", "the-new-admin-token")
    monkeypatch.setenv("MARGINLIVE_OTHER_ADMIN_TOKENS", f"{ADMIN}, another-old-admin-token")
    args = build_parser().parse_args(["serve", "--model", str(always_real_model), "--gallery", str(tmp_path / "g.db")])
    config = config_from_args(args)
    assert config.other_admin_tokens == (ADMIN, "another-old-admin-token")
    assert config_from_json(config_to_json(config)) == config          # as --workers hands it on
    with running(create_app(config)) as addr:
        codes = [httpx.get(f"http://{addr}/v1/identities", headers={"authorization": f"Bearer {t}"}).status_code
                 for t in ("the-new-admin-token", ADMIN, "another-old-admin-token", "not-an-admin-token")]
    assert codes == [200, 200, 200, 403]


def test_failed_attempts_are_limited(always_real_model, tmp_path, frames):
    with running(create_app(cfg(always_real_model, tmp_path, max_failures=2))) as addr:
        for _ in range(2):
            sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
            assert stream(addr, sid, frames)[-1]["state"] == "rejected"
        r = httpx.post(f"http://{addr}/v1/sessions")
        assert r.status_code == 429 and "failed attempts" in r.json()["detail"]


def test_fake_model_rejects_at_passive_step(always_fake_model, tmp_path, frames):
    with running(create_app(cfg(always_fake_model, tmp_path))) as addr:
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        msgs = stream(addr, sid, frames)
        assert msgs[-1]["state"] == "rejected" and "presentation attack" in msgs[-1]["reason"]
        assert "challenge" not in [m["state"] for m in msgs]


def test_the_scoring_endpoint_is_the_admins_unless_made_public_or_off(always_real_model, tmp_path, frames):
    """Scores for any picture help an attacker tune a replay: by default only the admin token gets
    them; ``public`` gives them to anyone (rate-limited), ``off`` to nobody."""
    post = lambda addr, **h: httpx.post(f"http://{addr}/v1/liveness", content=frames[0],   # noqa: E731
                                        headers={"content-type": "image/jpeg", **h})
    with running(create_app(cfg(always_real_model, tmp_path))) as addr:
        assert post(addr).status_code == 401
        r = post(addr, **AS_ADMIN)
        assert r.status_code == 200 and r.json()["faces"][0]["label"] == "real"
    with running(create_app(cfg(always_real_model, tmp_path, liveness_api="public"))) as addr:
        assert post(addr).status_code == 200
    with running(create_app(cfg(always_real_model, tmp_path, liveness_api="off"))) as addr:
        r = post(addr, **AS_ADMIN)
        assert r.status_code == 404 and "--liveness-api" in r.json()["detail"]
    with pytest.raises(MarginliveError, match="liveness_api"):
        cfg(always_real_model, tmp_path, liveness_api="private")

def test_metrics_count_sessions_by_the_step_they_ended_in(always_fake_model, tmp_path, frames):
    """GET /metrics (admin token): a session the model turned away counts as rejected at the passive
    step, a face scored by /v1/liveness by its label; Prometheus' text format, one sample a line."""
    import re
    with running(create_app(cfg(always_fake_model, tmp_path))) as addr:
        assert httpx.get(f"http://{addr}/metrics").status_code == 401
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        assert stream(addr, sid, frames)[-1]["state"] == "rejected"
        httpx.post(f"http://{addr}/v1/liveness", content=frames[0], headers={"content-type": "image/jpeg", **AS_ADMIN})
        r = httpx.get(f"http://{addr}/metrics", headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = [line for line in r.text.splitlines() if not line.startswith("#")]
    assert all(re.fullmatch(r'[a-z_]+(\{[a-z_]+="[a-z]+"(,[a-z_]+="[a-z]+")*\})? \d+', line) for line in samples)
    assert 'marginlive_sessions_total{verdict="rejected",step="passive",liveness_unsure="false"} 1' in samples
    assert 'marginlive_liveness_faces_total{label="fake"} 1' in samples and "marginlive_open_sessions 0" in samples
    assert "marginlive_identities 0" in samples


def test_the_audit_trail_records_each_decision_without_secrets(always_fake_model, tmp_path, frames, caplog):
    """One JSON line per decision: the session's end (verdict, step, reason, client), the verdict
    redeemed once and refused the second time (a forged one, which anyone can send, is not written),
    a wrong admin token; never the token itself."""
    import logging
    caplog.set_level(logging.INFO, logger="marginlive.audit")
    with running(create_app(cfg(always_fake_model, tmp_path))) as addr:
        sid = httpx.post(f"http://{addr}/v1/sessions", json={"audience": "my-app"}).json()["session_id"]
        token = stream(addr, sid, frames)[-1]["verdict"]
        for _ in range(2):
            httpx.post(f"http://{addr}/v1/verdicts/verify", json={"token": token})
        httpx.post(f"http://{addr}/v1/verdicts/verify", json={"token": token[:-4] + "AAAA"})   # forged: not worth a line
        httpx.get(f"http://{addr}/v1/identities", headers={"authorization": "Bearer not-the-admin-token"})
    lines = [r.getMessage() for r in caplog.records if r.name == "marginlive.audit"]
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["session_ended", "verdict_redeemed", "verdict_refused", "admin_token_rejected"]
    ended = events[0]
    assert ended["sid"] == sid and ended["verdict"] == "rejected" and ended["step"] == "passive"
    assert "presentation attack" in ended["reason"] and ended["client"] == "127.0.0.1" and ended["audience"] == "my-app"
    assert events[1]["sid"] == sid and "already verified" in events[2]["reason"]
    assert all(token not in line and token.split(".")[2] not in line for line in lines)


def test_an_unsure_model_asks_for_more_actions_and_the_verdict_says_so(tmp_path, tmp_path_factory, frames):
    from conftest import _constant_model
    model = _constant_model(tmp_path_factory.mktemp("const") / "unsure.onnx", -0.2)   # P(real) 0.45
    with running(create_app(cfg(model, tmp_path))) as addr:
        sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
        msgs = stream(addr, sid, frames)
    asked = [m for m in msgs if m["state"] == "challenge"]
    # the two hands of the pool: the one drawn, and the other in addition
    assert asked and all(m["more_actions"] and m["steps"] == 2 for m in asked)
    claims = tokens.verify(msgs[-1]["verdict"], tokens.rejection_key(SECRET))
    assert claims["verdict"] == "rejected" and claims["liveness_unsure"] is True


def test_serve_says_when_it_cannot_listen(always_real_model, tmp_path, capsys):
    """A port in use or out of range, an address not on this machine: one line and a non-zero exit,
    before the service claims to serve."""
    import socket

    from marginlive.cli import main
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args, says in ((["--port", str(port)], f"cannot listen on 127.0.0.1:{port}"),
                           (["--port", "70000"], "a TCP port from 1 to 65535"),
                           (["--host", "192.0.2.1"], "cannot listen on 192.0.2.1:8000")):
            try:
                rc = main(["serve", "--model", str(always_real_model), "--gallery", str(tmp_path / "g.db"), *args])
            except SystemExit as e:             # argparse's own exit on a bad argument
                rc = e.code
            out, err = capsys.readouterr()
            assert rc != 0 and says in err and "Traceback" not in err and "serving on" not in out, args


def test_served_threshold_decides_the_labels(tmp_path, tmp_path_factory, frames, capsys):
    from conftest import _constant_model
    from marginlive.cli import main
    model = _constant_model(tmp_path_factory.mktemp("const") / "low.onnx", -0.2)   # P(real) 0.45
    for threshold, label in ((None, "fake"), (0.4, "real")):
        with running(create_app(cfg(model, tmp_path, threshold=threshold))) as addr:
            r = httpx.post(f"http://{addr}/v1/liveness", content=frames[0], headers=AS_ADMIN).json()
        assert r["threshold"] == (threshold or 0.5) and r["faces"][0]["label"] == label
    rc = main(["serve", "--model", str(model), "--threshold", "1.5", "--port", "1"])
    err = capsys.readouterr().err
    assert rc != 0 and "--threshold is a probability" in err and "Traceback" not in err


def test_the_audit_trail_goes_to_the_stream_it_is_given_once():
    import io
    import logging

    from marginlive.server import audit
    out = io.StringIO()
    saved = audit.LOGGER.handlers[:], audit.LOGGER.level, audit.LOGGER.propagate
    try:
        audit.configure(out)
        audit.configure(out)               # a second call adds no second handler
        audit.record("identity_removed", name="alice", removed_embeddings=3, client=None)
    finally:
        audit.LOGGER.handlers[:], audit.LOGGER.level, audit.LOGGER.propagate = saved
    line = json.loads(out.getvalue())      # exactly one line, bare JSON
    assert line["event"] == "identity_removed" and line["name"] == "alice" and "client" not in line
    assert isinstance(line["ts"], float) and logging.getLogger("marginlive.audit").propagate is saved[2]
