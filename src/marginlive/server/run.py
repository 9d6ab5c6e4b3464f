"""`marginlive serve`."""
from __future__ import annotations

import ipaddress
import os
import secrets
import sys

from ..challenge.session import SessionConfig
from ..errors import InputError
from ..identity.gallery import default_gallery_path
from .app import ServerConfig, create_app


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def config_from_args(a) -> ServerConfig:
    """The server's settings from the command line and the MARGINLIVE_* environment."""
    if a.workers < 1 or a.max_sessions < 1 or a.max_sessions_per_client < 1:
        raise InputError("--workers, --max-sessions and --max-sessions-per-client must be at least 1")
    secret = os.environ.get("MARGINLIVE_SECRET")
    token = a.admin_token or os.environ.get("MARGINLIVE_ADMIN_TOKEN")
    return ServerConfig(model=a.model, gallery=str(a.gallery or default_gallery_path()),
                        secret=secret.encode() if secret else secrets.token_bytes(32),
                        admin_token=token or secrets.token_urlsafe(24), workers=a.workers,
                        rate_per_s=a.rate, burst=a.burst, max_failures=a.max_failures,
                        max_sessions=a.max_sessions, max_sessions_per_client=a.max_sessions_per_client,
                        allowed_origins=tuple(a.allow_origin), redis=a.redis,
                        session=SessionConfig(n_challenges=a.challenges, challenge_timeout_s=a.challenge_timeout))


def uvicorn_config(app, cfg: ServerConfig, host: str, port: int, trusted_proxies=()):
    """uvicorn's settings for the app: forwarded headers believed only from ``trusted_proxies``
    (uvicorn would otherwise believe any loopback peer), idle keep-alive connections closed after
    5 s, at most 4 connections per allowed session (503 beyond), frames capped by the socket."""
    import uvicorn
    trusted = list(trusted_proxies)
    return uvicorn.Config(app, host=host, port=port, log_level="warning", ws_max_size=cfg.max_frame_bytes + 1024,
                          proxy_headers=bool(trusted), forwarded_allow_ips=",".join(trusted) if trusted else "",
                          timeout_keep_alive=5, limit_concurrency=4 * cfg.max_sessions + 64, server_header=False)


def run_serve(a) -> int:
    import uvicorn
    cfg = config_from_args(a)
    app = create_app(cfg)      # a bad model or a corrupt gallery stops here, with its reason
    say = lambda m: print(f"marginlive: {m}")  # noqa: E731
    say(f"serving on http://{a.host}:{a.port}/  (open it in a browser with a webcam)")
    say(f"model {app.state.ml.model.name}, gallery {cfg.gallery} ({app.state.ml.gallery_size} identities)")
    if not _loopback(a.host):
        say(f"warning: listening on {a.host}: browsers give the page the camera only on localhost or over "
            "HTTPS; put a TLS proxy in front (and pass it as --trusted-proxy)")
    if not (a.admin_token or os.environ.get("MARGINLIVE_ADMIN_TOKEN")):
        say(f"admin token for this run: {cfg.admin_token}")
    if not os.environ.get("MARGINLIVE_SECRET"):
        say("verdicts are signed with a per-process secret (set MARGINLIVE_SECRET to share it)")
    sys.stdout.flush()
    uvicorn.Server(uvicorn_config(app, cfg, a.host, a.port, a.trusted_proxy)).run()
    return 0
