"""The gallery in PostgreSQL (identity/pg_gallery.py), the same behaviour as the SQLite one: a real
PostgreSQL (Debian's package) in a temporary directory on a free loopback port, started and stopped
here; the tests skip with a reason where it is not installed."""
import dataclasses
import glob
import json
import logging
import os
import shutil
import subprocess
import tempfile

import cv2
import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from challenge_fakes import raising_right_hand
from conftest import need_shared
from marginlive.errors import InputError
from marginlive.identity.gallery import GalleryError, VectorIndex, open_gallery
from marginlive.server import service
from marginlive.server.app import create_app
from server_util import free_port, running
from test_enrol_session import RAISE_RIGHT_HAND, session
from test_server import cfg


def vec(seed):
    return np.random.default_rng(seed).normal(size=128).astype(np.float32)


def _as_postgres(cmd):
    """Run a PostgreSQL tool as the postgres user when we are root (initdb refuses root)."""
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg_url():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql as root)")
    bindir = os.path.dirname(bins[-1])
    d = tempfile.mkdtemp(prefix="marginlive-pg-")
    os.chmod(d, 0o777)
    if os.geteuid() == 0:
        shutil.chown(d, "postgres")
    port = free_port()
    data = os.path.join(d, "data")
    run = lambda *c: subprocess.run(_as_postgres(list(c)), check=True, capture_output=True, timeout=120)  # noqa: E731
    run(f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "marginlive")
    run(f"{bindir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(d, "log"), "-o",
        f"-p {port} -k {d} -c listen_addresses=127.0.0.1", "start")
    try:
        yield f"postgresql://marginlive@127.0.0.1:{port}/postgres"
    finally:
        run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pg(pg_url):
    with open_gallery(pg_url) as g:
        for r in g.list():
            g.remove(r["name"])
        yield g


def test_same_operations_as_sqlite(pg):
    assert pg.add("alice", [vec(1), vec(2)], "e") == 2
    pg.add("alice", [vec(3)], "e")
    pg.add("bob", [vec(4)], "e")
    assert [(r["name"], r["embeddings"]) for r in pg.list()] == [("alice", 3), ("bob", 1)]
    assert pg.count() == 2
    names, vecs = pg.vectors("e")
    assert names == ["alice", "alice", "alice", "bob"] and np.allclose(vecs[0], vec(1))
    assert pg.search("e", vec(4) + 0.01)[0][0] == "bob"
    assert pg.search("e", vec(4), name="alice")[0][0] == "alice"
    assert pg.remove("alice") == 3 and [r["name"] for r in pg.list()] == ["bob"]
    with pytest.raises(GalleryError, match="no identity named 'carol'"):
        pg.remove("carol")
    with pytest.raises(InputError):
        pg.add("  ", [vec(1)], "e")


def test_a_failed_add_leaves_nothing(pg):
    pg.add("alice", [vec(1)], "e")
    with pytest.raises(Exception):
        pg.add("bob", [vec(2), "not a vector"], "e")
    assert [r["name"] for r in pg.list()] == ["alice"]


def test_another_replica_sees_an_enrolment_at_its_next_search(pg, pg_url):
    pg.add("alice", [vec(1)], "e")
    with open_gallery(pg_url) as other:
        assert [h[0] for h in other.search("e", vec(1))] == ["alice"]
        pg.add("bob", [vec(2)], "e")
        assert other.search("e", vec(2))[0] == ("bob", pytest.approx(0.0, abs=1e-5))
        pg.remove("bob")
        assert [h[0] for h in other.search("e", vec(2))] == ["alice"]


def test_a_dropped_connection_fails_one_request_then_is_made_again(pg, pg_url):
    """PostgreSQL restarted or the network dropped: the request that meets it gets UnavailableError
    (a 503, where is the log's, not the client's), the next one a new connection."""
    import psycopg

    from marginlive.errors import UnavailableError
    pg.add("alice", [vec(1)], "e")
    with psycopg.connect(pg_url, autocommit=True) as other:
        # with a timeout (PostgreSQL 14+) the call waits until the backend has gone; without one it
        # only signals it, and the next request could still be served
        other.execute("SELECT pg_terminate_backend(%s, 5000)", (pg.db.info.backend_pid,))
    with pytest.raises(UnavailableError) as e:
        pg.list()
    assert str(e.value) == "the gallery (PostgreSQL) cannot be reached; try again shortly"
    assert [r["name"] for r in pg.list()] == ["alice"]


def test_an_unreachable_database_is_a_clear_error():
    with pytest.raises(GalleryError, match="cannot use this PostgreSQL gallery"):
        open_gallery("postgresql://nobody:secret@127.0.0.1:1/none", timeout=1)


