"""The enrolled gallery in SQLite: one file, created on first use, WAL mode, safe under several
processes. Identities hold several embeddings; adding and removing are single transactions,
so the file is never left half-written."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from ..errors import InputError, MarginliveError

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
"""


class GalleryError(MarginliveError):
    exit_code = 7
    http_status = 409


def default_gallery_path() -> Path:
    return Path(os.environ.get("MARGINLIVE_GALLERY", ".marginlive/gallery.db"))


class Gallery:
    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 5.0):
        self.path = Path(path) if path is not None else default_gallery_path()
        if self.path.exists() and not self.path.is_file():
            raise GalleryError(f"{self.path}: not a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None

    def _error(self, e: sqlite3.Error) -> GalleryError:
        msg = str(e)
        if "locked" in msg or "busy" in msg:
            return GalleryError(f"{self.path}: the gallery is locked by another process; try again")
        if "not a database" in msg or "malformed" in msg or "corrupt" in msg:
            return GalleryError(f"{self.path}: not a marginlive gallery or corrupt (move it away to start afresh)")
        return GalleryError(f"{self.path}: {msg}")

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, name: str, vectors: list[np.ndarray], embedder: str, sources: list[str] | None = None) -> int:
        """Add embeddings to ``name`` (created if new) in one transaction. Returns the count."""
        name = name.strip()
        if not name or len(name) > 200 or any(c in name for c in "\n\r\t"):
            raise InputError("an identity name must be 1-200 printable characters")
        if not vectors:
            raise InputError("no embedding to enrol")
        sources = sources or [""] * len(vectors)
        now = time.time()
        try:
            with self._tx():
                self.db.execute("INSERT OR IGNORE INTO identities(name, created) VALUES (?, ?)", (name, now))
                (iid,) = self.db.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
                self.db.executemany(
                    "INSERT INTO embeddings(identity_id, embedder, vector, source, created) VALUES (?,?,?,?,?)",
                    [(iid, embedder, np.asarray(v, np.float32).tobytes(), s, now) for v, s in zip(vectors, sources)])
        except sqlite3.Error as e:
            raise self._error(e) from None
        return len(vectors)

    def remove(self, name: str) -> int:
        try:
            with self._tx():
                row = self.db.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
                if row is None:
                    raise GalleryError(f"no identity named {name!r}")
                n = self.db.execute("SELECT COUNT(*) FROM embeddings WHERE identity_id = ?", row).fetchone()[0]
                self.db.execute("DELETE FROM identities WHERE id = ?", row)
        except sqlite3.Error as e:
            raise self._error(e) from None
        return n

    def list(self) -> list[dict]:
        try:
            rows = self.db.execute(
                "SELECT i.name, COUNT(e.id), i.created FROM identities i LEFT JOIN embeddings e "
                "ON e.identity_id = i.id GROUP BY i.id ORDER BY i.name").fetchall()
        except sqlite3.Error as e:
            raise self._error(e) from None
        return [{"name": n, "embeddings": c, "created": t} for n, c, t in rows]

    def vectors(self, embedder: str, name: str | None = None) -> tuple[list[str], np.ndarray]:
        q = ("SELECT i.name, e.vector FROM embeddings e JOIN identities i ON i.id = e.identity_id "
             "WHERE e.embedder = ?")
        args: tuple = (embedder,)
        if name is not None:
            q += " AND i.name = ?"
            args += (name,)
        try:
            rows = self.db.execute(q, args).fetchall()
        except sqlite3.Error as e:
            raise self._error(e) from None
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        return [r[0] for r in rows], np.stack([np.frombuffer(r[1], np.float32) for r in rows])

    def _tx(self):
        db = self.db

        class _Tx:
            def __enter__(self_):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self_, et, ev, tb):
                db.execute("COMMIT" if et is None else "ROLLBACK")
                return False
        return _Tx()
