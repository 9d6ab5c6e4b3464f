"""The HTTP/WebSocket service.

REST
  GET  /health                      liveness of the service, model name
  POST /v1/liveness                 one image (JPEG/PNG body) -> faces with scores and labels
  POST /v1/sessions                 start an authentication session -> id, expiry, stream URL
  POST /v1/verdicts/verify          check a signed verdict -> its claims (400 if forged/expired)
  GET  /v1/identities               (admin) list the gallery
  POST /v1/identities/{name}        (admin) enrol one live face image
  DELETE /v1/identities/{name}      (admin) remove an identity
WebSocket
  /v1/sessions/{id}/stream          client sends JPEG frames (binary); server answers each with
                                    the session state, instruction and progress; the last message
                                    carries the verdict signed by the server (HS256 JWT).
The decision is the server's: challenges are drawn on the server only after the passive step
passes, so a recording made before the session cannot anticipate them.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

import anyio
from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ..challenge.session import ACCEPTED, REJECTED, Session, SessionConfig
from ..errors import InputError, MarginliveError
from ..frames import decode_image
from ..liveness.runtime import LivenessModel
from ..pipeline import LivenessDetector
from . import tokens
from .limits import FailureCounter, RateLimiter

STATIC = Path(__file__).parent / "static"


@dataclass
class ServerConfig:
    model: str | None = None
    gallery: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    max_upload_bytes: int = 4 * 1024 * 1024
    max_frame_bytes: int = 1024 * 1024
    session_start_ttl_s: float = 120.0     # a created session must start streaming within this
    session: SessionConfig = field(default_factory=SessionConfig)
    rate_per_s: float = 5.0                # per client, for /v1/liveness and /v1/sessions
    burst: int = 30
    max_failures: int = 5                  # rejected sessions per client per window...
    failure_window_s: float = 600.0
    verdict_ttl_s: float = 300.0
    workers: int = 2                       # frames processed at once (CPU cores)
    max_bad_frames: int = 10


@dataclass
class Entry:
    id: str
    client: str
    created: float
    expires: float
    status: str = "new"        # new -> streaming -> done
    verdict: str | None = None


def is_truncated_jpeg(data: bytes) -> bool:
    """A JPEG must end with its EOI marker (FFD9); decoders otherwise fill the rest with grey."""
    return data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] != b"\xff\xd9"


def decode_upload(data: bytes, what="image"):
    if is_truncated_jpeg(data):
        raise InputError(f"{what} is a truncated JPEG")
    return decode_image(data, what)


def create_app(cfg: ServerConfig | None = None) -> FastAPI:
    cfg = cfg or ServerConfig()
    model = LivenessModel(cfg.model)        # fails fast on a bad model file
    app = FastAPI(title="marginlive", version="0.1.0", docs_url="/docs")
    state = _State(cfg, model)
    app.state.ml = state

    @app.exception_handler(MarginliveError)
    async def _ml_error(request, e: MarginliveError):
        return JSONResponse({"detail": str(e)}, status_code=e.http_status)

    def client_of(request_or_ws) -> str:
        c = request_or_ws.client
        return c.host if c else "unknown"

    def limit(request: Request):
        if not state.rate.allow(client_of(request)):
            raise HTTPException(429, "too many requests; slow down")

    async def read_body(request: Request, cap: int) -> bytes:
        n = request.headers.get("content-length")
        if n is not None and n.isdigit() and int(n) > cap:
            raise HTTPException(413, f"body larger than {cap} bytes")
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > cap:
                raise HTTPException(413, f"body larger than {cap} bytes")
        if not buf:
            raise HTTPException(400, "empty body: send the image bytes (JPEG or PNG)")
        return bytes(buf)

    def admin(request: Request):
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise HTTPException(401, "admin token required (Authorization: Bearer <token>)")
        if not hmac.compare_digest(auth[7:].encode(), cfg.admin_token.encode()):
            raise HTTPException(403, "wrong admin token")

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": model.name, "margin": model.margin, "sessions": len(state.sessions)}

    @app.post("/v1/liveness")
    async def liveness(request: Request):
        limit(request)
        data = await read_body(request, cfg.max_upload_bytes)
        img = decode_upload(data)
        results = await anyio.to_thread.run_sync(state.predict, img, limiter=state.limiter)
        return {"model": model.name, "threshold": model.threshold,
                "faces": [r.to_dict() for r in results]}

    @app.post("/v1/sessions", status_code=201)
    async def new_session(request: Request):
        limit(request)
        client = client_of(request)
        if state.failures.blocked(client):
            raise HTTPException(429, "too many failed attempts from this client; try again later")
        e = state.create(client)
        return {"session_id": e.id, "expires_at": e.expires, "stream": f"/v1/sessions/{e.id}/stream",
                "challenges": cfg.session.n_challenges}

    @app.post("/v1/verdicts/verify")
    async def verify_verdict(request: Request):
        try:
            body = await request.json()
            token = body["token"]
            if not isinstance(token, str):
                raise TypeError
        except Exception:
            raise HTTPException(400, 'send JSON {"token": "..."}') from None
        try:
            return {"valid": True, "claims": tokens.verify(token, cfg.secret)}
        except tokens.TokenError as e:
            raise HTTPException(400, f"invalid verdict: {e}") from None

    @app.get("/v1/identities")
    async def list_identities(request: Request):
        admin(request)
        return {"identities": await anyio.to_thread.run_sync(state.gallery_list)}

    @app.post("/v1/identities/{name}", status_code=201)
    async def enrol(name: str, request: Request):
        admin(request)
        data = await read_body(request, cfg.max_upload_bytes)
        img = decode_upload(data)
        n = await anyio.to_thread.run_sync(state.enrol, name, img, limiter=state.limiter)
        return {"name": name, "added": n}

    @app.delete("/v1/identities/{name}")
    async def remove(name: str, request: Request):
        admin(request)
        from ..identity.gallery import GalleryError
        try:
            n = await anyio.to_thread.run_sync(state.gallery_remove, name)
        except GalleryError as e:
            raise HTTPException(404, str(e)) from None
        return {"name": name, "removed_embeddings": n}

    @app.websocket("/v1/sessions/{sid}/stream")
    async def stream(ws: WebSocket, sid: str):
        await ws.accept()
        e = state.sessions.get(sid)
        problem = state.claim(e)
        if problem:
            code, msg = problem
            await ws.send_json({"error": msg})
            await ws.close(code=code, reason=msg)
            return
        session = await anyio.to_thread.run_sync(state.new_session)
        t0 = time.monotonic()
        seq, bad = 0, 0
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(msg.get("code", 1000))
                data = msg.get("bytes")
                if data is None:
                    if (msg.get("text") or "").strip() == "end":
                        status = session.finish(time.monotonic() - t0, "client ended the session")
                        await _final(ws, state, e, session, status, seq)
                        return
                    await ws.send_json({"seq": seq, "error": "send frames as binary JPEG messages"})
                    continue
                seq += 1
                if len(data) > cfg.max_frame_bytes:
                    await ws.send_json({"seq": seq, "error": f"frame larger than {cfg.max_frame_bytes} bytes"})
                    await ws.close(code=1009, reason="frame too large")
                    state.finish(e, session, REJECTED)
                    return
                try:
                    frame = decode_upload(data, "frame")
                except InputError as err:
                    bad += 1
                    await ws.send_json({"seq": seq, "error": str(err)})
                    if bad >= cfg.max_bad_frames:
                        await ws.close(code=1003, reason="too many unreadable frames")
                        state.finish(e, session, REJECTED)
                        return
                    continue
                t = time.monotonic() - t0
                status = await anyio.to_thread.run_sync(session.update, frame, t, limiter=state.limiter)
                if status.state in (ACCEPTED, REJECTED):
                    await _final(ws, state, e, session, status, seq)
                    return
                await ws.send_json({"seq": seq, **status.to_dict()})
        except WebSocketDisconnect:
            state.finish(e, session, REJECTED)

    @app.get("/")
    async def index():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _final(ws, state: "_State", e: Entry, session: Session, status, seq: int):
    token = state.finish(e, session, status.state)
    await ws.send_json({"seq": seq, **status.to_dict(), "verdict": token, "log": session.log})
    await ws.close(code=1000)


class _State:
    def __init__(self, cfg: ServerConfig, model: LivenessModel):
        self.cfg, self.model = cfg, model
        self.sessions: dict[str, Entry] = {}
        self.lock = threading.Lock()
        self.rate = RateLimiter(cfg.rate_per_s, cfg.burst)
        self.failures = FailureCounter(cfg.max_failures, cfg.failure_window_s)
        self.limiter = anyio.CapacityLimiter(cfg.workers)
        self._detectors: Queue = Queue()
        for _ in range(cfg.workers):
            self._detectors.put(LivenessDetector(model=model))
        self._recognizer = None
        self._rec_lock = threading.Lock()

    # ------------------------------------------------------------------ liveness and identity
    def predict(self, img):
        det = self._detectors.get()   # MediaPipe graphs are not thread-safe: one per worker
        try:
            return det.predict(img)
        finally:
            self._detectors.put(det)

    def recognizer(self):
        if self._recognizer is None:
            from ..identity.recognise import Recognizer
            self._recognizer = Recognizer(self.cfg.gallery)
        return self._recognizer

    def identify(self, frame, face):
        with self._rec_lock:   # dlib's network is not safe for concurrent calls
            return self.recognizer().identify_face(frame, face)

    def gallery_list(self):
        with self._rec_lock:
            return self.recognizer().gallery.list()

    def gallery_remove(self, name):
        with self._rec_lock:
            return self.recognizer().gallery.remove(name)

    def enrol(self, name, img):
        from ..identity.recognise import live_single_face
        det = self._detectors.get()
        try:
            box = live_single_face(det, img, "image")
        finally:
            self._detectors.put(det)
        with self._rec_lock:
            rec = self.recognizer()
            return rec.gallery.add(name, [rec.embed(img, box)], rec.embedder.name, ["http"])

    # --------------------------------------------------------------------------- sessions
    def create(self, client: str) -> Entry:
        now = time.time()
        with self.lock:
            for sid in [k for k, v in self.sessions.items() if v.expires < now - 3600]:
                del self.sessions[sid]
            e = Entry(uuid.uuid4().hex, client, now, now + self.cfg.session_start_ttl_s)
            self.sessions[e.id] = e
        return e

    def claim(self, e: Entry | None):
        """(close code, message) if the session cannot stream, else None (and it is now in use)."""
        with self.lock:
            if e is None:
                return 4404, "unknown session"
            if e.status != "new":
                return 4409, "session already used"
            if time.time() > e.expires:
                e.status = "done"
                return 4410, "session expired"
            e.status = "streaming"
        return None

    def new_session(self) -> Session:
        has_gallery = self.cfg.gallery is not None and Path(self.cfg.gallery).exists() and bool(self.gallery_list())
        return Session(LivenessDetector(model=self.model), self.cfg.session,
                       identify=self.identify if has_gallery else None)

    def finish(self, e: Entry, session: Session, verdict: str) -> str | None:
        with self.lock:
            if e.status == "done":
                return e.verdict
            e.status = "done"
        if verdict != ACCEPTED:
            self.failures.add(e.client)
        claims = {"sid": e.id, "verdict": verdict, "identity": session.identity,
                  "reason": session.reason, "liveness_model": self.model.name}
        e.verdict = tokens.sign(claims, self.cfg.secret, self.cfg.verdict_ttl_s)
        return e.verdict
