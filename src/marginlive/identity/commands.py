"""`enroll`, `identities`, `identify`, `verify`."""
from __future__ import annotations

import json

import numpy as np

from ..errors import InputError
from ..frames import VideoSource, expand_paths, kind_of, read_image


def _liveness(a):
    from ..pipeline import LivenessDetector
    return LivenessDetector(model=a.model, detector=a.detector, detector_model=a.detector_model)


def _frames_of(path, per_video: int):
    if kind_of(path) == "video":
        with VideoSource(path) as src:
            frames = [f.image for f in src]
        idx = np.linspace(0, len(frames) - 1, min(per_video, len(frames))).round().astype(int)
        return [(f"{path}#{i}", frames[i]) for i in idx]
    return [(str(path), read_image(path))]


def run_enroll(a) -> int:
    from .recognise import Recognizer, live_single_face
    live = _liveness(a)
    rec = Recognizer(a.gallery)
    vecs, srcs = [], []
    for p in expand_paths(a.inputs):
        for what, frame in _frames_of(p, a.frames):
            box = live_single_face(live, frame, what)   # raises: nothing is written
            vecs.append(rec.embed(frame, box))
            srcs.append(what)
    n = rec.gallery.add(a.name, vecs, rec.embedder.name, srcs)
    print(f"enrolled {a.name}: {n} embedding(s) added to {rec.gallery.path}")
    return 0


def run_identities(a) -> int:
    from .gallery import Gallery
    with Gallery(a.gallery) as g:
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
    from .recognise import Recognizer, single_face
    rec = Recognizer(a.gallery, threshold=a.threshold)
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
