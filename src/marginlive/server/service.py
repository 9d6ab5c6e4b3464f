"""What one server process holds: the model and the pooled graphs, and through its store
(``store.py``: in memory, or Redis shared by replicas) the sessions, the limits and the verdicts
already redeemed. The HTTP layer (``app.py``, ``stream.py``) only translates requests into these calls.

A session's life: ``create`` (capped per client and in total, refused while the client or the
claimed identity is locked out) -> ``claim`` (the stream opens: same client, within its start
deadline, once) -> frames -> ``finish`` (one signed verdict; a rejection counts against the
client and the claimed identity) -> ``redeem`` (the relying party verifies it once).
An enrolment session (``create(enrol=NAME)``, the admin's) runs the same steps; at its end its best
faces enrol as NAME (``enrol_faces``), so that only a face that passed liveness and the challenge enrols.
"""
from __future__ import annotations

import logging
import math
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import anyio

from ..challenge.session import ACCEPTED, Session, SessionConfig
from ..errors import InputError, MarginliveError
from ..identity.gallery import check_name
from ..identity.recognise import Decision, check_one_person, faces_of, session_enrolment
from ..identity.select import CANDIDATES
from ..liveness.runtime import LivenessModel
from . import audit, metrics, tokens
from .protocol import ConnectionLimits
from .security import client_of
from .store import CapReached, Entry, MemoryStore

log = logging.getLogger("marginlive")


class Refused(MarginliveError):
    """A request the service turns down for now (``http_status`` 409, 429 or 503); ``retry_after``
    in seconds, or None when retrying cannot help."""

    def __init__(self, message: str, http_status: int, retry_after: float | None = None):
        super().__init__(message)
        self.http_status, self.retry_after = http_status, retry_after


STOPPING = "this server is stopping once the logins in flight are done; try again"
MIN_SECRET_BYTES = 32
MAX_ENROL_IMAGES = 10      # pictures one enrolment request may hold by default (also the API's schema)
MIN_ADMIN_TOKEN_CHARS = 16
# how often (s) a session start reads again how many identities the gallery holds: another replica, or
# `marginlive enroll` on the same file, enrols while this process serves
GALLERY_RECOUNT_S = 1.0
# the audience of an enrolment session's verdict: redeemed only by a caller that names it, so that no
# relying party takes an enrolment for a login; its claims name who was ``enrolled``, and no identity
ENROLMENT_AUDIENCE = "marginlive:enrolment"
LIVENESS_API = ("public", "admin", "off")


