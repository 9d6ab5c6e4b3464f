"""Enrolment by a live session: the admin's session whose best faces enrol once liveness and the
challenge pass, on a real server, a real face detector and the real dlib embedder; the challenge's
landmarks scripted (the live video raises no hand)."""
import cv2
import httpx
import pytest

from challenge_fakes import raising_right_hand
from marginlive.challenge.session import SessionConfig
from marginlive.errors import InputError
from marginlive.server import tokens
from marginlive.server.app import create_app
from marginlive.server.metrics import IDENTITIES
from marginlive.server.service import ENROLMENT_AUDIENCE
from server_util import running
from test_server import AS_ADMIN, SECRET, cfg, stream

OVEREXPOSED = "face overexposed: move out of the direct light"   # what an overexposed face is told

pytestmark = pytest.mark.slow
# sessions whose one action is raising the right hand, which challenge_fakes.raising_right_hand does
RAISE_RIGHT_HAND = SessionConfig(n_challenges=1, challenge_timeout_s=2.0, retries=0, passive_min_frames=3,
                                 passive_window=5, actions=("raise_right_hand",))


@pytest.fixture(scope="module")
def frames(live_frames):
    return [cv2.imencode(".jpg", f.image)[1].tobytes() for f in live_frames]


@pytest.fixture
def app(always_real_model, tmp_path):
    return create_app(cfg(always_real_model, tmp_path, session=RAISE_RIGHT_HAND))


def session(app, addr, frames, **body):
    """The last message of a session (created with JSON ``body``, as the admin) whose user raises
    the right hand when asked (the only action the app's sessions ask for)."""
    app.state.ml.landmarker = raising_right_hand()
    r = httpx.post(f"http://{addr}/v1/sessions", json=body, headers=AS_ADMIN)
    assert r.status_code == 201, r.text
    return stream(addr, r.json()["session_id"], frames)[-1]


def enrolment(app, addr, name, frames):
    return session(app, addr, frames, enrol=name)


def test_a_live_session_enrols_its_best_faces_and_the_next_login_is_recognised(app, frames, caplog):
    import json
    import logging
    caplog.set_level(logging.INFO, logger="marginlive.audit")
    with running(app) as addr:
        last = enrolment(app, addr, "alice", frames)
        assert last["state"] == "accepted" and last["enrolled"] == "alice" and last["faces"] == 5, last
        # the audit trail names who enrolled whom, in which session
        events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "marginlive.audit"]
        enrolled = next(e for e in events if e["event"] == "identity_enrolled")
        ended = next(e for e in events if e["event"] == "session_ended")
        assert enrolled["name"] == "alice" and enrolled["added"] == 5 and enrolled["client"] == "127.0.0.1"
        assert enrolled["sid"] == ended["sid"] and ended["enrol"] == "alice" and ended["verdict"] == "accepted"
        listed = httpx.get(f"http://{addr}/v1/identities", headers=AS_ADMIN).json()["identities"]
        assert [(i["name"], i["embeddings"], i["enough_faces"]) for i in listed] == [("alice", 5, True)]
        # its verdict names who was enrolled, not a login: no identity, and the enrolment's audience
        claims = tokens.verify(last["verdict"], SECRET)
        assert claims["enrolled"] == "alice" and claims["identity"] is None and claims["aud"] == ENROLMENT_AUDIENCE
        import jwt      # nor a relying party checking it with the secret in a JWT library, audience named or not
        for audience in (None, "my-app"):
            with pytest.raises(jwt.InvalidAudienceError):
                jwt.decode(last["verdict"], SECRET, algorithms=["HS256"], audience=audience)
        for bound in ({}, {"audience": "my-app"}):     # no login takes it, named audience or none
            r = httpx.post(f"http://{addr}/v1/verdicts/verify", json={"token": last["verdict"], **bound})
            assert r.status_code == 400 and "an enrolment's, not a login's" in r.json()["detail"], r.text
        r = httpx.post(f"http://{addr}/v1/verdicts/verify", json={"token": last["verdict"],
                                                                   "audience": ENROLMENT_AUDIENCE})
        assert r.status_code == 200 and r.json()["enrolled"] == "alice" and r.json()["identity"] is None
        # a login by the same face, with no name given, is recognised as the identity just enrolled
        login = session(app, addr, frames)
        assert login["state"] == "accepted" and login["identity"] == "alice" and "enrolled" not in login, login


def test_an_enrolment_refuses_a_face_enrolled_as_another_and_another_face_under_a_name(app, frames,
                                                                                       nuaa_real_images):
    with running(app) as addr:
        subject = sorted(nuaa_real_images)[0]
        files = [("image", p.read_bytes()) for p in nuaa_real_images[subject][:5]]
        assert httpx.post(f"http://{addr}/v1/identities/carol", files=files, headers=AS_ADMIN).status_code == 201
        other = enrolment(app, addr, "carol", frames)    # another face added to carol's
        assert other["state"] == "rejected" and "does not match the faces enrolled as 'carol'" in other["reason"]
        assert enrolment(app, addr, "alice", frames)["state"] == "accepted"
        again = enrolment(app, addr, "bob", frames)      # alice's face under a second name
        assert again["state"] == "rejected" and "enrolled under another name" in again["reason"], again
        listed = httpx.get(f"http://{addr}/v1/identities", headers=AS_ADMIN).json()["identities"]
        assert sorted((i["name"], i["embeddings"]) for i in listed) == [("alice", 5), ("carol", 5)]


