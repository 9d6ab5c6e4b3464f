"""Enrol, identify (1:N) and verify (1:1) against the gallery, from one face or several.

The threshold (Euclidean distance between dlib embeddings) is chosen from the per-session table of
docs/identity_sessions.md (ten enrolled faces per person; a session's best five frames, their mean
embedding): the highest threshold whose false match rate stays at or below 0.1% (a false match admits
someone as another person; a false non-match costs a second try). Per pair and per image distances:
docs/identity.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import IdentityConflict, InputError, NoFaceError
from ..frames import as_bgr, is_grayscale
from ..types import FaceBox, FaceResult
from .embed import DlibEmbedder
from .gallery import GalleryBase, GalleryError, open_gallery

DEFAULT_THRESHOLD = 0.41
# a person with fewer enrolled faces goes unrecognised in more of their sessions at the threshold above
# (docs/identity_sessions.md, by enrolled faces): `marginlive enroll` and the enrolment API say so
ENOUGH_FACES = 5


def faces_of(rows: list[dict], name: str) -> int:
    """How many faces ``name`` has among gallery rows (``GalleryBase.list``; 0: not enrolled)."""
    return next((r["embeddings"] for r in rows if r["name"] == name), 0)


def with_enough_faces(rows: list[dict]) -> list[dict]:
    """Gallery rows (``GalleryBase.list``: name, embeddings, created) with ``enough_faces``: at least
    ``ENOUGH_FACES`` enrolled."""
    return [{**r, "enough_faces": r["embeddings"] >= ENOUGH_FACES} for r in rows]


@dataclass
class Decision:
    """Who a set of probe faces is. ``identity``: the enrolled name accepted (None: unknown);
    ``nearest``: the closest name whatever its distance; ``distance``: the combined distance to it;
    ``margin``: how much farther the next identity is (None with one enrolled); ``probes``: faces used."""
    identity: str | None
    nearest: str | None
    distance: float | None
    margin: float | None
    probes: int


class Recognizer:
    """Who a live face is: dlib's 128-d descriptor (``embedder``) searched in ``gallery`` by Euclidean
    distance, accepted at or below ``threshold`` (default ``DEFAULT_THRESHOLD``, chosen in
    docs/identity_sessions.md). 1:N (``decide``, ``identify_faces``) or 1:1 (``verify``)."""

    def __init__(self, gallery=None, embedder=None, threshold: float = DEFAULT_THRESHOLD):
        """``gallery``: a gallery object, a SQLite path or a postgresql:// URL (default: the SQLite default)."""
        self.gallery = gallery if isinstance(gallery, GalleryBase) else open_gallery(gallery)
        self.embedder = embedder or DlibEmbedder()
        self.threshold = threshold

    def embed(self, frame, box: FaceBox) -> np.ndarray:
        """The (128,) embedding of the face at ``box`` in an (H, W, 3) uint8 BGR ``frame`` (``as_bgr``)."""
        return self.embedder.embed(as_bgr(frame), box)

    def decide(self, vecs: list[np.ndarray], name: str | None = None) -> Decision:
        """The identity of several probe embeddings of one person: their mean (which averages out
        pose, blur and light of single frames), and per enrolled identity its distance to the
        nearest enrolled embedding; the nearest identity is accepted at or below the threshold.
        ``name``: only that identity is considered (1:1). Other ways to combine were measured
        (docs/identity_sessions.md): the mean of per-frame distances missed more people."""
        if not vecs:
            return Decision(None, None, None, None, 0)
        hits = self.gallery.search(self.embedder.name, np.mean(vecs, axis=0), name, k=2)
        if not hits:
            return Decision(None, None, None, None, len(vecs))
        (top, d), margin = hits[0], (hits[1][1] - hits[0][1] if len(hits) > 1 else None)
        return Decision(top if d <= self.threshold else None, top, d, margin, len(vecs))

    def identify_faces(self, faces: list[tuple[np.ndarray, FaceResult | FaceBox]], name: str | None = None) -> Decision:
        """``decide`` on the embeddings of (frame, face) pairs, e.g. a session's best frames."""
        boxes = [(f, x.box if isinstance(x, FaceResult) else x) for f, x in faces]
        return self.decide([self.embed(f, b) for f, b in boxes], name)

    def verify(self, name: str, vecs: list[np.ndarray]) -> Decision:
        """1:1: ``decide`` among ``name``'s enrolled embeddings only; it is a match where the decision's
        identity is ``name``. Raises GalleryError when nobody of that name is enrolled."""
        self.check_enrolled(name)
        return self.decide(vecs, name)

    def check_enrolled(self, name: str) -> None:
        """GalleryError unless someone named ``name`` is enrolled."""
        if not any(i["name"] == name for i in self.gallery.list()):
            raise GalleryError(f"no identity named {name!r}")


