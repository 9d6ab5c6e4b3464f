"""`enroll`, `identities`, `identify`, `verify`."""
from __future__ import annotations

import json
import sys

from ..errors import InputError
from ..frames import expand_paths, kind_of, read_image, sample_video_frames


def _liveness(a):
    from ..pipeline import LivenessDetector
    return LivenessDetector(model=a.model, detector=a.detector, detector_model=a.detector_model)


def _frames_of(path, per_video: int):
    if kind_of(path) == "video":
        return [(f"{path}#{f.index}", f.image) for f in sample_video_frames(path, per_video)]
    return [(str(path), read_image(path))]


def _enrolment_faces(live, path, per_video: int) -> tuple[list, list[str]]:
    """The best ``per_video`` live faces of a video (ranked by quality among 6x as many frames), or
    an image's face: [(source, frame, box)], and why the others were refused."""
    from .quality import best, face_quality
    from .recognise import live_single_face, single_face
    video = kind_of(path) == "video"
    cands, refused = [], []
    for what, frame in _frames_of(path, 6 * per_video if video else 1):
        try:
            box = single_face(live.detector, frame, what)
        except InputError as e:
            if not video:
                raise
            refused.append(str(e))
            continue
        q = face_quality(frame, box)
        if not q.usable:
            refused.append(f"{what}: {'; '.join(q.problems)}")
        cands.append(((what, frame, box), q))
    chosen = best([c for c, _ in cands], [q for _, q in cands], per_video if video else 1)
    for what, frame, _ in chosen:
        live_single_face(live, frame, what)   # raises: nothing is written
    return chosen, refused


def run_enroll(a) -> int:
    """Enrol the best faces of each input: frames below the quality limits (identity/quality.py) are
    refused with their reason; nothing is written unless at least one face is kept."""
    from .recognise import Recognizer
    live = _liveness(a)
    rec = Recognizer(a.gallery)
    vecs, sources, refused = [], [], []
    for p in expand_paths(a.inputs):
        chosen, why = _enrolment_faces(live, p, a.frames)
        # embedded input by input: a folder of phone photos is not held in memory at once
        vecs += [rec.embed(frame, box) for _, frame, box in chosen]
        sources += [what for what, _, _ in chosen]
        refused += why
    for r in refused:
        print(f"refused {r}", file=sys.stderr)
    if not vecs:
        raise InputError(f"no face of enrolment quality for {a.name} ({len(refused)} refused): use sharp, "
                         "well-lit, frontal images or videos with the face at least 60 px wide")
    n = rec.gallery.add(a.name, vecs, rec.embedder.name, sources)
    print(f"enrolled {a.name}: kept {n} face(s), refused {len(refused)}; gallery {rec.gallery.path}")
    return 0


def run_identities(a) -> int:
    from .gallery import open_gallery
    with open_gallery(a.gallery) as g:
        if a.action == "list":
            rows = g.list()
            if a.json:
                print(json.dumps(rows))
            elif not rows:
                print(f"no identity enrolled in {g.path}")
            for r in rows if not a.json else []:
                print(f"{r['name']}\t{r['embeddings']} embedding(s)")
        else:
            if not a.name:
                raise InputError("identities remove needs a NAME")
            n = g.remove(a.name)
            print(f"removed {a.name} ({n} embedding(s))")
    return 0


def _probe(a):
    from ..detect import create_detector
    from .recognise import DEFAULT_THRESHOLD, Recognizer, single_face
    rec = Recognizer(a.gallery, threshold=DEFAULT_THRESHOLD if a.threshold is None else a.threshold)
    img = read_image(a.image)
    box = single_face(create_detector(a.detector, a.detector_model), img, a.image)
    return rec, rec.embed(img, box)


def run_identify(a) -> int:
    rec, vec = _probe(a)
    who, d = rec.identify_vector(vec)
    dist = "n/a" if d is None else f"{d:.3f}"
    if a.json:
        print(json.dumps({"identity": who, "distance": d, "threshold": rec.threshold}))
    else:
        print(f"{who or 'unknown'}\tdistance {dist}\t(threshold {rec.threshold})")
    return 0 if who else 1


def run_verify(a) -> int:
    rec, vec = _probe(a)
    ok, d = rec.verify_vector(a.name, vec)
    if a.json:
        print(json.dumps({"name": a.name, "match": ok, "distance": d, "threshold": rec.threshold}))
    else:
        print(f"{'match' if ok else 'no match'}\t{a.name}\tdistance {d:.3f}\t(threshold {rec.threshold})")
    return 0 if ok else 1