def test_index_search_matches_brute_force():
    rng = np.random.default_rng(0)
    names = [f"p{i % 50}" for i in range(200)]
    vecs = rng.normal(size=(200, 128)).astype(np.float32)
    q = rng.normal(size=128).astype(np.float32)
    d = np.linalg.norm(vecs - q, axis=1)
    want = sorted({n: min(d[i] for i in range(200) if names[i] == n) for n in set(names)}.items(), key=lambda x: x[1])[:3]
    got = VectorIndex(names, vecs).search(q, 3)
    assert [g[0] for g in got] == [w[0] for w in want] and np.allclose([g[1] for g in got], [w[1] for w in want])


@pytest.fixture(scope="module")
def frames(live_frames):
    return [cv2.imencode(".jpg", f.image)[1].tobytes() for f in live_frames]


def server_on(pg_url, model, tmp_path):
    """An app on the PostgreSQL gallery whose sessions ask one action: raise the right hand."""
    return create_app(dataclasses.replace(cfg(model, tmp_path, session=RAISE_RIGHT_HAND), gallery=pg_url))


def test_someone_enrolled_at_one_replicas_camera_is_recognised_at_another(pg, pg_url, always_real_model, tmp_path,
                                                                            frames, monkeypatch):
    """Two servers on one PostgreSQL gallery, both started while it is empty: an enrolment session on
    the first (its landmarks scripted: the video raises no hand), then a login on the second names
    the person."""
    monkeypatch.setattr(service, "GALLERY_RECOUNT_S", 0.0)       # read at each session start
    first, second = (server_on(pg_url, always_real_model, tmp_path) for _ in range(2))
    with running(first) as a, running(second) as b:
        enrolled = session(first, a, frames, enrol="alice")
        login = session(second, b, frames)
    assert enrolled["state"] == "accepted" and enrolled["enrolled"] == "alice", enrolled
    assert login["state"] == "accepted" and login["identity"] == "alice", login
    assert [(r["name"], r["embeddings"]) for r in pg.list()] == [("alice", 5)]


def test_the_python_verbs_enrol_and_verify_on_postgresql(pg, pg_url, always_real_model):
    """``marginlive.enroll`` and ``verify`` on the PostgreSQL gallery, as on a SQLite file: what one
    process enrols another connection finds."""
    import marginlive
    videos = need_shared("data", "videos")
    options = marginlive.IdentityOptions(gallery=pg_url, model=str(always_real_model), enrol_faces=5)
    done = marginlive.enroll("bob", videos / "live-1.webm", options)
    assert (done.total, done.gallery) == (5, pg.path) and done.enough
    assert [(r["name"], r["embeddings"]) for r in pg.list()] == [("bob", 5)]
    assert marginlive.verify("bob", videos / "live-1.webm", options).match
    assert marginlive.identify(videos / "live-2.mp4", options).identity is None


def test_a_gallery_its_server_cannot_read_ends_a_login_with_a_reason_not_a_traceback(pg, pg_url, always_real_model,
                                                                                      tmp_path, frames, caplog):
    """A botched migration renames a column under a running server: the login's identity step cannot
    read the gallery. The stream closes (1011) with a reason that names no database, the log keeps
    the cause, and no traceback is written."""
    import psycopg
    pg.add("alice", [vec(1)], "dlib-resnet-128")
    app = server_on(pg_url, always_real_model, tmp_path)
    with running(app) as addr:
        with psycopg.connect(pg_url, autocommit=True) as other:
            other.execute("ALTER TABLE embeddings RENAME COLUMN vector TO vector_old")
        try:
            app.state.ml.landmarker = raising_right_hand()
            sid = httpx.post(f"http://{addr}/v1/sessions").json()["session_id"]
            with caplog.at_level(logging.INFO), connect(f"ws://{addr}/v1/sessions/{sid}/stream") as ws:
                for i in range(200):
                    ws.send(frames[i % len(frames)])
                    last = json.loads(ws.recv())
                    if "error" in last or last.get("state") in ("accepted", "rejected"):
                        break
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv()
        finally:
            with psycopg.connect(pg_url, autocommit=True) as other:
                other.execute("ALTER TABLE embeddings RENAME COLUMN vector_old TO vector")
    assert "gallery cannot be read" in last.get("error", "") and closed.value.rcvd.code == 1011, last
    assert "postgresql" not in last["error"] and "vector" not in last["error"]
    assert not any(r.exc_info for r in caplog.records), [r.getMessage() for r in caplog.records if r.exc_info]
    assert any("vector" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