@dataclass
class ServerConfig:
    """Settings of ``marginlive serve`` (times in seconds, sizes in bytes).

    Defaults suit one process on a few cores: 2 frames scored at once, 3 open sessions per
    client and 64 in all, a stream closed after 5 s without a frame, 5 rejections per client
    (and per claimed identity) in 10 minutes before a lockout, verdicts valid 5 minutes."""
    model: str | None = None
    threshold: float | None = None         # on P(real); None: the model's own (marginlive calibrate picks one)
    gallery: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # other keys whose verdicts are still redeemed, never signed with: while the signing key is
    # rotated, the next one (before the replicas switch to it) or the one before (until its verdicts
    # expire), so that no replica refuses another's verdict (docs/deploying.md)
    verify_secrets: tuple[bytes, ...] = ()
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # other admin tokens accepted too, while the admin token is changed and its clients (a scraper,
    # an enrolment tool) move to the new one (docs/deploying.md)
    other_admin_tokens: tuple[str, ...] = ()
    max_upload_bytes: int = 4 * 1024 * 1024
    max_enrol_images: int = MAX_ENROL_IMAGES   # pictures one enrolment request may hold (bytes: the above)
    max_frame_bytes: int = 1024 * 1024
    max_pixels: int = 25_000_000           # an image's header may claim at most this many pixels
    max_frame_pixels: int = 3840 * 2160    # a stream's frame: a 4K camera's at most (each one is decoded)
    body_timeout_s: float = 10.0           # a request body must arrive within this
    # a request's line and headers must arrive within this of the connection opening (or of the
    # request's first byte): far more than any client needs (server/protocol.py; 10 s)
    header_timeout_s: float = ConnectionLimits.header_timeout_s
    # HTTP connections one address may hold open in a process (a trusted proxy's are not capped): a
    # browser's login opens a few; an office behind one NAT address reaching the service directly, more (32)
    max_connections_per_address: int = ConnectionLimits.per_address
    # an IPv6 client is its network of this many bits for every per-client count (rate, sessions,
    # lockouts, connections): a home line or phone may send from any address of its /64 (1-128)
    ipv6_prefix: int = ConnectionLimits.ipv6_prefix
    session_start_ttl_s: float = 120.0     # a created session must start streaming within this
    idle_timeout_s: float = 5.0            # a stream without a frame for this long ends ("timeout")
    # at a stop signal, how long the logins streaming may take to finish (server/drain.py): a login's
    # actions and their retries take 5-25 s; systemd's TimeoutStopSec must leave this (deploy/)
    drain_timeout_s: float = 30.0
    session: SessionConfig = field(default_factory=SessionConfig)
    rate_per_s: float = 5.0                # per client, for /v1/liveness and /v1/sessions
    burst: int = 30
    max_sessions_per_client: int = 3       # open (created or streaming) sessions
    max_sessions: int = 64
    max_failures: int = 5                  # rejected sessions per client / claimed identity per window
    failure_window_s: float = 600.0
    verdict_ttl_s: float = 300.0            # under the record's RETENTION_S (store.py): redeemed against it
    frame_threads: int = 2                 # frames decoded and scored at once per process (CPU cores)
    # frames a stream may have scored per second (on average; a second's worth at once): the page
    # sends 10, and a client flooding frames would take the frame threads from everyone else's
    # sessions. A frame beyond it is answered "skipped", not decoded
    max_fps: float = 15.0
    max_bad_frames: int = 10
    allowed_origins: tuple[str, ...] = ()  # page origins besides the server's own
    redis: str | None = None               # redis://HOST:PORT/DB: state shared by replicas (else in memory)
    # who may call POST /v1/liveness, which answers each face's P(real): "admin" (the admin token),
    # "public" (anyone, rate-limited) or "off". Scores for any picture help an attacker tune a replay
    # until it passes; a session's stream tells the client labels only, never scores.
    liveness_api: str = "admin"

    def __post_init__(self):
        if self.liveness_api not in LIVENESS_API:
            raise InputError(f"liveness_api must be one of {', '.join(LIVENESS_API)}, not {self.liveness_api!r}")
        # HS256 needs a key at least as long as its hash (RFC 7518, 3.2): a short one can be found
        # offline from any verdict, and then verdicts forged
        for name, key in (("MARGINLIVE_SECRET", self.secret), *(("MARGINLIVE_VERIFY_SECRETS", k)
                                                                 for k in self.verify_secrets)):
            if len(key) < MIN_SECRET_BYTES:
                raise InputError(f"a signing secret ({name}) has {len(key)} bytes; it needs at least "
                                 f"{MIN_SECRET_BYTES} (make one: python -c 'import secrets; print(secrets.token_hex(32))')")
        # the admin endpoints answer anyone who can reach the port: a word from a list is found online
        for name, token in (("--admin-token, MARGINLIVE_ADMIN_TOKEN", self.admin_token),
                            *(("MARGINLIVE_OTHER_ADMIN_TOKENS", t) for t in self.other_admin_tokens)):
            if len(token) < MIN_ADMIN_TOKEN_CHARS:
                raise InputError(f"an admin token ({name}) has {len(token)} characters; it needs at least "
                                 f"{MIN_ADMIN_TOKEN_CHARS} (make one: python -c "
                                 "'import secrets; print(secrets.token_urlsafe(24))')")
        # 0 would score one frame, answer no request, close every connection at once or refuse each one
        limits = {"max_fps": self.max_fps, "rate_per_s": self.rate_per_s, "header_timeout_s": self.header_timeout_s,
                  "max_connections_per_address": self.max_connections_per_address}
        if not all(v > 0 for v in limits.values()):
            raise InputError(f"{', '.join(limits)} must be above 0, got {', '.join(map(str, limits.values()))}")
        if not 1 <= self.ipv6_prefix <= 128:
            raise InputError(f"ipv6_prefix must be 1-128 bits, not {self.ipv6_prefix}")


