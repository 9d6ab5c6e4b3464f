"""`enroll`, `identities`, `identify`, `verify`."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, NoFaceError
from ..frames import expand_paths, kind_of, read_image, sample_video_frames
from .recognise import ENOUGH_FACES, faces_of, live_score, with_enough_faces


def _liveness(a):
    from ..pipeline import LivenessDetector
    return LivenessDetector(model=a.model, detector=a.detector, detector_model=a.detector_model)


def _frames_of(path, per_video: int):
    if kind_of(path) == "video":
        return [(f"{path}#{f.index}", f.image) for f in sample_video_frames(path, per_video)]
    return [(str(path), read_image(path))]


def _best_faces(detector, path, k: int) -> tuple[list, list[str]]:
    """The best ``k`` single faces of a video by quality (``identity/quality.py``), among 6x as many
    frames spread over it, or an image's one face: [(source, frame, box)], and why the others were
    refused. An image without exactly one face raises ``NoFaceError``."""
    from .quality import best, face_quality
    from .recognise import single_face
    video = kind_of(path) == "video"
    cands, refused = [], []
    for what, frame in _frames_of(path, 6 * k if video else 1):
        try:
            box = single_face(detector, frame, what)
        except InputError as e:
            if not video:
                raise
            refused.append(str(e))
            continue
        q = face_quality(frame, box)
        if not q.usable:
            refused.append(f"{what}: {'; '.join(q.problems)}")
        cands.append(((what, frame, box), q))
    return best([c for c, _ in cands], [q for _, q in cands], k if video else 1), refused


def _enrolment_faces(live, rec, path, per_video: int) -> tuple[list, list, list[str]]:
    """The faces of ``path`` to enrol and their embeddings: an image's one face, or ``per_video`` of a
    video's best ``CANDIDATES`` (or more) by quality, the most typical first (``select.representative``);
    each of them the liveness model must call live (else InputError: nothing is written). Also why
    other frames were refused."""
    from .recognise import live_single_face
    from .select import CANDIDATES, representative
    video = kind_of(path) == "video"
    cands, refused = _best_faces(live.detector, path, max(per_video, CANDIDATES) if video else 1)
    vecs = [rec.embed(frame, box) for _, frame, box in cands]
    keep = representative(vecs, per_video)      # an image's one face: [0]
    chosen, vecs = [cands[i] for i in keep], [vecs[i] for i in keep]
    for what, frame, _ in chosen:
        live_single_face(live, frame, what)   # raises: nothing is written
    return chosen, vecs, refused


def run_enroll(a) -> int:
    """Enrol the best faces of each input: frames below the quality limits (identity/quality.py) are
    refused with their reason; nothing is written unless at least one face is kept, and none that
    matches another identity or not the one already enrolled under the name (``check_one_person``)."""
    from .recognise import Recognizer, check_one_person
    live = _liveness(a)
    rec = Recognizer(a.gallery)
    vecs, sources, refused = [], [], []
    for p in expand_paths(a.inputs):
        # embedded input by input: a folder of phone photos is not held in memory at once
        chosen, embedded, why = _enrolment_faces(live, rec, p, a.frames)
        vecs += embedded
        sources += [what for what, _, _ in chosen]
        refused += why
    for r in refused:
        print(f"refused {r}", file=sys.stderr)
    if not vecs:
        raise InputError(f"no face of enrolment quality for {a.name} ({len(refused)} refused): use sharp, "
                         "well-lit, frontal images or videos with the face at least 60 px wide")
    check_one_person(rec, a.name, vecs)
    n = rec.gallery.add(a.name, vecs, rec.embedder.name, sources)
    total = faces_of(rec.gallery.list(), a.name)
    print(f"enrolled {a.name}: kept {n} face(s), refused {len(refused)}; {total} in all; gallery {rec.gallery.path}")
    if total < ENOUGH_FACES:
        print(f"note: {a.name} has {total} enrolled face(s); below {ENOUGH_FACES}, more of their logins go "
              "unrecognised (docs/identity_sessions.md): enrol a few seconds of video or more photos", file=sys.stderr)
    return 0


def run_identities(a) -> int:
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


@dataclass
class ProbeLiveness:
    """How many of a probe's ``faces`` the liveness model scored live (``live``, at or above its
    threshold; a grayscale face cannot be judged and is not). The probe is live where most of them
    are (an image: its one face): a live user's video has a frame or two below the threshold, a
    replay most of its frames."""
    faces: int
    live: int

    @property
    def passed(self) -> bool:
        return 2 * self.live > self.faces


def _probe(a, claimed: str | None = None):
    """The recogniser, the probe's faces to recognise and their liveness (None with ``--no-liveness``):
    an image's one face, or a video's ``a.frames`` best faces (a session's identity step decides on its
    best frames alike, ``challenge/session.py``), of which only those the liveness model scores live
    name anyone, as in a session. ``claimed``: a name that must be enrolled, checked before the probe
    is read."""
    from ..detect import create_detector
    from .gallery import open_gallery
    from .recognise import DEFAULT_THRESHOLD, Recognizer
    path = Path(a.input)
    if path.is_dir():
        raise InputError(f"{path}: a folder; identify and verify read one image or video of one person")
    expand_paths([path])   # a clear error for a missing file
    rec = Recognizer(open_gallery(a.gallery, existing=True),
                     threshold=DEFAULT_THRESHOLD if a.threshold is None else a.threshold)
    if claimed is not None:
        rec.check_enrolled(claimed)
    live = None if a.no_liveness else _liveness(a)
    detector = create_detector(a.detector, a.detector_model) if live is None else live.detector
    chosen, refused = _best_faces(detector, path, a.frames)
    if not chosen:
        # an image's face refused for its quality names why, as enrolment does
        why = f" ({len(refused)} refused, e.g. {refused[0]})" if refused else ""
        raise NoFaceError(f"{a.input}: no face to recognise{why}")
    if live is None:
        return rec, chosen, None
    scores = [live_score(live, frame, box) for _, frame, box in chosen]
    ok = [p is not None and p >= live.threshold for p in scores]
    return rec, [c for c, k in zip(chosen, ok) if k], ProbeLiveness(len(chosen), sum(ok))


def _say(a, d, threshold: float, fields: dict, line: str, checked: ProbeLiveness | None) -> None:
    """Print the decision ``d``: ``fields`` with its distance (JSON), or ``line`` with it, and how many
    faces it used where more than one; ``checked``: the probe's liveness (None: not checked). JSON:
    ``faces`` decided on, ``scored`` by the liveness model, ``live_faces`` of those scored live."""
    if a.json:
        live = {} if checked is None else {"live": checked.passed, "live_faces": checked.live, "scored": checked.faces}
        print(json.dumps({**fields, "distance": d.distance, "threshold": threshold, "faces": d.probes, **live}))
        return
    dist = "n/a" if d.distance is None else f"{d.distance:.3f}"
    faces = f", {d.probes} faces" if d.probes > 1 else ""
    print(f"{line}\tdistance {dist}\t(threshold {threshold}{faces})")


def _say_not_live(a, fields: dict, line: str, checked: ProbeLiveness) -> None:
    """A probe that is not live names nobody: no distance is computed (nor printed for an attacker to tune)."""
    if a.json:
        print(json.dumps({**fields, "distance": None, "faces": 0, "live": False, "live_faces": checked.live,
                          "scored": checked.faces}))
        return
    print(f"{line}\tnot a live face: {checked.faces - checked.live} of {checked.faces} scored as an attack "
          "(--no-liveness: recognition alone)")


def run_identify(a) -> int:
    rec, faces, checked = _probe(a)
    if checked is not None and not checked.passed:
        _say_not_live(a, {"identity": None}, "unknown", checked)
        return 1
    d = rec.identify_faces([(frame, box) for _, frame, box in faces])
    _say(a, d, rec.threshold, {"identity": d.identity}, d.identity or "unknown", checked)
    return 0 if d.identity else 1


def run_verify(a) -> int:
    rec, faces, checked = _probe(a, claimed=a.name)
    if checked is not None and not checked.passed:
        _say_not_live(a, {"name": a.name, "match": False}, f"no match\t{a.name}", checked)
        return 1
    # ``verify`` without its enrolment check: _probe made it before the probe
    d = rec.identify_faces([(frame, box) for _, frame, box in faces], a.name)
    ok = d.identity == a.name
    _say(a, d, rec.threshold, {"name": a.name, "match": ok}, f"{'match' if ok else 'no match'}\t{a.name}", checked)
    return 0 if ok else 1
