"""`enroll`, `identities`, `identify`, `verify`."""
from __future__ import annotations

import json
import sys

from ..errors import InputError
from .api import EnrolmentRefused, IdentityOptions, Recognition, enroll, identify, verify
from .recognise import ENOUGH_FACES, with_enough_faces


def _options(a, **own) -> IdentityOptions:
    """The flags every identity command has as the library's options, with the command's ``own``."""
    return IdentityOptions(gallery=a.gallery, model=a.model, detector=a.detector, detector_model=a.detector_model,
                           **own)


def _probe_options(a) -> IdentityOptions:
    """`identify`'s and `verify`'s flags: those of ``_options`` and the probe's own."""
    return _options(a, threshold=a.threshold, liveness=not a.no_liveness, probe_faces=a.frames)


def run_enroll(a) -> int:
    """Enrol the best faces of each input (``api.enroll``), printing why frames were refused, what was
    kept and, below ``ENOUGH_FACES``, a note to enrol more."""
    try:
        done = enroll(a.name, a.inputs, _options(a, enrol_faces=a.frames))
    except EnrolmentRefused as e:
        for r in e.refused:
            print(f"refused {r}", file=sys.stderr)
        raise
    for r in done.refused:
        print(f"refused {r}", file=sys.stderr)
    print(f"enrolled {a.name}: kept {len(done.kept)} face(s), refused {len(done.refused)}; {done.total} in all; "
          f"gallery {done.gallery}")
    if not done.enough:
        print(f"note: {a.name} has {done.total} enrolled face(s); below {ENOUGH_FACES}, more of their logins go "
              "unrecognised (docs/identity_sessions.md): enrol a few seconds of video or more photos", file=sys.stderr)
    return 0


def run_identities(a) -> int:
    """`marginlive identities list` (with those below ``ENOUGH_FACES`` marked) or `remove NAME`."""
    from .gallery import open_gallery
    with open_gallery(a.gallery, existing=True) as g:
        if a.action == "list":
            rows = with_enough_faces(g.list())
            if a.json:
                print(json.dumps(rows))
            elif not rows:
                print(f"no identity enrolled in {g.path}")
            for r in rows if not a.json else []:
                few = "" if r["enough_faces"] else f"\tfewer than {ENOUGH_FACES}: enrol more faces"
                print(f"{r['name']}\t{r['embeddings']} embedding(s){few}")
        else:
            if not a.name:
                raise InputError("identities remove needs a NAME")
            n = g.remove(a.name)
            print(f"removed {a.name} ({n} embedding(s))")
    return 0


def _say(a, r: Recognition, fields: dict, line: str) -> None:
    """Print the answer ``r``: ``fields`` with its distance (JSON), or ``line`` with it, and how many
    faces it used where more than one. JSON: ``faces`` decided on, and where liveness was checked,
    ``scored`` by the liveness model and ``live_faces`` of those scored live."""
    checked = r.liveness
    if a.json:
        live = {} if checked is None else {"live": checked.passed, "live_faces": checked.live, "scored": checked.faces}
        print(json.dumps({**fields, "distance": r.distance, "threshold": r.threshold, "faces": r.faces, **live}))
        return
    dist = "n/a" if r.distance is None else f"{r.distance:.3f}"
    faces = f", {r.faces} faces" if r.faces > 1 else ""
    print(f"{line}\tdistance {dist}\t(threshold {r.threshold}{faces})")


def _say_not_live(a, r: Recognition, fields: dict, line: str) -> None:
    """A probe that is not live names nobody: no distance is computed (nor printed for an attacker to tune)."""
    checked = r.liveness
    if a.json:
        print(json.dumps({**fields, "distance": None, "faces": 0, "live": False, "live_faces": checked.live,
                          "scored": checked.faces}))
        return
    print(f"{line}\tnot a live face: {checked.faces - checked.live} of {checked.faces} scored as an attack "
          "(--no-liveness: recognition alone)")


def run_identify(a) -> int:
    r = identify(a.input, _probe_options(a))
    if not r.live:
        _say_not_live(a, r, {"identity": None}, "unknown")
        return 1
    _say(a, r, {"identity": r.identity}, r.identity or "unknown")
    return 0 if r.identity else 1


def run_verify(a) -> int:
    r = verify(a.name, a.input, _probe_options(a))
    if not r.live:
        _say_not_live(a, r, {"name": a.name, "match": False}, f"no match\t{a.name}")
        return 1
    _say(a, r, {"name": a.name, "match": r.match}, f"{'match' if r.match else 'no match'}\t{a.name}")
    return 0 if r.match else 1
