"""The enrolled gallery: identities holding several embeddings each, in SQLite (one file, created on
first use, WAL mode, safe under several processes) or PostgreSQL (``postgresql://...``, shared by
replicas). Adding and removing are single transactions, so nothing is left half-written.

1:N search (``search``) runs on an in-memory copy of the embeddings, grouped by identity, that is
reloaded only when the gallery's version counter (bumped by every add and remove, by any process)
has moved: one small query per search, numpy for the distances (docs/gallery.md measures it at 10k
and 100k identities). pgvector would move the search into PostgreSQL; Debian's PostgreSQL here ships
without it, so this fallback is what runs and is tested.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from .._util import check_writable
from ..errors import InputError, MarginliveError, UnavailableError

log = logging.getLogger("marginlive")


class GalleryError(MarginliveError):
    exit_code = 7
    http_status = 409


def default_gallery_path() -> Path | str:
    """$MARGINLIVE_GALLERY (a file, or a URL kept as text), else (unset or empty) .marginlive/gallery.db."""
    spec = os.environ.get("MARGINLIVE_GALLERY") or ".marginlive/gallery.db"
    return spec if "://" in spec else Path(spec)


def check_name(name: str) -> str:
    """``name`` if it can be an identity's: 1-200 printable characters (no control character, which
    PostgreSQL would refuse, nor a format one), not starting or ending with a space (a name typed
    with one would never match the one enrolled). InputError otherwise."""
    if not isinstance(name, str) or not 0 < len(name) <= 200 or not name.isprintable() or name != name.strip():
        raise InputError("an identity name must be 1-200 printable characters, with no space at either end")
    return name


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def not_made_yet(spec: str | os.PathLike) -> bool:
    """Whether ``spec`` names a SQLite gallery whose file does not exist yet (the first enrolment
    makes it); a PostgreSQL URL never."""
    return not str(spec).startswith(POSTGRES_SCHEMES) and not Path(spec).exists()


def open_gallery(spec: str | os.PathLike | None = None, existing: bool = False, **kw):
    """The gallery at ``spec``: a ``postgresql://`` URL, else a SQLite file (default:
    $MARGINLIVE_GALLERY or .marginlive/gallery.db). ``existing``: a SQLite file must be there
    already (GalleryError), as for a command that only reads or removes: a mistyped path then
    names itself instead of making an empty gallery (and its folders) where it points."""
    spec = default_gallery_path() if spec is None else spec
    if isinstance(spec, str) and spec.startswith(POSTGRES_SCHEMES):
        from .pg_gallery import PostgresGallery
        return PostgresGallery(spec, **kw)
    if "://" in str(spec):
        raise InputError(f"{spec}: a gallery is a SQLite file or postgresql://USER@HOST:PORT/DB")
    if existing and not Path(spec).exists():
        raise GalleryError(f"{spec}: no gallery there yet (marginlive enroll makes one)")
    return Gallery(spec, **kw)


class VectorIndex:
    """One embedder's vectors in memory, rows grouped by identity: nearest identities by numpy."""

    def __init__(self, names: list[str], vecs: np.ndarray):
        order = np.argsort(np.asarray(names, object), kind="stable")
        names = [names[i] for i in order]
        self.vecs = np.ascontiguousarray(vecs[order], np.float32) if len(names) else np.zeros((0, 0), np.float32)
        self.starts = np.array([i for i in range(len(names)) if i == 0 or names[i] != names[i - 1]], np.int64)
        self.names = [names[i] for i in self.starts]

    def search(self, q: np.ndarray, k: int = 2) -> list[tuple[str, float]]:
        """The ``k`` nearest identities to ``q`` (128,): (name, distance to its nearest embedding)."""
        if not self.names:
            return []
        d = np.sqrt(((self.vecs - np.asarray(q, np.float32)) ** 2).sum(1))
        per = np.minimum.reduceat(d, self.starts)
        top = np.argsort(per)[:k]
        return [(self.names[i], float(per[i])) for i in top]


