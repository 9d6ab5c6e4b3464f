"""Signed verdicts: compact JWTs (HS256) that a relying application checks with the server
secret. Implemented on hmac/hashlib (the format is small and standard: RFC 7519)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time


class TokenError(ValueError):
    pass


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def sign(claims: dict, secret: bytes, ttl_s: float = 300) -> str:
    now = int(time.time())
    body = {"iat": now, "exp": now + int(ttl_s), "iss": "marginlive", **claims}
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    sig = hmac.new(secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload}.{_b64(sig)}"


def verify(token: str, secret: bytes, now: float | None = None) -> dict:
    try:
        head, payload, sig = token.split(".")
        header = json.loads(_unb64(head))
        claims = json.loads(_unb64(payload))
        got = _unb64(sig)
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        raise TokenError("malformed token") from None
    if header.get("alg") != "HS256":
        raise TokenError("unsupported token algorithm")
    want = hmac.new(secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, got):
        raise TokenError("bad signature")
    if (now or time.time()) > claims.get("exp", 0):
        raise TokenError("token expired")
    return claims
