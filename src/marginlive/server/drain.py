"""A stop that lets the logins in flight finish: a restart, `systemctl stop`, the `--workers`
supervisor passing its SIGTERM on.

At its first SIGTERM or SIGINT uvicorn closes every WebSocket at once (1012): each login streaming
then fails, and counts as a failure of its client. While the app serves from the main thread (as
`marginlive serve` runs it), the first such signal instead marks the service as draining: no new
session (503), ``/health`` 503 so that a load balancer sends new logins to another replica, the
streams of sessions already created still served. The signal is handed on to uvicorn once no stream
is open, or after ``ServerConfig.drain_timeout_s``; a second signal hands it on at once.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Callable

from . import audit

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def hook_stop_signals(svc) -> Callable[[], None]:
    """Drain ``svc`` (a ``service.Service``) at the first stop signal, where the server installed a
    handler of its own for it (uvicorn does, in the main thread); returns what puts those handlers
    back. Outside the main thread (an app served from a thread, as the tests do) nothing is hooked."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    found = {s: h for s in STOP_SIGNALS if callable(h := signal.getsignal(s))}

    def on_signal(sig, frame):
        if svc.draining:                  # a second signal: stop now
            return found[sig](sig, frame)
        svc.draining = True
        threading.Thread(target=_hand_on_when_drained, args=(svc, found[sig], sig, frame), daemon=True,
                         name="marginlive-drain").start()

    def restore():
        for s, h in found.items():
            signal.signal(s, h)

    for s in found:
        signal.signal(s, on_signal)
    return restore


def _hand_on_when_drained(svc, handler, sig, frame) -> None:
    """Call the server's own ``handler`` once ``svc`` has no stream open, or its drain time is up;
    the audit trail says when it began, with how many streams, and how many its end cut."""
    audit.record("stopping", signal=signal.Signals(sig).name, streams_open=svc.streams_open,
                 drain_timeout_s=svc.cfg.drain_timeout_s)
    if svc.streams_open:       # whoever pressed Ctrl-C sees why it has not stopped yet
        print(f"marginlive: stopping once the {svc.streams_open} login(s) in flight are done (at most "
              f"{svc.cfg.drain_timeout_s:g} s; the same signal again stops now)", file=sys.stderr, flush=True)
    deadline = time.monotonic() + svc.cfg.drain_timeout_s
    while svc.streams_open > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    audit.record("drained", streams_cut=svc.streams_open)
    handler(sig, frame)
