"""What ``/openapi.json`` says of each route beyond what FastAPI infers: the routes read their
bodies themselves (an image's raw bytes, a multipart file, a small JSON object, each within a
byte cap and a deadline), so the request bodies and the 4xx answers are declared here. Every
error answers ``{"detail": "..."}``; 429 and 503 add ``Retry-After``."""
from __future__ import annotations

from pydantic import BaseModel

from .service import MAX_ENROL_IMAGES


class Detail(BaseModel):
    """Every error's body: what went wrong and what to do."""
    detail: str


_WHY = {
    400: "unreadable input: an empty or undecodable image, a body that is not the JSON object asked for, a bad field",
    401: "the admin token is missing (Authorization: Bearer TOKEN): the admin routes, an enrolment session, and "
         "scoring unless --liveness-api public",
    403: "the admin token is wrong",
    404: "no such identity; or the scoring endpoint is off (serve --liveness-api off)",
    408: "the body did not arrive in time",
    409: "this verdict was already redeemed; or the faces to enrol match another identity, or not the one enrolled "
         "under the name",
    413: "the body or the image's pixels above the server's limits",
    422: "no usable face in the image (enrolment)",
    429: "too many requests, open sessions or failed attempts from this client (Retry-After)",
    503: "every session slot is taken, or Redis or the gallery cannot be reached (Retry-After)",
}


def errors(*codes: int) -> dict:
    """``responses=`` entries for these status codes."""
    return {c: {"model": Detail, "description": _WHY[c]} for c in codes}


def _text(limit: int, nullable: bool = False) -> dict:
    """A string of 1 to ``limit`` characters (printable ones: the server refuses control characters)."""
    return {"type": ["string", "null"] if nullable else "string", "minLength": 1, "maxLength": limit}


_BINARY = {"type": "string", "format": "binary"}
IMAGE_BODY = {"requestBody": {"required": True, "description": "one JPEG, PNG or WebP image, raw or as a form's file", "content": {
    "image/jpeg": {"schema": _BINARY}, "image/png": {"schema": _BINARY}, "image/webp": {"schema": _BINARY},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"image": _BINARY}, "required": ["image"]}}}}}
# enrolment: the same, or several files of one form (all enrol, or none)
ENROL_BODY = {"requestBody": {**IMAGE_BODY["requestBody"], "description": "one JPEG, PNG or WebP image, raw or as a "
                              f"form's file; or up to {MAX_ENROL_IMAGES} files of one form, all of one person",
                              "content": {
    **IMAGE_BODY["requestBody"]["content"],
    "multipart/form-data": {"schema": {"type": "object", "properties": {"image": {"type": "array", "items": _BINARY,
                                                                                   "maxItems": MAX_ENROL_IMAGES}},
                                       "required": ["image"]}}}}}
BINDING = ("nonce", "audience", "expected_identity")   # what a session's verdict is bound to (optional)
_BINDING_SCHEMA = {k: _text(256, nullable=True) for k in BINDING}   # null: absent
# an enrolment session's name (the admin's; bound to no audience or identity)
_SESSION_SCHEMA = {"type": "object", "additionalProperties": False,
                   "properties": {**_BINDING_SCHEMA, "enrol": _text(256, nullable=True)}}
SESSION_BODY = {"requestBody": {"required": False, "description": "what the verdict is bound to (all optional); "
                                "or, with the admin token, the name an enrolment session enrols",
                                "content": {"application/json": {"schema": _SESSION_SCHEMA}}}}
VERIFY_BODY = {"requestBody": {"required": True, "description": "the verdict, and what it must be bound to", "content": {
    "application/json": {"schema": {"type": "object", "required": ["token"], "additionalProperties": False,
                                    "properties": {"token": _text(4096), **_BINDING_SCHEMA}}}}}}


class Redemption(Detail):
    """A redeemed verdict that is not an acceptance (403): what a 200 says, ``accepted`` false."""
    signature_valid: bool
    accepted: bool
    verdict: str
    identity: str | None = None
    session_id: str | None = None
    reason: str | None = None
    liveness_unsure: bool = False
    enrolled: str | None = None
    identity_evidence: dict | None = None
    claims: dict


VERIFY_REJECTED = {403: {"model": Redemption, "description": "a valid verdict that is not an acceptance (only an "
                                                             "acceptance answers 200)"}}
METRICS_TEXT = {200: {"description": "Prometheus' text format 0.0.4",
                      "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}}}