class GalleryBase:
    """The operations, written once for both databases; subclasses give the connection (``_run``,
    ``_tx``, ``_error``) and the SQL placeholder ``P``."""
    P = "?"

    def _q(self, sql: str) -> str:
        return sql.replace("%s", self.P)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, name: str, vectors: list[np.ndarray], embedder: str, sources: list[str] | None = None) -> int:
        """Add embeddings to ``name`` (created if new) in one transaction. Returns the count."""
        check_name(name)
        if not vectors:
            raise InputError("no embedding to enrol")
        sources = sources or [""] * len(vectors)
        rows = [(embedder, np.asarray(v, np.float32).tobytes(), s) for v, s in zip(vectors, sources)]
        now = time.time()
        with self._tx() as cur:
            cur.execute(self._q("INSERT INTO identities(name, created) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"),
                        (name, now))
            cur.execute(self._q("SELECT id FROM identities WHERE name = %s"), (name,))
            (iid,) = cur.fetchone()
            cur.executemany(self._q("INSERT INTO embeddings(identity_id, embedder, vector, source, created) "
                                    "VALUES (%s, %s, %s, %s, %s)"), [(iid, e, v, s, now) for e, v, s in rows])
            cur.execute("UPDATE gallery_version SET version = version + 1")
        return len(vectors)

    def remove(self, name: str) -> int:
        with self._tx() as cur:
            cur.execute(self._q("SELECT id FROM identities WHERE name = %s"), (name,))
            row = cur.fetchone()
            if row is None:
                raise GalleryError(f"no identity named {name!r}")
            cur.execute(self._q("SELECT COUNT(*) FROM embeddings WHERE identity_id = %s"), row)
            n = cur.fetchone()[0]
            cur.execute(self._q("DELETE FROM identities WHERE id = %s"), row)
            cur.execute("UPDATE gallery_version SET version = version + 1")
        return int(n)

    def list(self) -> list[dict]:
        rows = self._run("SELECT i.name, COUNT(e.id), i.created FROM identities i LEFT JOIN embeddings e "
                         "ON e.identity_id = i.id GROUP BY i.id, i.name, i.created ORDER BY i.name")
        return [{"name": n, "embeddings": int(c), "created": t} for n, c, t in rows]

    def count(self) -> int:
        """How many identities are enrolled."""
        return int(self._run("SELECT COUNT(*) FROM identities")[0][0])

    def vectors(self, embedder: str, name: str | None = None) -> tuple[list[str], np.ndarray]:
        q = ("SELECT i.name, e.vector FROM embeddings e JOIN identities i ON i.id = e.identity_id "
             "WHERE e.embedder = %s")
        args: tuple = (embedder,)
        if name is not None:
            q += " AND i.name = %s"
            args += (name,)
        rows = self._run(self._q(q + " ORDER BY e.id"), args)
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        return [r[0] for r in rows], np.stack([np.frombuffer(bytes(r[1]), np.float32) for r in rows])

    def version(self) -> int:
        return int(self._run("SELECT version FROM gallery_version")[0][0])

    def search(self, embedder: str, q: np.ndarray, name: str | None = None, k: int = 2) -> list[tuple[str, float]]:
        """The ``k`` nearest identities to the embedding ``q``: [(name, distance)], nearest first;
        ``name``: that identity only (1:1)."""
        if name is not None:
            return VectorIndex(*self.vectors(embedder, name)).search(q, 1)
        v = self.version()
        cached = getattr(self, "_index", None)
        if cached is None or cached[0] != (v, embedder):
            self._index = ((v, embedder), VectorIndex(*self.vectors(embedder)))
        return self._index[1].search(q, k)


SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    embedder TEXT NOT NULL,
    vector BLOB NOT NULL,
    source TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_identity ON embeddings(identity_id);
CREATE TABLE IF NOT EXISTS gallery_version (one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL);
"""


def make_folder_of(path: Path) -> None:
    """Make the folder a new SQLite gallery file ``path`` goes in, or raise GalleryError saying why
    it cannot be written there (``_util.check_writable``: a file is tried, as os.access cannot tell root)."""
    try:
        check_writable(path)
    except InputError as e:
        raise GalleryError(f"a gallery cannot be made there: {e}") from None


class Gallery(GalleryBase):
    """The gallery in a SQLite file."""

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 5.0):
        self.path = Path(path if path is not None else default_gallery_path())
        if self.path.exists() and not self.path.is_file():
            raise GalleryError(f"{self.path}: not a file")
        if not self.path.exists():
            make_folder_of(self.path)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            if not self.db.execute("SELECT 1 FROM gallery_version").fetchone():   # reads need no write lock
                self.db.execute("INSERT OR IGNORE INTO gallery_version VALUES (1, 0)")
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None

    def _error(self, e: sqlite3.Error) -> MarginliveError:
        msg = str(e)
        if "locked" in msg or "busy" in msg:   # transient: a 503 with Retry-After; where it is, the log's
            log.warning("marginlive: SQLite gallery %s: %s", self.path, msg)
            return UnavailableError("the gallery is locked by another process; try again shortly")
        if "not a database" in msg or "malformed" in msg or "corrupt" in msg:
            return GalleryError(f"{self.path}: not a marginlive gallery or corrupt (move it away to start afresh)")
        return GalleryError(f"{self.path}: {msg}")

    def close(self):
        self.db.close()

    def _run(self, sql: str, args: tuple = ()) -> list:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise self._error(e) from None

    def _tx(self):
        gallery = self

        class _Tx:
            def __enter__(self_):
                try:
                    gallery.db.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as e:
                    raise gallery._error(e) from None
                return gallery.db.cursor()

            def __exit__(self_, et, ev, tb):
                try:
                    gallery.db.execute("COMMIT" if et is None else "ROLLBACK")
                except sqlite3.Error as e:
                    if gallery.db.in_transaction:
                        gallery.db.execute("ROLLBACK")
                    raise gallery._error(e) from None
                if isinstance(ev, sqlite3.Error):
                    raise gallery._error(ev) from None
                return False
        return _Tx()
