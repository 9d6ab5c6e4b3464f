"""The HTTP/WebSocket service.

REST
  GET  /health                      liveness of the service, model name
  POST /v1/liveness                 one image (raw JPEG/PNG/WebP body or a multipart file) -> faces with scores
                                    (and "grayscale": a picture without colour, its score unreliable)
  POST /v1/sessions                 start an authentication session -> id, expiry, stream URL; optional
                                    JSON {"nonce", "audience", "expected_identity"} bound into its verdict;
                                    (admin) {"enrol": NAME}: an enrolment session, whose best faces enrol
  POST /v1/verdicts/verify          redeem a signed verdict once -> accepted?, identity, session (400 if
                                    forged, expired or for another nonce; 409 on a second use)
  GET  /v1/identities               (admin) list the gallery
  POST /v1/identities/{name}        (admin) enrol live face pictures (up to 10 files of one form)
  DELETE /v1/identities/{name}      (admin) remove an identity
  GET  /metrics                     (admin) Prometheus counters (``metrics.py``)
  GET  /, /enrol                    the pages: a login; an enrolment (name and admin token typed in)
WebSocket
  /v1/sessions/{id}/stream          see ``stream.py``
The decision is the server's: challenges are drawn on the server only after the passive step
passes, so a recording made before the session cannot anticipate them.
"""
from __future__ import annotations

import contextlib
import hmac
from pathlib import Path

import anyio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.exception_handlers import http_exception_handler
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import MarginliveError
from ..frames import grayscale_faces
from ..identity.recognise import ENOUGH_FACES, with_enough_faces
from ..liveness.runtime import LivenessModel
from . import audit, metrics, tokens
from .drain import hook_stop_signals
from .protocol import LIMITS_STATE, ConnectionLimits
from .openapi import BINDING, ENROL_BODY, IMAGE_BODY, METRICS_TEXT, SESSION_BODY, VERIFY_BODY, VERIFY_REJECTED, errors
from .security import SecurityHeaders, SessionCors
from .service import STOPPING, Refused, ServerConfig, Service
from .stream import router as stream_router
from .uploads import decode_upload, optional_text, read_image_bytes, read_images, read_json_object

__all__ = ["ServerConfig", "create_app"]
STATIC = Path(__file__).parent / "static"
router = APIRouter()


def service(request: Request) -> Service:
    return request.app.state.ml


def rate_limited(request: Request, svc: Service = Depends(service)) -> Service:
    if not svc.allow(svc.client(request)):
        raise Refused("too many requests; slow down", 429, 1)
    return svc


def admin(request: Request, svc: Service = Depends(rate_limited)) -> Service:
    """The admin endpoints' guard; their requests share the client's rate limit, so that tokens
    cannot be tried at the speed of the network."""
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        raise HTTPException(401, "admin token required (Authorization: Bearer <token>)")
    given = auth[7:].encode()     # compared with every token, so the time taken names none
    if not any([hmac.compare_digest(given, t.encode()) for t in (svc.cfg.admin_token, *svc.cfg.other_admin_tokens)]):
        audit.record("admin_token_rejected", client=svc.client(request), path=request.url.path)
        raise HTTPException(403, "wrong admin token")
    return svc


def scoring(request: Request, svc: Service = Depends(rate_limited)) -> Service:
    """``/v1/liveness``'s guard, as ``ServerConfig.liveness_api`` says: anyone, the admin, nobody (404)."""
    if svc.cfg.liveness_api == "off":
        raise HTTPException(404, "the scoring endpoint is off on this server (serve --liveness-api)")
    return admin(request, svc) if svc.cfg.liveness_api == "admin" else svc


def _binding(body: dict) -> tuple[str | None, ...]:
    """What a verdict is bound to, from a JSON body: its nonce, audience and expected identity
    (``BINDING``; None where absent)."""
    return tuple(optional_text(body, k) for k in BINDING)


async def read_image(request: Request, svc: Service):
    data = await read_image_bytes(request, svc.cfg.max_upload_bytes, svc.cfg.body_timeout_s)
    return await anyio.to_thread.run_sync(decode_upload, data, "image", svc.cfg.max_pixels, limiter=svc.limiter)