def check_one_person(rec: Recognizer, name: str, vecs: list[np.ndarray]) -> None:
    """IdentityConflict (409) unless the embeddings of faces to be enrolled as ``name`` are one
    person's, no other identity's: where they match another identity, that person's logins would be
    decided between the two; where ``name`` is enrolled and they do not match it, they are someone
    else's (a wrong name typed, or another person at the camera)."""
    d = rec.decide(vecs)
    if d.identity is not None and d.identity != name:
        raise IdentityConflict("this face matches an identity enrolled under another name: one person enrols "
                               "once (remove that identity first)")
    if faces_of(rec.gallery.list(), name) and rec.decide(vecs, name).identity != name:
        raise IdentityConflict(f"this face does not match the faces enrolled as {name!r} (if it is the same person, "
                               "changed since: remove the identity and enrol them afresh)")


def session_enrolment(rec: Recognizer, name: str) -> Callable[[list], Decision]:
    """An authentication session's identity step that enrols (``Session(identify=...)``): of the
    session's best (frame, face) pairs, of enrolment quality, ``ENOUGH_FACES`` enrol as ``name``, the
    most typical first (``select.representative``), once its liveness and actions passed, and the
    decision names it. An ``InputError`` (the session's rejection) where fewer than ``ENOUGH_FACES``
    were kept or they are not one person's alone (``check_one_person``); nothing is added then."""
    from .select import representative

    def enrol(faces: list) -> Decision:
        if len(faces) < ENOUGH_FACES:
            raise InputError(f"too few clear views of the face to enrol ({len(faces)} of {ENOUGH_FACES}): "
                             "face the camera in good light")
        vecs = [rec.embed(f, x.box if isinstance(x, FaceResult) else x) for f, x in faces]
        vecs = [vecs[i] for i in representative(vecs, ENOUGH_FACES)]
        check_one_person(rec, name, vecs)
        rec.gallery.add(name, vecs, rec.embedder.name, ["session"] * len(vecs))
        return Decision(name, name, None, None, len(vecs))
    return enrol


def single_face(detector, frame, what: str) -> FaceBox:
    """Exactly one face, or a clear error."""
    from ..detect import confident_faces
    boxes = confident_faces(detector.detect(frame))
    if not boxes:
        raise NoFaceError(f"{what}: no face found")
    if len(boxes) > 1:
        raise NoFaceError(f"{what}: {len(boxes)} faces found; enrolment and recognition need exactly one")
    return boxes[0]


def live_score(liveness, frame, box: FaceBox) -> float | None:
    """P(real) of the face at ``box`` of ``frame`` by the ``liveness`` detector; None for a grayscale
    face, whose liveness the model, which reads colour, cannot judge."""
    if is_grayscale(box.region(frame)):
        return None
    return float(liveness.score(frame, [box])[0])


def live_single_face(liveness, frame, what: str) -> FaceBox:
    """Exactly one face, in colour (the model cannot judge a grayscale one), and the liveness
    model must call it real."""
    box = single_face(liveness.detector, frame, what)
    p = live_score(liveness, frame, box)
    if p is None:
        raise InputError(f"{what}: a grayscale picture, whose liveness cannot be judged; enrol from a colour one")
    if p < liveness.threshold:
        raise InputError(f"{what}: not a live face (P(real) = {p:.2f}); only live faces enrol")
    return box
