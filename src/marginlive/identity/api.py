"""Identity in Python: the command line's verbs, with its rules.

    from marginlive import enroll, identify, verify
    enroll("alice", ["alice.mp4"])            # only live faces of enrolment quality enrol
    verify("alice", "someone.jpg").match      # True: a live face, and alice's
    identify("someone.mp4").identity          # a name, or None (unknown, or not live)

A source is a path (an image, a video; a folder of them to enrol) or a frame already in memory, an
(H, W, 3) uint8 BGR array (``read_image`` reads one).

A face enrols only where the liveness model scores it live, it passes the quality rule
(``quality.py``) and it is nobody else's (``check_one_person``). A probe names someone only where
most of its faces score live, and then only from those, as a session's identity step does. Errors
are the command line's, each with a message a user can act on: ``InputError`` (nothing usable, a
face not live), ``NoFaceError``, ``IdentityConflict``, ``GalleryError`` (no such identity).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..detect import DEFAULT_DETECTOR
from ..errors import InputError, NoFaceError
from ..frames import as_bgr, expand_paths, kind_of, read_image, sample_video_frames
from .recognise import ENOUGH_FACES, Decision, faces_of, live_score


@dataclass(frozen=True)
class IdentityOptions:
    """Settings of ``enroll``, ``identify`` and ``verify`` (the command line's flags of the same names).

    ``gallery``: a SQLite file or a postgresql:// URL (None: $MARGINLIVE_GALLERY, else
    .marginlive/gallery.db). ``model``: the liveness model ('default', 'fast' or an .onnx file; None:
    the shipped default). ``detector``, ``detector_model``: the face detector (``detect.create_detector``).
    ``threshold``: the largest embedding distance of a match (None: ``recognise.DEFAULT_THRESHOLD``).
    ``enrol_faces``: faces kept from each enrolment video (10; an image gives its one face).
    ``probe_faces``: faces a probe video decides on, its best (5, as a session). ``liveness``: check it
    first (True); False is recognition alone, where a photo of a person matches them.
    """
    gallery: str | os.PathLike | None = None
    model: str | os.PathLike | None = None
    detector: str = DEFAULT_DETECTOR
    detector_model: str | os.PathLike | None = None
    threshold: float | None = None
    enrol_faces: int = 10
    probe_faces: int = 5
    liveness: bool = True

    def __post_init__(self):
        for name in ("enrol_faces", "probe_faces"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise InputError(f"{name} is a whole number of faces, at least 1, not {n!r}")
        if self.threshold is not None and not 0 < self.threshold:
            raise InputError(f"threshold is an embedding distance above 0, not {self.threshold!r}")


@dataclass(frozen=True)
class Enrolment:
    """What ``enroll`` wrote: the ``kept`` faces' sources ('file' or 'file#frame'), why other frames were
    ``refused``, the faces now enrolled under ``name`` in all (``total``) and the gallery's path."""
    name: str
    kept: list[str]
    refused: list[str]
    total: int
    gallery: str

    @property
    def enough(self) -> bool:
        """Whether the identity holds ``ENOUGH_FACES``: with fewer, more of its logins go unrecognised."""
        return self.total >= ENOUGH_FACES


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Recognition:
    """A probe's answer. ``identity``: who it is (None: unknown, or not live); ``distance`` to the
    nearest enrolled face (None where not computed: a probe not live gets none, for nobody to tune
    against); ``threshold``; the ``faces`` decided on; ``liveness`` (None: not checked); ``claimed``:
    the name ``verify`` was asked about."""
    identity: str | None
    distance: float | None
    threshold: float
    faces: int
    liveness: ProbeLiveness | None
    claimed: str | None = None

    @property
    def live(self) -> bool:
        """Whether the probe counts as live (most of its faces scored live; True where not checked)."""
        return self.liveness is None or self.liveness.passed

    @property
    def match(self) -> bool:
        """``verify``: the probe is live and the claimed person's."""
        return self.claimed is not None and self.identity == self.claimed


class EnrolmentRefused(InputError):
    """No face of an enrolment was usable; ``refused`` says why, frame by frame."""

    def __init__(self, message: str, refused: list[str]):
        super().__init__(message)
        self.refused = refused