@router.get("/health", responses=errors(503))
async def health(svc: Service = Depends(service)):
    """Public, so it says no more than that the service answers and with which model: how many
    sessions are open and how many people are enrolled are the admin's (``/metrics``). 503 while its
    Redis cannot be reached or while it stops (``drain.py``), so that a load balancer sends the logins
    to another replica."""
    if svc.draining:
        raise Refused(STOPPING, 503, 1)
    await anyio.to_thread.run_sync(svc.store.ping)
    return {"status": "ok", "model": svc.model.name, "margin": svc.model.margin}


@router.post("/v1/liveness", openapi_extra=IMAGE_BODY, responses=errors(400, 401, 403, 404, 408, 413, 429, 503))
async def liveness(request: Request, svc: Service = Depends(scoring)):
    img = await read_image(request, svc)
    faces = await anyio.to_thread.run_sync(_scored_faces, svc, img, limiter=svc.limiter)
    return {"model": svc.model.name, "threshold": svc.liveness.threshold, "faces": faces}


def _scored_faces(svc: Service, img) -> list[dict]:
    """Each face's result, and whether its picture is grayscale (the model reads colour: a
    grayscale face's score is not reliable, and a session does not count it)."""
    results = svc.liveness.predict(img)
    for r in results:
        svc.store.incr(metrics.face_series(r.label))
    return [{**r.to_dict(), "grayscale": g} for r, g in zip(results, grayscale_faces(img, results))]


@router.post("/v1/sessions", status_code=201, openapi_extra=SESSION_BODY,
             responses=errors(400, 401, 403, 408, 429, 503))
async def new_session(request: Request, svc: Service = Depends(rate_limited)):
    body = await read_json_object(request, svc.cfg.body_timeout_s, (*BINDING, "enrol"), required=False)
    enrol = optional_text(body, "enrol")
    if enrol is not None:
        admin(request, svc)       # enrolment is the admin's; the person enrolled streams from the same client
    e = svc.create(svc.client(request), *_binding(body), enrol=enrol)
    return {"session_id": e.id, "expires_at": e.expires, "stream": f"/v1/sessions/{e.id}/stream",
            "challenges": svc.cfg.session.n_challenges}


@router.post("/v1/verdicts/verify", openapi_extra=VERIFY_BODY, responses={**errors(400, 408, 409, 503), **VERIFY_REJECTED})
async def verify_verdict(request: Request, svc: Service = Depends(service)):
    body = await read_json_object(request, svc.cfg.body_timeout_s, ("token", *BINDING))
    token = body.get("token")
    if not isinstance(token, str) or len(token) > 4096:
        raise HTTPException(400, 'send JSON {"token": "..."} (optionally "nonce", "audience", "expected_identity")')
    try:
        claims, evidence = svc.redeem(token, *_binding(body))
    except Refused as e:                          # a real verdict, redeemed before
        audit.record("verdict_refused", client=svc.client(request), reason=str(e))
        raise
    except tokens.TokenError as e:
        if e.signed:                              # a real verdict misbound or expired; forgeries are noise anyone can send
            audit.record("verdict_refused", client=svc.client(request), reason=str(e))
        return JSONResponse({"signature_valid": False, "accepted": False, "detail": f"invalid verdict: {e}"}, 400)
    audit.record("verdict_redeemed", client=svc.client(request), sid=claims.get("sid"), verdict=claims.get("verdict"),
                 identity=claims.get("identity"))
    accepted = claims.get("verdict") == "accepted"
    body = {"signature_valid": True, "accepted": accepted,
            "verdict": claims.get("verdict"), "identity": claims.get("identity"), "session_id": claims.get("sid"),
            "reason": claims.get("reason"), "liveness_unsure": bool(claims.get("liveness_unsure")),
            "enrolled": claims.get("enrolled"), "identity_evidence": evidence, "claims": claims}
    # 200 only for an acceptance: a relying party that checks the status alone cannot pass a rejection
    return body if accepted else JSONResponse({**body, "detail": f"the verdict is a rejection: {body['reason']}"}, 403)


@router.get("/v1/identities", responses=errors(401, 403, 429, 503))
async def list_identities(svc: Service = Depends(admin)):
    return {"identities": with_enough_faces(await anyio.to_thread.run_sync(svc.gallery_list))}


@router.post("/v1/identities/{name}", status_code=201, openapi_extra=ENROL_BODY,
             responses=errors(400, 401, 403, 408, 409, 413, 422, 429, 503))
