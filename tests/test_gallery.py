import multiprocessing as mp
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from marginlive.errors import InputError, UnavailableError
from marginlive.identity.gallery import Gallery, GalleryError, default_gallery_path


def vec(seed):
    return np.random.default_rng(seed).normal(size=128).astype(np.float32)


def test_the_gallery_variable_names_a_file_or_a_url_and_set_empty_is_unset(monkeypatch):
    monkeypatch.delenv("MARGINLIVE_GALLERY", raising=False)
    assert default_gallery_path() == Path(".marginlive/gallery.db")
    monkeypatch.setenv("MARGINLIVE_GALLERY", "")          # `MARGINLIVE_GALLERY= make run`: not the folder "."
    assert default_gallery_path() == Path(".marginlive/gallery.db")
    monkeypatch.setenv("MARGINLIVE_GALLERY", "people.db")
    assert default_gallery_path() == Path("people.db")
    monkeypatch.setenv("MARGINLIVE_GALLERY", "postgresql://app@db:5432/people")
    assert default_gallery_path() == "postgresql://app@db:5432/people"


def test_add_list_remove_and_wal(tmp_path):
    db = tmp_path / "g.db"
    with Gallery(db) as g:
        assert g.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert g.add("alice", [vec(1), vec(2)], "e") == 2
        g.add("alice", [vec(3)], "e")
        g.add("bob", [vec(4)], "e")
        assert [(r["name"], r["embeddings"]) for r in g.list()] == [("alice", 3), ("bob", 1)]
        assert g.count() == 2
        names, vecs = g.vectors("e")
        assert len(names) == 4 and vecs.shape == (4, 128)
        assert np.allclose(vecs[0], vec(1))
        assert g.remove("alice") == 3
        assert [r["name"] for r in g.list()] == ["bob"]
        assert g.db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 1  # cascade
        with pytest.raises(GalleryError, match="no identity named 'carol'"):
            g.remove("carol")


def test_failed_add_leaves_nothing(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        g.add("alice", [vec(1)], "e")
        with pytest.raises(Exception):
            g.add("bob", [vec(2), "not a vector"], "e")
        assert [r["name"] for r in g.list()] == ["alice"]
        for bad in ("  ", "a" * 201, "nul\x00byte", "tab\there", "zero\u200bwidth", " alice", "alice "):
            with pytest.raises(InputError, match="printable"):
                g.add(bad, [vec(1)], "e")
        with pytest.raises(InputError):
            g.add("carol", [], "e")
        assert g.add("Zoë Ólafsdóttir-Ng", [vec(3)], "e") == 1     # any script, spaces and marks are names


def test_corrupt_file(tmp_path):
    p = tmp_path / "g.db"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GalleryError, match="corrupt"):
        Gallery(p)


def test_locked_database_is_a_clear_error(tmp_path):
    p = tmp_path / "g.db"
    Gallery(p).close()
    other = sqlite3.connect(str(p), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        g = Gallery(p, timeout=0.2)
        with pytest.raises(UnavailableError, match="locked by another process"):    # transient: a 503
            g.add("alice", [vec(1)], "e")
    finally:
        other.execute("ROLLBACK")
        other.close()
    with Gallery(p) as g:
        assert g.list() == []


def _writer(path, prefix, n):
    with Gallery(path, timeout=30) as g:
        for i in range(n):
            g.add(f"{prefix}{i}", [vec(i)], "e")


def test_safe_under_several_processes(tmp_path):
    p = tmp_path / "g.db"
    Gallery(p).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(p), k, 25)) for k in ("a", "b", "c")]
    for q in procs:
        q.start()
    for q in procs:
        q.join(60)
        assert q.exitcode == 0
    with Gallery(p) as g:
        assert len(g.list()) == 75