class Service:
    """One server process's state and the steps of a login, behind the HTTP layer (module docstring).

    Holds the liveness model and the graphs it pools (BlazeFace, the far-face detector, the landmark
    models: ``cfg.frame_threads`` frames scored at once), the store (``cfg.redis``: Redis shared by
    replicas, else this process's memory) and the gallery (``cfg.gallery``: opened at start, so a
    broken one stops the server with its reason). ``close`` releases the graphs.
    """

    def __init__(self, cfg: ServerConfig, model: LivenessModel):
        from ..challenge.landmarks import Landmarker
        from ..detect import create_detector
        from ..pipeline import LivenessDetector
        from .pools import GraphPool, PooledDetector, PooledLandmarker
        self.cfg, self.model = cfg, model
        if cfg.redis:
            from .store import RedisStore
            self.store = RedisStore(cfg.redis)
        else:
            self.store = MemoryStore()
        self.limiter = anyio.CapacityLimiter(cfg.frame_threads)   # frames decoded and scored at once
        # this process's streams now running, and whether a stop signal asked it to drain them (drain.py)
        self.streams_open, self.draining = 0, False
        # one BlazeFace on ONNX Runtime serves every frame thread (a session runs from several at once)
        self.detector = create_detector()
        # sessions look for a face too far for the detector above (to say "come closer") with this
        # one: it runs only on faceless frames, at most twice a second a session
        self.far_detectors = GraphPool(lambda: create_detector("mediapipe-full"), 1)
        self.landmarkers = GraphPool(lambda: Landmarker(static=True), cfg.frame_threads)
        self.liveness = LivenessDetector(model=model, detector=self.detector,
                                         threshold=cfg.threshold)
        self.landmarker = PooledLandmarker(self.landmarkers)
        self.far_faces = PooledDetector(self.far_detectors, "mediapipe-full")
        self._recognizer = None
        self._rec_lock = threading.Lock()
        # identities_now's own gallery handle and lock: a count does not wait for an identity step's embedding
        self._counter, self._counted_at, self._count_lock = None, time.monotonic(), threading.Lock()
        self.gallery_size = self._open_gallery()

    def close(self):
        self.detector.close()
        self.far_detectors.close()
        self.landmarkers.close()
        if self._counter is not None:
            self._counter.close()

    # ------------------------------------------------------------------ liveness and identity
    def _open_gallery(self) -> int:
        """Open an existing gallery at start, so a corrupt file stops the server with its reason
        instead of failing every session later. Returns the number of identities (0: none).
        A PostgreSQL gallery (``postgresql://``) is opened (and its schema made) at start."""
        from ..identity.gallery import make_folder_of, not_made_yet, open_gallery
        g = self.cfg.gallery
        if g is None:
            return 0
        if not_made_yet(g):
            make_folder_of(Path(g))   # the file is made at the first enrolment, in a folder checked now
            return 0
        self._counter = open_gallery(g)       # kept: identities_now counts on it
        return self._counter.count()

    def identities_now(self) -> int:
        """How many identities the gallery holds (0: sessions check liveness only), read again at most
        once every ``GALLERY_RECOUNT_S``; where the gallery cannot be read, the last count (the
        session's identity step then says so), so that a session starts whatever the gallery's state."""
        from ..identity.gallery import not_made_yet, open_gallery
        g = self.cfg.gallery
        if g is None or time.monotonic() - self._counted_at < GALLERY_RECOUNT_S:
            return self.gallery_size
        with self._count_lock:
            try:
                if self._counter is None:      # none at start: opened once the first enrolment made it
                    if not_made_yet(g):
                        return self.gallery_size
                    self._counter = open_gallery(g)
                self.gallery_size = self._counter.count()
            except MarginliveError as e:     # unreachable, locked or broken: the identity step will say so
                log.warning("marginlive: the gallery's identities could not be counted: %s", e)
            self._counted_at = time.monotonic()      # tried again in a second, not at every session start
        return self.gallery_size

    def recognizer(self):
        if self._recognizer is None:
            from ..identity.recognise import Recognizer
            self._recognizer = Recognizer(self.cfg.gallery)
        return self._recognizer

    def identify(self, faces, name: str | None = None):
        """The ``Decision`` on a session's best (frame, face) pairs; ``name``: 1:1 against it only."""
        with self._rec_lock:   # dlib's network is not safe for concurrent calls
            return self.recognizer().identify_faces(faces, name)

    def gallery_list(self):
        with self._rec_lock:
            return self.recognizer().gallery.list()

    def gallery_remove(self, name):
        with self._rec_lock:
            return self.recognizer().gallery.remove(name)

    def enrol(self, name, pictures: list[tuple[str, bytes]]) -> tuple[int, int]:
        """Enrol the live faces of ``pictures`` ([(what, encoded image)]), all or none: one of them not
        an image, or without exactly one live face of enrolment quality, is a 4xx error naming it, and
        nothing is added; nor where they are not one person's alone (``check_one_person``, a 409). One
        picture is decoded at a time (each may hold up to ``max_pixels``). Returns the faces added and
        the identity's faces in all."""
        from ..identity.quality import face_quality
        from ..identity.recognise import live_single_face
        from .uploads import decode_upload
        vecs = []
        for what, data in pictures:
            img = decode_upload(data, what, self.cfg.max_pixels)
            box = live_single_face(self.liveness, img, what)
            q = face_quality(img, box)
            if not q.usable:
                raise InputError(f"{what}: not of enrolment quality: {'; '.join(q.problems)}")
            with self._rec_lock:
                vecs.append(self.recognizer().embed(img, box))
        with self._rec_lock:
            rec = self.recognizer()
            check_one_person(rec, name, vecs)
            n = rec.gallery.add(name, vecs, rec.embedder.name, ["http"] * len(vecs))
        return n, self._faces_after_enrolment(name)

    def enrol_faces(self, e: Entry, faces) -> Decision:
        """Enrolment session ``e``'s identity step (``recognise.session_enrolment``): its best faces
        enrol as ``e.enrol``, or an ``InputError`` rejects it and nothing is added."""
        with self._rec_lock:
            decision = session_enrolment(self.recognizer(), e.enrol)(faces)
        audit.record("identity_enrolled", name=e.enrol, added=decision.probes,
                     faces=self._faces_after_enrolment(e.enrol), client=e.client, sid=e.id)
        return decision

    def _faces_after_enrolment(self, name: str) -> int:
        """``name``'s faces in all, just enrolled; the identities counted again (``gallery_size``), so
        that this process's next session identifies without waiting for ``identities_now``."""
        rows = self.gallery_list()
        self.gallery_size = len(rows)
        return faces_of(rows, name)

    # --------------------------------------------------------------------------- sessions
    def client(self, request_or_ws) -> str:
        """Who a request or stream counts as for the per-client limits (``security.client_key``)."""
        return client_of(request_or_ws, self.cfg.ipv6_prefix)

    def allow(self, client: str) -> bool:
        """The client's request rate within ``rate_per_s`` (burst ``burst``)?"""
        return self.store.allow("client:" + client, self.cfg.rate_per_s, self.cfg.burst)

    def _check_lockout(self, client: str, identity: str | None):
        keys = [(f"client:{client}", "this client")] + ([(f"identity:{identity}", "this identity")] if identity else [])
        for key, who in keys:
            times = self.store.failures(key, self.cfg.failure_window_s)
            if len(times) >= self.cfg.max_failures:
                wait = self.cfg.failure_window_s - (time.time() - times[-self.cfg.max_failures])
                audit.record("locked_out", client=client, key=key.split(":", 1)[0], expected_identity=identity)
                raise Refused(f"too many failed attempts from {who}; try again later", 429, max(1.0, wait))

    def create(self, client: str, nonce: str | None = None, audience: str | None = None,
               expected_identity: str | None = None, enrol: str | None = None) -> Entry:
        """A new session for ``client``, or ``Refused`` (429 per client, 503 when full or stopping).
        ``enrol``: an enrolment session (the caller checked the admin token) for that name."""
        if self.draining:
            raise Refused(STOPPING, 503, 1)
        if expected_identity is not None:
            check_name(expected_identity)      # one no enrolment can hold would reject every time
        if enrol is not None:
            check_name(enrol)
            if expected_identity is not None or audience is not None:
                raise InputError("an enrolment session is bound to no audience or expected identity")
            audience = ENROLMENT_AUDIENCE
        elif audience == ENROLMENT_AUDIENCE:     # a login's verdict must not pass for an enrolment's
            raise InputError(f"the audience {ENROLMENT_AUDIENCE!r} is the enrolment sessions' own")
        self._check_lockout(client, expected_identity)
        now = time.time()
        e = Entry(uuid.uuid4().hex, client, now, now + self.cfg.session_start_ttl_s, nonce, audience,
                  expected_identity, enrol)
        wait = max(1, math.ceil(self.cfg.idle_timeout_s))
        try:
            self.store.add(e, self.cfg.max_sessions_per_client, self.cfg.max_sessions)
        except CapReached as full:
            if full.scope == "client":
                raise Refused(f"this client already has {self.cfg.max_sessions_per_client} open sessions; "
                              "finish one first", 429, wait) from None
            raise Refused("the server is at its session limit; try again shortly", 503, wait) from None
        return e

    CLAIM_PROBLEMS = {"unknown": (4404, "unknown session"), "client": (4403, "the session belongs to another client"),
                      "used": (4409, "session already used"), "expired": (4410, "session expired")}

    def claim(self, sid: str, client: str) -> tuple[Entry | None, tuple[int, str] | None]:
        """(the session, None) once this stream holds it, else (it or None, (close code, message))."""
        e = self.store.get(sid)
        if e is not None and e.client == client and e.status == "new":
            try:
                self._check_lockout(client, e.expected_identity)
            except Refused as r:
                self.store.close(sid)
                return e, (4429, str(r))
        res = self.store.claim(sid, client)
        return (e, None) if res == "ok" else (e, self.CLAIM_PROBLEMS[res])

    def new_session(self, e: Entry) -> Session:
        """The challenge state machine of one stream, on the pooled graphs. With an expected
        identity, only that identity is accepted (a 1:1 check); without a gallery, none is."""
        if e.enrol is not None:     # keeps the faces an enrolment chooses from, and enrols them at its end
            cfg = replace(self.cfg.session, identity_frames=max(self.cfg.session.identity_frames, CANDIDATES))
            return Session(self.liveness, cfg, identify=partial(self.enrol_faces, e), landmarker=self.landmarker,
                           far_faces=self.far_faces)
        identify = self.identify if self.identities_now() else None
        if e.expected_identity is not None:
            want = e.expected_identity

            def identify(faces, _any=identify):
                return _any(faces, want) if _any else Decision(None, None, None, None, len(faces))
        return Session(self.liveness, self.cfg.session, identify=identify, landmarker=self.landmarker,
                       far_faces=self.far_faces)

    def finish(self, e: Entry, session: Session, verdict: str) -> str | None:
        """Sign the session's one verdict (later calls return the same token)."""
        if not self.store.close(e.id):
            done = self.store.get(e.id)
            return None if done is None else done.verdict
        self.store.incr(metrics.session_series(verdict, session.rejected_in, session.more_actions))
        audit.record("session_ended", sid=e.id, client=e.client, verdict=verdict, step=session.rejected_in or "complete",
                     reason=session.reason or None, identity=session.identity, expected_identity=e.expected_identity,
                     audience=e.audience, enrol=e.enrol, liveness_unsure=session.more_actions, model=self.model.name)
        if verdict != ACCEPTED:
            self.store.add_failure(f"client:{e.client}", self.cfg.failure_window_s)
            if e.expected_identity is not None:
                self.store.add_failure(f"identity:{e.expected_identity}", self.cfg.failure_window_s)
        # liveness_unsure: the passive model was unsure and the user did more actions; a relying
        # party may ask such a login for a second factor
        claims = {"sid": e.id, "jti": e.id, "verdict": verdict, "identity": session.identity,
                  "reason": session.reason, "liveness_model": self.model.name,
                  "liveness_unsure": session.more_actions}
        if e.enrol is not None:     # who was enrolled, not who logged in: no identity to log in as
            claims.update(identity=None, enrolled=e.enrol if verdict == ACCEPTED else None)
        claims.update({k: v for k, v in (("nonce", e.nonce), ("aud", e.audience),
                                         ("expected_identity", e.expected_identity)) if v is not None})
        token = tokens.sign(claims, tokens.verdict_key(self.cfg.secret, verdict == ACCEPTED), self.cfg.verdict_ttl_s)
        self.store.set_verdict(e.id, token, identity_evidence(session.decision))
        return token

    def _verified(self, token: str) -> dict:
        """A verdict's claims, whichever key signed it (``tokens``: the secret signs acceptances only,
        a key derived from it every other verdict; the verify secrets' pairs are accepted too), or
        ``TokenError``."""
        keys = [tokens.verdict_key(s, accepted) for s in (self.cfg.secret, *self.cfg.verify_secrets)
                for accepted in (True, False)]
        claims, which = tokens.verify_any(token, keys)
        if (claims.get("verdict") == ACCEPTED) != (which % 2 == 0):
            raise tokens.TokenError("malformed token: its verdict does not match its key", signed=True)
        return claims

    def redeem(self, token: str, nonce: str | None = None, audience: str | None = None,
               expected_identity: str | None = None) -> tuple[dict, dict | None]:
        """Check a verdict for a relying party, once: its claims and how its identity was matched
        (``identity_evidence``, from its session's record; None without a match), or ``TokenError``
        (forged, expired, another nonce / audience / identity, on no record) or ``Refused`` 409
        (already redeemed)."""
        claims = self._verified(token)
        if claims.get("aud") == ENROLMENT_AUDIENCE and audience != ENROLMENT_AUDIENCE:
            # a relying party that names no audience must not take an enrolment for a login
            raise tokens.TokenError(f"the verdict is an enrolment's, not a login's (redeem it with the audience "
                                    f"{ENROLMENT_AUDIENCE!r})", signed=True)
        for key, want in (("nonce", nonce), ("aud", audience)):
            if want is not None and claims.get(key) != want:
                raise tokens.TokenError(f"the verdict was issued for another {'audience' if key == 'aud' else key}",
                                        signed=True)
        if expected_identity is not None and claims.get("identity") != expected_identity:
            raise tokens.TokenError("the verdict names another identity", signed=True)
        # the verdict its session's record holds, no other: a server keeping its sessions in memory
        # knows nothing of verdicts signed before a restart (or by another process), so it could not
        # tell whether they were redeemed before; and a token signed with a leaked secret is on no record
        e = self.store.get(str(claims.get("sid")))
        if e is None or e.verdict != token:
            raise tokens.TokenError("this verdict is on no record of this server (another server's, or one from "
                                    "before a restart without --redis)", signed=True)
        jti = claims.get("jti")
        if not isinstance(jti, str):
            raise tokens.TokenError("malformed token: no verdict id", signed=True)
        if not self.store.redeem(jti, float(claims["exp"])):
            raise Refused("this verdict was already verified once", 409)
        return claims, e.evidence


def identity_evidence(d) -> dict | None:
    """A ``Decision``'s match as the relying party is told it: embedding distance (lower is
    closer), margin to the next identity, probes (the session's best frames) compared."""
    if d is None or d.distance is None:
        return None
    return {"distance": round(d.distance, 4), "margin": None if d.margin is None else round(d.margin, 4),
            "probes": d.probes}
