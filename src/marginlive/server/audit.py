"""The audit trail: one JSON line per decision an investigator asks about afterwards. Which
sessions ended how (verdict, the step, the reason, the identity claimed and found, the client),
which verdicts were redeemed or refused (real ones only: a forged token anyone can send is noise),
who enrolled or removed an identity, which clients were locked out or tried a wrong admin token.

Events go to the ``marginlive.audit`` logger; ``marginlive serve`` writes them to standard output
(``configure``), where systemd's journal or a container runtime keeps them. No image, embedding,
token or secret is ever written: a verdict is named by its session id.
"""
from __future__ import annotations

import json
import logging
import sys
import time

LOGGER = logging.getLogger("marginlive.audit")


def record(event: str, **fields) -> None:
    """Log one event: ``{"ts": Unix seconds, "event": event, **fields}`` on one line (None fields left out)."""
    if LOGGER.isEnabledFor(logging.INFO):
        line = {"ts": round(time.time(), 3), "event": event, **{k: v for k, v in fields.items() if v is not None}}
        LOGGER.info(json.dumps(line, separators=(",", ":"), ensure_ascii=False))


def configure(stream=None) -> None:
    """Send the audit events, bare JSON lines, to ``stream`` (default: standard output); once per process."""
    if any(getattr(h, "_marginlive_audit", False) for h in LOGGER.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._marginlive_audit = True
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