@dataclass
class _Enrolled:
    """An enrolment as its inputs are read: the kept faces' embeddings (128,) and sources, the refusals."""
    vectors: list = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


# The models each thread has loaded (about 0.3 s a call otherwise): a loop over many pictures loads them
# once. Per thread, as dlib's models are not documented safe to share between threads.
_loaded = threading.local()


def _once(key, make):
    cache = _loaded.__dict__.setdefault("models", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def liveness_detector(options: IdentityOptions):
    """The ``LivenessDetector`` the options name (model and detector), loaded once per thread."""
    from ..pipeline import LivenessDetector
    return _once(("liveness", options.model, options.detector, options.detector_model),
                 lambda: LivenessDetector(model=options.model, detector=options.detector,
                                          detector_model=options.detector_model))


def _recognizer(gallery, threshold: float | None = None):
    """A ``Recognizer`` on ``gallery`` (a gallery object, a path or a URL), its embedder loaded once per thread."""
    from .embed import DlibEmbedder
    from .recognise import DEFAULT_THRESHOLD, Recognizer
    return Recognizer(gallery, _once(("embedder",), DlibEmbedder),
                      DEFAULT_THRESHOLD if threshold is None else threshold)


#: an image or video file (a folder of them, to enrol), or a frame in memory: (H, W, 3) uint8 BGR, named
#: "a frame" in messages
Source = str | Path | np.ndarray


def _is_video(src: Source) -> bool:
    return not isinstance(src, np.ndarray) and kind_of(src) == "video"


def _checked(src) -> Source:
    """``src`` if it is a path or an array (``as_bgr`` checks an array's shape and type when it is read),
    else InputError naming what it is."""
    if isinstance(src, (str, os.PathLike, np.ndarray)):
        return src
    raise InputError("a picture is a file path or an (H, W, 3) uint8 BGR numpy array (read_image reads one), "
                     f"not {type(src).__name__}")


def _sources(inputs) -> list:
    """``inputs`` (one source or several) as a list, folders expanded to their files, every path checked."""
    if isinstance(inputs, (str, os.PathLike, np.ndarray)):
        inputs = [inputs]
    elif not isinstance(inputs, Iterable):
        _checked(inputs)
    out = []
    for src in inputs:
        out += [src] if isinstance(_checked(src), np.ndarray) else expand_paths([src])
    return out


def _frames_of(path: Source, per_video: int):
    if isinstance(path, np.ndarray):
        return [("a frame", as_bgr(path))]
    if kind_of(path) == "video":
        return [(f"{path}#{f.index}", f.image) for f in sample_video_frames(path, per_video)]
    return [(str(path), read_image(path))]


def best_faces(detector, path, k: int) -> tuple[list, list[str]]:
    """The best ``k`` single faces of a video by quality (``identity/quality.py``), among 6x as many
    frames spread over it, or an image's one face: [(source, frame, box)], and why the others were
    refused. An image without exactly one face raises ``NoFaceError``."""
    from .quality import best, face_quality
    from .recognise import single_face
    video = _is_video(path)
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


def _enrolment_faces(live, rec, path, per_video: int, into: _Enrolled) -> None:
    """Add to ``into`` the faces of ``path`` to enrol and their embeddings: an image's one face, or
    ``per_video`` of a video's best ``CANDIDATES`` (or more) by quality, the most typical first
    (``select.representative``); each of them the liveness model must call live (else InputError:
    nothing is written). Also why other frames were refused."""
    from .recognise import live_single_face
    from .select import CANDIDATES, representative
    video = _is_video(path)
    cands, refused = best_faces(live.detector, path, max(per_video, CANDIDATES) if video else 1)
    vecs = [rec.embed(frame, box) for _, frame, box in cands]
    keep = representative(vecs, per_video)      # an image's one face: [0]
    for i in keep:
        live_single_face(live, cands[i][1], cands[i][0])   # raises: nothing is written
    into.vectors += [vecs[i] for i in keep]
    into.sources += [cands[i][0] for i in keep]
    into.refused += refused


def enroll(name: str, inputs: Source | Iterable[Source], options: IdentityOptions = IdentityOptions()) -> Enrolment:
    """Enrol ``name`` from images, videos, folders or frames of one person (``inputs``: one or several):
    each image's one face and each video's best ``options.enrol_faces``. Frames below the quality rule
    are refused with their reason; nothing is written unless at least one face is kept (else
    ``EnrolmentRefused``), every kept face is live, and none matches another identity or not the one
    already enrolled under the name."""
    from .gallery import open_gallery
    from .recognise import check_one_person
    sources = _sources(inputs)     # every input checked before the gallery is opened (or made)
    live, got = liveness_detector(options), _Enrolled()
    with open_gallery(options.gallery) as gallery:
        rec = _recognizer(gallery)
        for p in sources:
            # embedded input by input: a folder of phone photos is not held in memory at once
            _enrolment_faces(live, rec, p, options.enrol_faces, got)
        if not got.vectors:
            raise EnrolmentRefused(f"no face of enrolment quality for {name} ({len(got.refused)} refused): use "
                                   "sharp, well-lit, frontal images or videos with the face at least 60 px wide",
                                   got.refused)
        check_one_person(rec, name, got.vectors)
        gallery.add(name, got.vectors, rec.embedder.name, got.sources)
        return Enrolment(name, got.sources, got.refused, faces_of(gallery.list(), name), str(gallery.path))


def _probe(path, options: IdentityOptions, rec, claimed: str | None = None):
    """The probe's faces to recognise and their liveness (None where not checked): an image's one face,
    or a video's ``probe_faces`` best faces, of which only those the liveness model scores live name
    anyone. ``claimed``: a name that must be enrolled in ``rec``'s gallery, checked before the probe is read."""
    from ..detect import create_detector
    if not isinstance(_checked(path), np.ndarray):
        path = Path(path)
        if path.is_dir():
            raise InputError(f"{path}: a folder; identify and verify read one image or video of one person")
        expand_paths([path])   # a clear error for a missing file
    if claimed is not None:
        rec.check_enrolled(claimed)
    live = liveness_detector(options) if options.liveness else None
    detector = live.detector if live else _once(("detector", options.detector, options.detector_model),
                                                lambda: create_detector(options.detector, options.detector_model))
    chosen, refused = best_faces(detector, path, options.probe_faces)
    if not chosen:
        # an image's face refused for its quality names why, as enrolment does
        why = f" ({len(refused)} refused, e.g. {refused[0]})" if refused else ""
        raise NoFaceError(f"{'a frame' if isinstance(path, np.ndarray) else path}: no face to recognise{why}")
    if live is None:
        return chosen, None
    scores = [live_score(live, frame, box) for _, frame, box in chosen]
    ok = [p is not None and p >= live.threshold for p in scores]
    return [c for c, k in zip(chosen, ok) if k], ProbeLiveness(len(chosen), sum(ok))


def _recognise(path, options: IdentityOptions, claimed: str | None) -> Recognition:
    from .gallery import open_gallery
    with open_gallery(options.gallery, existing=True) as gallery:
        rec = _recognizer(gallery, options.threshold)
        faces, checked = _probe(path, options, rec, claimed)
        if checked is not None and not checked.passed:
            return Recognition(None, None, rec.threshold, 0, checked, claimed)
        d: Decision = rec.identify_faces([(frame, box) for _, frame, box in faces], claimed)
        return Recognition(d.identity, d.distance, rec.threshold, d.probes, checked, claimed)


def identify(path: Source, options: IdentityOptions = IdentityOptions()) -> Recognition:
    """1:N: who the live person in an image or a frame (its one face) or in a video (its best faces)
    is, against every enrolled identity. ``identity`` is None where nobody is within the threshold."""
    return _recognise(path, options, None)


def verify(name: str, path: Source, options: IdentityOptions = IdentityOptions()) -> Recognition:
    """1:1: whether the live person in an image, a frame or a video is ``name`` (``match``), against ``name``'s
    enrolled faces only. ``GalleryError`` when nobody of that name is enrolled (before the probe is read)."""
    return _recognise(path, options, name)
