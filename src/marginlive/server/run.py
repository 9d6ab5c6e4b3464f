"""`marginlive serve`: one process, or ``--workers N`` processes on one port sharing Redis."""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import secrets
import socket
import sys

from ..challenge.session import SessionConfig
from ..errors import InputError
from ..identity.gallery import default_gallery_path
from . import audit
from .app import ServerConfig, create_app

ENV_CONFIG = "MARGINLIVE_SERVE_CONFIG"   # the settings handed to each worker process


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def config_from_args(a) -> ServerConfig:
    """The server's settings from the command line and the MARGINLIVE_* environment."""
    if min(a.workers, a.frame_threads, a.max_sessions, a.max_sessions_per_client) < 1:
        raise InputError("--workers, --frame-threads, --max-sessions and --max-sessions-per-client must be at least 1")
    if a.workers > 1 and not a.redis:
        raise InputError("--workers above 1 needs --redis URL: the processes share sessions, limits and verdicts there")
    secret = os.environ.get("MARGINLIVE_SECRET")
    token = a.admin_token or os.environ.get("MARGINLIVE_ADMIN_TOKEN")
    return ServerConfig(model=a.model, threshold=a.threshold, gallery=str(a.gallery or default_gallery_path()),
                        secret=secret.encode() if secret else secrets.token_bytes(32),
                        verify_secrets=tuple(k.encode() for k in listed("MARGINLIVE_VERIFY_SECRETS")),
                        admin_token=token or secrets.token_urlsafe(24),
                        other_admin_tokens=listed("MARGINLIVE_OTHER_ADMIN_TOKENS"), frame_threads=a.frame_threads,
                        max_fps=a.max_fps,
                        rate_per_s=a.rate, burst=a.burst, max_failures=a.max_failures,
                        max_sessions=a.max_sessions, max_sessions_per_client=a.max_sessions_per_client,
                        max_connections_per_address=a.max_connections_per_address, drain_timeout_s=a.drain_timeout,
                        ipv6_prefix=a.ipv6_prefix,
                        allowed_origins=tuple(a.allow_origin), redis=a.redis, liveness_api=a.liveness_api,
                        session=SessionConfig(n_challenges=a.challenges, challenge_timeout_s=a.challenge_timeout,
                                              unsure_floor=a.unsure_floor))


def listed(variable: str) -> tuple[str, ...]:
    """An environment variable's values, separated by commas (or spaces): the keys of
    MARGINLIVE_VERIFY_SECRETS, each as MARGINLIVE_SECRET is given; the tokens of MARGINLIVE_OTHER_ADMIN_TOKENS."""
    return tuple(os.environ.get(variable, "").replace(",", " ").split())


def config_to_json(cfg: ServerConfig) -> str:
    d = dataclasses.asdict(cfg)
    d["secret"] = cfg.secret.hex()
    d["verify_secrets"] = [k.hex() for k in cfg.verify_secrets]
    return json.dumps(d)


def config_from_json(text: str) -> ServerConfig:
    d = json.loads(text)
    s = d.pop("session")
    s["actions"] = tuple(s["actions"]) if s.get("actions") is not None else None
    return ServerConfig(**{**d, "secret": bytes.fromhex(d["secret"]), "allowed_origins": tuple(d["allowed_origins"]),
                           "verify_secrets": tuple(bytes.fromhex(k) for k in d["verify_secrets"]),
                           "other_admin_tokens": tuple(d["other_admin_tokens"]),
                           "session": SessionConfig(**s)})


def app_from_env():
    """The app of one worker process (uvicorn's factory), from the settings its parent put in the
    environment: every worker signs with the same secret and shares the same Redis."""
    audit.configure()
    return create_app(config_from_json(os.environ[ENV_CONFIG]))