def test_pictures_sent_to_enrol_are_one_persons_alone(app, nuaa_real_images):
    """The same rule for pictures sent to the API: 409, and nothing added."""
    first, second = sorted(nuaa_real_images)[:2]
    with running(app) as addr:
        def enrol(name, subject, pictures):
            files = [("image", p.read_bytes()) for p in nuaa_real_images[subject][pictures]]
            return httpx.post(f"http://{addr}/v1/identities/{name}", files=files, headers=AS_ADMIN)
        assert enrol("carol", first, slice(0, 5)).status_code == 201
        r = enrol("dave", first, slice(5, 8))
        assert r.status_code == 409 and "enrolled under another name" in r.json()["detail"]
        r = enrol("carol", second, slice(0, 3))
        assert r.status_code == 409 and "does not match the faces enrolled as 'carol'" in r.json()["detail"]
        listed = httpx.get(f"http://{addr}/v1/identities", headers=AS_ADMIN).json()["identities"]
        assert [(i["name"], i["embeddings"]) for i in listed] == [("carol", 5)]


def test_an_enrolment_session_is_the_admins_and_bound_to_nothing_else(app, frames):
    url = "/v1/sessions"
    with running(app) as addr:
        assert httpx.post(f"http://{addr}{url}", json={"enrol": "alice"}).status_code == 401
        wrong = {"authorization": "Bearer wrong-token-0123456789"}
        r = httpx.post(f"http://{addr}{url}", json={"enrol": "alice"}, headers=wrong)
        assert r.status_code == 403
        for extra in ({"audience": "my-app"}, {"expected_identity": "bob"}):
            r = httpx.post(f"http://{addr}{url}", json={"enrol": "alice", **extra}, headers=AS_ADMIN)
            assert r.status_code == 400 and "enrolment session" in r.json()["detail"], r.text
        r = httpx.post(f"http://{addr}{url}", json={"audience": ENROLMENT_AUDIENCE})     # a login's, as one
        assert r.status_code == 400 and "enrolment sessions' own" in r.json()["detail"]
        r = httpx.post(f"http://{addr}{url}", json={"enrol": " alice"}, headers=AS_ADMIN)
        assert r.status_code == 400 and "identity name" in r.json()["detail"]


def test_too_few_clear_faces_enrol_nothing(app, live_frames):
    """Fewer than ENOUGH_FACES faces of enrolment quality seen: the session's rejection, nothing added."""
    from marginlive.identity.embed import embedding_crop
    svc = app.state.ml
    e = svc.create("10.0.0.9", enrol="alice")
    f = live_frames[0].image
    box = svc.detector.detect(f)[0]
    with pytest.raises(InputError, match=r"too few clear views of the face to enrol \(2 of 5\)"):
        svc.enrol_faces(e, [embedding_crop(f, box)] * 2)
    assert svc.gallery_list() == []



def test_a_login_at_a_camera_that_overexposes_every_face_names_nobody_and_says_why(app, frames):
    """Faces above the quality rule's exposure are named as someone else far more often: a login whose camera
    gives no clear view ends rejected with the reason, never named; the same person at a clear camera is."""
    import numpy as np
    from conftest import need_shared
    from marginlive.evaluation.processing import overexposed
    from marginlive.frames import read_video_frames
    video = read_video_frames(need_shared("data", "videos", "live-2.mp4"), every=4, max_frames=16)
    boxes = [app.state.ml.detector.detect(f.image)[0] for f in video]
    bright = [cv2.imencode(".jpg", overexposed(f.image, b, np.random.default_rng(0)), [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
              .tobytes() for f, b in zip(video, boxes)]
    clear = [cv2.imencode(".jpg", f.image)[1].tobytes() for f in video]
    with running(app) as addr:
        assert enrolment(app, addr, "bob", clear)["state"] == "accepted"
        login = session(app, addr, bright)
        assert login["state"] == "rejected" and login["identity"] is None, login
        assert login["reason"] == f"no clear view of the face (most views: {OVEREXPOSED})", login
        assert session(app, addr, clear)["identity"] == "bob"


def test_a_login_sees_an_identity_another_process_enrolled_after_the_server_started(app, frames, live_frames,
                                                                                     monkeypatch):
    """The gallery was empty when the server started; then `marginlive enroll` (here: its calls, on
    another connection to the same file) adds alice: the next login is recognised as her."""
    from marginlive.identity.gallery import open_gallery
    from marginlive.identity.recognise import Recognizer
    from marginlive.server import service
    monkeypatch.setattr(service, "GALLERY_RECOUNT_S", 0.0)       # read at each session start
    svc = app.state.ml
    with running(app) as addr:
        first = session(app, addr, frames)
        assert first["state"] == "accepted" and first["identity"] is None     # nobody enrolled: liveness only
        with open_gallery(svc.cfg.gallery) as other:
            rec = Recognizer(other)
            vecs = [rec.embed(f.image, svc.detector.detect(f.image)[0]) for f in live_frames[:5]]
            other.add("alice", vecs, rec.embedder.name)
        login = session(app, addr, frames)
        text = httpx.get(f"http://{addr}/metrics", headers=AS_ADMIN).text
    assert login["state"] == "accepted" and login["identity"] == "alice", login
    assert f"{IDENTITIES} 1" in text.splitlines()


def test_a_gallery_that_cannot_be_counted_does_not_stop_a_session_from_starting(app, frames, monkeypatch, caplog):
    """The gallery file broken while the server runs: a session still starts and is decided on the
    last count (here none enrolled: liveness only), and the log says why."""
    import logging
    from pathlib import Path
    from marginlive.server import service
    monkeypatch.setattr(service, "GALLERY_RECOUNT_S", 0.0)
    db = Path(app.state.ml.cfg.gallery)
    with running(app) as addr:
        db.write_bytes(b"not a database" * 100)
        with caplog.at_level(logging.WARNING, logger="marginlive"):
            login = session(app, addr, frames)
    assert login["state"] == "accepted" and login["identity"] is None, login
    assert any("could not be counted" in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records)
