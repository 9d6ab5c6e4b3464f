"""Enrol, identify (1:N) and verify (1:1) against the gallery.

The threshold (Euclidean distance between dlib embeddings) was chosen from genuine and
impostor distances measured on the shared data's distinct people; see docs/identity.md.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError, NoFaceError
from ..types import FaceBox, FaceResult
from .embed import DlibEmbedder, distance
from .gallery import Gallery, GalleryError

DEFAULT_THRESHOLD = 0.42


class Recognizer:
    def __init__(self, gallery: str | Gallery | None = None, embedder=None, threshold: float = DEFAULT_THRESHOLD):
        self.gallery = gallery if isinstance(gallery, Gallery) else Gallery(gallery)
        self.embedder = embedder or DlibEmbedder()
        self.threshold = threshold

    def embed(self, frame, box: FaceBox) -> np.ndarray:
        return self.embedder.embed(frame, box)

    def nearest(self, vec: np.ndarray, name: str | None = None) -> tuple[str | None, float | None]:
        names, vecs = self.gallery.vectors(self.embedder.name, name)
        if not names:
            return None, None
        d = distance(vecs, vec)
        best: dict[str, float] = {}
        for n, x in zip(names, d):
            best[n] = min(best.get(n, np.inf), float(x))
        who = min(best, key=best.get)
        return who, best[who]

    def identify_vector(self, vec) -> tuple[str | None, float | None]:
        who, d = self.nearest(vec)
        return (who if d is not None and d <= self.threshold else None), d

    def identify_face(self, frame, face: FaceResult | FaceBox) -> tuple[str | None, float | None]:
        """For the session's identity step: (name or None, distance)."""
        box = face.box if isinstance(face, FaceResult) else face
        return self.identify_vector(self.embed(frame, box))

    def verify_vector(self, name: str, vec) -> tuple[bool, float]:
        if not any(i["name"] == name for i in self.gallery.list()):
            raise GalleryError(f"no identity named {name!r}")
        _, d = self.nearest(vec, name)
        return d is not None and d <= self.threshold, d


def single_face(detector, frame, what: str) -> FaceBox:
    """Exactly one face, or a clear error."""
    from ..detect import confident_faces
    boxes = confident_faces(detector.detect(frame))
    if not boxes:
        raise NoFaceError(f"{what}: no face found")
    if len(boxes) > 1:
        raise NoFaceError(f"{what}: {len(boxes)} faces found; enrolment and recognition need exactly one")
    return boxes[0]


def live_single_face(liveness, frame, what: str) -> FaceBox:
    """Exactly one face, and the liveness model must call it real."""
    box = single_face(liveness.detector, frame, what)
    p = float(liveness.score(frame, [box])[0])
    if p < liveness.threshold:
        raise InputError(f"{what}: not a live face (P(real) = {p:.2f}); only live faces enrol")
    return box