def uvicorn_options(cfg: ServerConfig, trusted_proxies=()) -> dict:
    """uvicorn's settings: the HTTP protocol of ``protocol.py`` (a deadline on a request's headers, a
    cap on one address's connections: the app's ``ServerConfig`` sets both), forwarded
    headers believed only from ``trusted_proxies`` (uvicorn would otherwise believe any loopback
    peer), idle keep-alive connections closed after 5 s, at most 4 connections per allowed session
    (503 beyond), frames capped by the socket and sent as they are:
    no per-message deflate, which gains nothing on JPEG frames and would make every frame a
    decompression (a small message inflated up to the cap) before it is even read."""
    from .protocol import protocol_class
    trusted = list(trusted_proxies)
    return dict(http=protocol_class(), log_level="warning", ws_max_size=cfg.max_frame_bytes + 1024,
                ws_per_message_deflate=False, proxy_headers=bool(trusted),
                forwarded_allow_ips=",".join(trusted) if trusted else "", timeout_keep_alive=5,
                limit_concurrency=4 * cfg.max_sessions + 64, server_header=False)


def uvicorn_config(app, cfg: ServerConfig, host: str, port: int, trusted_proxies=()):
    """uvicorn's ``Config`` for one process serving ``app``."""
    import uvicorn
    return uvicorn.Config(app, host=host, port=port, **uvicorn_options(cfg, trusted_proxies))


def check_can_listen(host: str, port: int) -> None:
    """InputError unless ``host:port`` can be bound now (in use, not this machine's address, a
    privileged port), before the service says it serves there. Bound with SO_REUSEADDR as uvicorn
    binds it, then released for uvicorn."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise InputError(f"--host {host}: {e.strerror}") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def run_serve(a) -> int:
    """`marginlive serve`: the settings checked and the app built (a bad model, gallery or Redis stops
    here with its reason), then uvicorn in this process or ``--workers`` processes under a supervisor."""
    import uvicorn
    cfg = config_from_args(a)
    app = create_app(cfg)      # a bad model, gallery or Redis stops here, with its reason
    if a.check:                # before a restart: the running server still holds the port
        app.state.ml.close()
        print(f"marginlive: settings checked: model {app.state.ml.model.name}, gallery {cfg.gallery} "
              f"({app.state.ml.gallery_size} identities){', Redis reached' if cfg.redis else ''}")
        return 0
    check_can_listen(a.host, a.port)
    audit.configure()          # the audit trail's JSON lines on standard output, beside these messages
    say = lambda m: print(f"marginlive: {m}")  # noqa: E731
    say(f"serving on http://{a.host}:{a.port}/  (open it in a browser with a webcam)"
        + (f" with {a.workers} worker processes" if a.workers > 1 else ""))
    say(f"enrol people at http://{a.host}:{a.port}/enrol with the admin token")
    say(f"model {app.state.ml.model.name}, gallery {cfg.gallery} ({app.state.ml.gallery_size} identities)")
    if not _loopback(a.host):
        say(f"warning: listening on {a.host}: browsers give the page the camera only on localhost or over "
            "HTTPS; put a TLS proxy in front (and pass it as --trusted-proxy)")
    if not (a.admin_token or os.environ.get("MARGINLIVE_ADMIN_TOKEN")):
        say(f"admin token for this run (enrolment, /metrics, /v1/liveness scores): {cfg.admin_token}")
    if not os.environ.get("MARGINLIVE_SECRET"):
        say("verdicts are signed with a per-process secret (set MARGINLIVE_SECRET to share it)")
    if cfg.other_admin_tokens:
        say(f"{len(cfg.other_admin_tokens)} other admin token(s) accepted too (MARGINLIVE_OTHER_ADMIN_TOKENS): drop "
            "them once their clients use the admin token")
    if cfg.verify_secrets:     # a rotation left half done: a second key stays good for verdicts
        say(f"verdicts signed with {len(cfg.verify_secrets)} other key(s) are redeemed too (MARGINLIVE_VERIFY_SECRETS): "
            "drop them once a rotation is done")
    sys.stdout.flush()
    if a.workers == 1:
        uvicorn.Server(uvicorn_config(app, cfg, a.host, a.port, a.trusted_proxy)).run()
        return 0
    app.state.ml.close()
    # each worker builds its own app from the settings in the environment; the supervisor, a fresh
    # interpreter in this process, holds none (server/supervise.py)
    os.environ[ENV_CONFIG] = config_to_json(cfg)
    options = {k: v for k, v in uvicorn_options(cfg, a.trusted_proxy).items() if k != "http"}
    settings = json.dumps({"host": a.host, "port": a.port, "workers": a.workers, "options": options})
    os.execv(sys.executable, [sys.executable, "-m", "marginlive.server.supervise", settings])