async def enrol(name: str, request: Request, svc: Service = Depends(admin)):
    """One picture (the body) or several (the files of a multipart form): all enrol, or none."""
    sent = await read_images(request, svc.cfg.max_upload_bytes, svc.cfg.body_timeout_s, svc.cfg.max_enrol_images)
    n, faces = await anyio.to_thread.run_sync(svc.enrol, name, sent, limiter=svc.limiter)
    audit.record("identity_enrolled", name=name, added=n, faces=faces, client=svc.client(request))
    # fewer faces, more of the person's logins unrecognised (identity.recognise.ENOUGH_FACES)
    return {"name": name, "added": n, "faces": faces, "enough_faces": faces >= ENOUGH_FACES}


@router.delete("/v1/identities/{name}", responses=errors(401, 403, 404, 429, 503))
async def remove(name: str, request: Request, svc: Service = Depends(admin)):
    from ..identity.gallery import GalleryError
    try:
        n = await anyio.to_thread.run_sync(svc.gallery_remove, name)
    except GalleryError as e:
        raise HTTPException(404, str(e)) from None
    audit.record("identity_removed", name=name, removed_embeddings=n, client=svc.client(request))
    return {"name": name, "removed_embeddings": n}


@router.get("/metrics", responses={**METRICS_TEXT, **errors(401, 403, 429, 503)})
async def metrics_text(svc: Service = Depends(admin)):
    """Prometheus' text format: sessions by verdict and the step they ended in, faces by label (the
    totals of every replica sharing this one's Redis), open sessions, enrolled identities (read again
    at most once a second, as a session start does) (``metrics.py``)."""
    counters, open_, enrolled = await anyio.to_thread.run_sync(
        lambda: (svc.store.counters(), svc.store.count(), svc.identities_now()))
    text = metrics.render(counters, {metrics.OPEN: open_, metrics.IDENTITIES: enrolled})
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


@router.get("/", include_in_schema=False)
async def index():
    return FileResponse(STATIC / "index.html")


@router.get("/enrol", include_in_schema=False)
async def enrol_page():
    """The enrolment page: the admin token is typed in and sent with the session's request only."""
    return FileResponse(STATIC / "enrol.html")


async def _error(request, e: MarginliveError):
    headers = {"Retry-After": str(int(e.retry_after))} if getattr(e, "retry_after", None) else None
    return JSONResponse({"detail": str(e)}, status_code=e.http_status, headers=headers)


async def _http_error(request, e: StarletteHTTPException):
    """FastAPI's answer, but a 405's ``Allow`` names the methods of every route on the path:
    Starlette names only the first route's (``PUT /v1/identities/x`` said POST, not POST and DELETE)."""
    if e.status_code == 405:
        path = request.url.path     # the app's own routes (/openapi.json) and this module's router's
        allowed = {m for r in (*request.app.routes, *router.routes) if getattr(r, "methods", None)
                   and r.path_regex.fullmatch(path) for m in r.methods}
        e = StarletteHTTPException(405, e.detail, {**(e.headers or {}), "Allow": ", ".join(sorted(allowed))})
    return await http_exception_handler(request, e)


def _lifespan(cfg: ServerConfig):
    """The app's lifespan state: the connection limits its HTTP protocol enforces (``protocol.py``);
    while it serves, the stop signals drain its streams first (``drain.py``)."""
    limits = ConnectionLimits(cfg.header_timeout_s, cfg.max_connections_per_address, cfg.ipv6_prefix)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        unhook = hook_stop_signals(app.state.ml)
        try:
            yield {LIMITS_STATE: limits}
        finally:
            unhook()
    return lifespan


def create_app(cfg: ServerConfig | None = None) -> FastAPI:
    """The service for ``cfg``. Fails fast (ModelError, GalleryError) on a bad model or gallery file.
    No interactive docs: ``/openapi.json`` describes the API without loading anything from a CDN."""
    cfg = cfg or ServerConfig()
    svc = Service(cfg, LivenessModel(cfg.model))
    app = FastAPI(title="marginlive", version=__version__, docs_url=None, redoc_url=None, lifespan=_lifespan(cfg))
    app.state.ml = svc
    app.add_exception_handler(MarginliveError, _error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(SessionCors, allowed=cfg.allowed_origins)
    app.add_middleware(SecurityHeaders)
    app.include_router(router)
    app.include_router(stream_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
