"""Browser-facing protection: response headers for every HTTP answer, the WebSocket's Origin
check (a page on another site must not open streams with the user's camera), and CORS for the one
request a page on an allowed origin makes besides its stream (creating the session)."""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
     b"media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; object-src 'none'; "
     b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """ASGI middleware adding ``HEADERS`` to every HTTP response (not to WebSocket frames)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in HEADERS if h[0] not in have]
            await send(message)
        return await self.app(scope, receive, send_with_headers)


class SessionCors:
    """ASGI middleware: a page served from one of ``allowed`` (``--allow-origin``) may create a
    session, ``POST /v1/sessions`` with a JSON body: its preflight is answered (204) and every answer
    of that path, errors included, names the origin. No other path, no other origin: their answers
    stay unreadable to another site's scripts."""

    PATH = "/v1/sessions"

    def __init__(self, app, allowed: tuple[str, ...] = ()):
        self.app, self.allowed = app, {o.encode() for o in allowed}

    async def __call__(self, scope, receive, send):
        origin = dict(scope.get("headers", [])).get(b"origin") if scope["type"] == "http" else None
        if origin not in self.allowed or scope["path"] != self.PATH:
            return await self.app(scope, receive, send)
        cors = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": cors + [
                (b"access-control-allow-methods", b"POST"), (b"access-control-allow-headers", b"content-type"),
                (b"access-control-max-age", b"600")]})
            return await send({"type": "http.response.body", "body": b""})

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + cors
            await send(message)
        return await self.app(scope, receive, send_with_cors)


def client_key(host: str, ipv6_prefix: int = 64) -> str:
    """Who ``host`` counts as for the limits: an IPv4 address itself (also written IPv4-mapped,
    ``::ffff:203.0.113.7``), an IPv6 address its network of ``ipv6_prefix`` bits (``2001:db8:1:2::/64``;
    128: the address). One home line or phone is given a whole /64 (often a /56) and may send from
    any address in it: counted per address, its limits, session caps and lockouts would be none.
    Anything else (a Unix socket's name) is kept as it is."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/{ipv6_prefix}", strict=False))


def client_of(request_or_ws, ipv6_prefix: int = 64) -> str:
    """The client of a request or WebSocket (``client_key`` of its peer's address; uvicorn puts a
    trusted proxy's X-Forwarded-For there, and nothing else's)."""
    c = request_or_ws.client
    return client_key(c.host, ipv6_prefix) if c else "unknown"


def origin_allowed(headers, allowed: tuple[str, ...] = ()) -> bool:
    """A WebSocket handshake may come from no browser (no Origin header), from the server's own
    page (Origin's host:port equals the Host header) or from a configured origin."""
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin in allowed:
        return True
    host = headers.get("host")
    return host is not None and urlsplit(origin).netloc == host
