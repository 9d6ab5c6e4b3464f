"""`marginlive serve`."""
from __future__ import annotations

import os
import secrets
import sys

from ..challenge.session import SessionConfig
from ..identity.gallery import default_gallery_path
from .app import ServerConfig, create_app


def run_serve(a) -> int:
    import uvicorn
    secret = os.environ.get("MARGINLIVE_SECRET")
    token = a.admin_token or os.environ.get("MARGINLIVE_ADMIN_TOKEN")
    printed = token is None
    cfg = ServerConfig(model=a.model, gallery=str(a.gallery or default_gallery_path()),
                       secret=secret.encode() if secret else secrets.token_bytes(32),
                       admin_token=token or secrets.token_urlsafe(24), workers=a.workers,
                       rate_per_s=a.rate, burst=a.burst, max_failures=a.max_failures,
                       session=SessionConfig(n_challenges=a.challenges, challenge_timeout_s=a.challenge_timeout))
    app = create_app(cfg)
    print(f"marginlive: serving on http://{a.host}:{a.port}/  (open it in a browser with a webcam)")
    print(f"marginlive: model {app.state.ml.model.name}, gallery {cfg.gallery}")
    if printed:
        print(f"marginlive: admin token for this run: {cfg.admin_token}")
    if not secret:
        print("marginlive: verdicts are signed with a per-process secret (set MARGINLIVE_SECRET to share it)")
    sys.stdout.flush()
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", ws_max_size=4 * 1024 * 1024)
    return 0
