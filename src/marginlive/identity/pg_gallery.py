"""The gallery in PostgreSQL (``--gallery postgresql://USER@HOST:PORT/DB``): the same operations as
the SQLite gallery (``gallery.GalleryBase``), for replicas that share one gallery."""
from __future__ import annotations

import logging
from contextlib import contextmanager

from ..errors import UnavailableError
from .gallery import GalleryBase, GalleryError

log = logging.getLogger("marginlive")

SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    id BIGSERIAL PRIMARY KEY,
    identity_id BIGINT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    embedder TEXT NOT NULL,
    vector BYTEA NOT NULL,
    source TEXT,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_identity ON embeddings(identity_id);
CREATE TABLE IF NOT EXISTS gallery_version (one INTEGER PRIMARY KEY CHECK (one = 1), version BIGINT NOT NULL);
INSERT INTO gallery_version VALUES (1, 0) ON CONFLICT DO NOTHING;
"""
SCHEMA_LOCK = 727601   # an advisory lock key: two replicas creating the schema at once take turns


class PostgresGallery(GalleryBase):
    """The gallery in PostgreSQL (``url``: postgresql://USER@HOST:PORT/DB), shared by replicas: the
    schema made at first use (replicas take turns under an advisory lock), a broken connection made
    again at the next request. ``timeout``: seconds to connect (at least 1; default 5). Errors are
    ``GalleryError`` with the URL's password left out."""
    P = "%s"

    def __init__(self, url: str, timeout: float = 5.0):
        import psycopg
        self.psycopg, self.path, self._url, self._timeout = psycopg, _redacted(url), url, max(1, int(timeout))
        try:
            self.db = self._connect()
            with self.db.transaction(), self.db.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                cur.execute(SCHEMA)
        except psycopg.Error as e:
            raise GalleryError(f"{self.path}: cannot use this PostgreSQL gallery: {_first_line(e)}") from None

    def _connect(self):
        return self.psycopg.connect(self._url, connect_timeout=self._timeout, autocommit=True)

    def close(self):
        self.db.close()

    def _connection(self):
        """The connection, made again if the last one broke (the server restarted, the network
        dropped): a request during an outage fails, the first one after it succeeds."""
        if self.db.closed or self.db.broken:
            self.db.close()
            self.db = self._connect()
        return self.db

    def _failure(self, e: Exception) -> Exception:
        if isinstance(e, self.psycopg.OperationalError):   # the server, not the statement
            log.warning("marginlive: PostgreSQL gallery %s: %s", self.path, _first_line(e))
            return UnavailableError("the gallery (PostgreSQL) cannot be reached; try again shortly")
        return GalleryError(f"{self.path}: {_first_line(e)}")

    def _run(self, sql: str, args: tuple = ()) -> list:
        try:
            with self._connection().cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        except self.psycopg.Error as e:
            raise self._failure(e) from None

    @contextmanager
    def _tx(self):
        try:
            db = self._connection()
            with db.transaction(), db.cursor() as cur:
                yield cur
        except self.psycopg.Error as e:
            raise self._failure(e) from None


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit
    u = urlsplit(url)
    if u.password is None:
        return url
    netloc = u.netloc.replace(f":{u.password}@", ":***@")
    return urlunsplit(u._replace(netloc=netloc))


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
