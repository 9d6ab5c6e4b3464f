"""Face embeddings behind one small interface: ``embed(frame_bgr, box) -> (D,) float32``.

Default: dlib's 5-point aligner + 128-d ResNet (from the ``face-recognition-models``
package, CC0). The model files are located without importing that package, whose
``__init__`` needs ``pkg_resources`` (absent from fresh virtual environments).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..errors import ModelError
from ..types import FaceBox


class Embedder(Protocol):
    """What the identity step needs of a face embedder: ``embed`` maps the face at ``box`` of one
    (H, W, 3) uint8 BGR frame to a (``dim``,) vector, near for one person and far for two; ``name``
    is stored with each enrolled vector, so vectors of another embedder are never compared."""
    name: str
    dim: int

    def embed(self, frame_bgr: np.ndarray, box: FaceBox) -> np.ndarray: ...


def embedding_crop(frame_bgr: np.ndarray, box: FaceBox, margin: float = 2.5,
                   max_face_px: int = 400) -> tuple[np.ndarray, FaceBox]:
    """What ``DlibEmbedder.embed`` reads of ``frame_bgr`` around ``box``: a copy of ``margin`` face
    sizes around its centre (clipped to the frame; its HOG search spans 1.8, its aligned chip about
    2), shrunk so that the face is at most ``max_face_px`` wide (the chip is 150 px), and the box in
    that copy. For frames kept until a session's end: a 25-megapixel frame is 75 MB, its crop at most
    about 3 MB; for a webcam's face, the crop gives the same embedding as the frame."""
    H, W = frame_bgr.shape[:2]
    half = margin * max(box.w, box.h) / 2
    x0, y0 = max(0, int(box.cx - half)), max(0, int(box.cy - half))
    x1, y1 = min(W, int(np.ceil(box.cx + half))), min(H, int(np.ceil(box.cy + half)))
    crop = frame_bgr[y0:y1, x0:x1]
    k = min(1.0, max_face_px / max(box.w, 1.0))
    if k < 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))),
                          interpolation=cv2.INTER_AREA)
    else:
        crop = crop.copy()
    moved = FaceBox((box.x1 - x0) * k, (box.y1 - y0) * k, (box.x2 - x0) * k, (box.y2 - y0) * k, box.score,
                    tuple(((x - x0) * k, (y - y0) * k) for x, y in box.keypoints))
    return crop, moved


def _model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("face-recognition-models is not installed (pip install 'marginlive[identity]')")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class DlibEmbedder:
    """dlib's face recognition ResNet (128-d, from the installed ``face_recognition_models`` package),
    on the face aligned by its 5-point shape predictor: Euclidean distances, a match at or below the
    ``recognise.DEFAULT_THRESHOLD``."""
    name = "dlib-resnet-128"
    dim = 128

    def __init__(self):
        try:
            import dlib
        except ImportError:
            raise ModelError("dlib is not installed (pip install 'marginlive[identity]')") from None
        d = _model_dir()
        sp, rec = d / "shape_predictor_5_face_landmarks.dat", d / "dlib_face_recognition_resnet_model_v1.dat"
        for f in (sp, rec):
            if not f.is_file():
                raise ModelError(f"{f}: dlib model file missing")
        self._dlib = dlib
        self.shape = dlib.shape_predictor(str(sp))
        self.net = dlib.face_recognition_model_v1(str(rec))
        self.hog = dlib.get_frontal_face_detector()

    def _rect(self, rgb: np.ndarray, box: FaceBox):
        """The box dlib's aligner was trained on: its HOG detector's, searched only in a small
        region around our face box (cheap); else our box mapped to where HOG boxes sit."""
        H, W = rgb.shape[:2]
        w, h = box.w, box.h
        x0, y0 = max(0, int(box.x1 - 0.4 * w)), max(0, int(box.y1 - 0.4 * h))
        x1, y1 = min(W, int(box.x2 + 0.4 * w)), min(H, int(box.y2 + 0.4 * h))
        if x1 - x0 >= 40 and y1 - y0 >= 40:
            region = np.ascontiguousarray(rgb[y0:y1, x0:x1])
            up = 1 if max(w, h) < 100 else 0   # HOG finds faces from ~80 px
            found = sorted(self.hog(region, up), key=lambda r: -r.area())
            for r in found:
                cand = FaceBox(r.left() + x0, r.top() + y0, r.right() + x0, r.bottom() + y0)
                if cand.iou(box) > 0.3:
                    return self._dlib.rectangle(int(cand.x1), int(cand.y1), int(cand.x2), int(cand.y2))
        # Fitted on 113 faces of the shared data: HOG boxes sit ~5% of the face height
        # above BlazeFace's.
        return self._dlib.rectangle(int(box.x1 - 0.013 * w), int(box.y1 - 0.043 * h),
                                    int(box.x2 - 0.018 * w), int(box.y2 - 0.057 * h))

    def embed(self, frame_bgr: np.ndarray, box: FaceBox) -> np.ndarray:
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        shape = self.shape(rgb, self._rect(rgb, box))
        v = np.array(self.net.compute_face_descriptor(rgb, shape, 0), np.float32)
        return v


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance (dlib's metric: same person below about 0.6)."""
    return np.linalg.norm(np.atleast_2d(a) - np.atleast_2d(b), axis=1)
