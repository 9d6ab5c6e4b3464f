"""Signed verdicts: compact JWTs (HS256) that a relying application checks with the server
secret. Implemented on hmac/hashlib (the format is small and standard: RFC 7519).

Only an acceptance is signed with the secret itself; any other verdict with a key derived from it
(``rejection_key``). A relying party that checks a verdict with the secret in any JWT library, and
forgets to read its ``verdict`` claim, then finds a rejection's signature invalid: it cannot take
one for a pass. The server's redemption (``Service.redeem``) knows both keys."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenError(ValueError):
    """A verdict refused. ``signed``: its signature was this server's (expired, or bound to another
    nonce, audience or identity), as against a malformed or forged one, which anyone can send."""

    def __init__(self, message: str, signed: bool = False):
        super().__init__(message)
        self.signed = signed


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    """Strict base64url without padding: one spelling per byte string (no padding, no other
    alphabet, no stray bits in the last character), so a token cannot be re-spelled."""
    if not _B64URL.fullmatch(s) or len(s) % 4 == 1:
        raise ValueError("not base64url")
    b = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if _b64(b) != s:
        raise ValueError("not canonical base64url")
    return b


def rejection_key(secret: bytes) -> bytes:
    """The HS256 key (32 bytes) of every verdict that is not an acceptance, derived from ``secret``."""
    return hmac.new(secret, b"marginlive: a verdict that is not an acceptance", hashlib.sha256).digest()


def verdict_key(secret: bytes, accepted: bool) -> bytes:
    """The key a verdict is signed with: the secret for an acceptance, else ``rejection_key``."""
    return secret if accepted else rejection_key(secret)


def sign(claims: dict, secret: bytes, ttl_s: float = 300) -> str:
    now = int(time.time())
    body = {"iat": now, "exp": now + int(ttl_s), "iss": "marginlive", **claims}
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    sig = hmac.new(secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload}.{_b64(sig)}"


def verify(token: str, secret: bytes, now: float | None = None) -> dict:
    """The claims of a token this server signed with ``secret``, or TokenError: malformed (not
    three strict base64url parts of JSON objects), another algorithm, a bad signature, expired."""
    return verify_any(token, (secret,), now)[0]


def verify_any(token: str, keys, now: float | None = None) -> tuple[dict, int]:
    """``verify`` against several keys: the claims and the index in ``keys`` of the one that signed
    the token (each compared in constant time), or TokenError ("bad signature" where none did)."""
    try:
        head, payload, sig = token.split(".")
        header = json.loads(_unb64(head))
        claims = json.loads(_unb64(payload))
        got = _unb64(sig)
    except (ValueError, UnicodeDecodeError, RecursionError):   # RecursionError: JSON nested past the parser's depth
        raise TokenError("malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("malformed token: header and claims must be JSON objects")
    if header.get("alg") != "HS256":
        raise TokenError("unsupported token algorithm")
    signed = [hmac.compare_digest(hmac.new(k, f"{head}.{payload}".encode(), hashlib.sha256).digest(), got)
              for k in keys]
    if not any(signed):
        raise TokenError("bad signature")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or (now or time.time()) > exp:
        raise TokenError("token expired", signed=True)
    return claims, signed.index(True)
