"""The gallery in PostgreSQL (identity/pg_gallery.py), the same behaviour as the SQLite one: a real
PostgreSQL (Debian's package) in a temporary directory on a free loopback port, started and stopped
here; the tests skip with a reason where it is not installed."""
import glob
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from marginlive.errors import InputError
from marginlive.identity.gallery import GalleryError, VectorIndex, open_gallery
from server_util import free_port


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


def test_someone_enrolled_at_one_replicas_camera_is_recognised_at_another(pg, pg_url, always_real_model, tmp_path,
                                                                            live_frames, monkeypatch):
    """Two servers on one PostgreSQL gallery, both started while it is empty: an enrolment session on
    the first (its landmarks scripted: the video raises no hand), then a login on the second names
    the person."""
    import dataclasses

    import cv2

    from marginlive.challenge.session import SessionConfig
    from marginlive.server import service
    from marginlive.server.app import create_app
    from server_util import running
    from test_enrol_session import session
    from test_server import cfg
    frames = [cv2.imencode(".jpg", f.image)[1].tobytes() for f in live_frames]
    asks = SessionConfig(n_challenges=1, challenge_timeout_s=2.0, retries=0, passive_min_frames=3, passive_window=5,
                         actions=("raise_right_hand",))
    monkeypatch.setattr(service, "GALLERY_RECOUNT_S", 0.0)       # read at each session start
    first, second = (create_app(dataclasses.replace(cfg(always_real_model, tmp_path, session=asks), gallery=pg_url))
                     for _ in range(2))
    with running(first) as a, running(second) as b:
        enrolled = session(first, a, frames, enrol="alice")
        login = session(second, b, frames)
    assert enrolled["state"] == "accepted" and enrolled["enrolled"] == "alice", enrolled
    assert login["state"] == "accepted" and login["identity"] == "alice", login
    assert [(r["name"], r["embeddings"]) for r in pg.list()] == [("alice", 5)]
