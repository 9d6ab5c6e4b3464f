"""What an operator watches: counters kept in the store (so every replica that shares a Redis
counts into, and reports, the same totals), served at ``GET /metrics`` in Prometheus' text format.

The counter that matters most for a login is the sessions rejected at the passive step: a camera or
population the model turns away shows there first, long before anyone files a complaint.
"""
from __future__ import annotations

SESSIONS = "marginlive_sessions_total"
FACES = "marginlive_liveness_faces_total"
OPEN = "marginlive_open_sessions"
IDENTITIES = "marginlive_identities"
HELP = {
    SESSIONS: ("counter", "Sessions ended, by verdict, the step a rejected one ended in (waiting, passive, "
                          "challenge, identify; 'complete' when accepted) and whether the passive model was unsure"),
    FACES: ("counter", "Faces scored by POST /v1/liveness, by label"),
    OPEN: ("gauge", "Sessions created and not yet ended (the caps count these)"),
    IDENTITIES: ("gauge", "Identities enrolled, as this replica last read its gallery"),
}


def session_series(verdict: str, rejected_in: str | None, unsure: bool) -> str:
    """The series a session that ended with ``verdict`` counts into."""
    return f'{SESSIONS}{{verdict="{verdict}",step="{rejected_in or "complete"}",liveness_unsure="{str(bool(unsure)).lower()}"}}'


def face_series(label: str) -> str:
    return f'{FACES}{{label="{label}"}}'


def render(counters: dict[str, int], gauges: dict[str, int]) -> str:
    """Prometheus' text exposition (version 0.0.4) of ``counters`` and ``gauges`` ({series: value})."""
    series = {**counters, **gauges}
    lines = []
    for name, (kind, text) in HELP.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{k} {int(v)}" for k, v in sorted(series.items()) if k.split("{", 1)[0] == name]
    return "\n".join(lines) + "\n"
