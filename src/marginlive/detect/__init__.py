"""Face detectors behind one protocol: ``detect(frame_bgr) -> list[FaceBox]``, best first."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..errors import ModelError
from ..types import FaceBox


class FaceDetector(Protocol):
    """What a face detector is to the pipeline: ``detect`` takes one (H, W, 3) uint8 BGR frame and
    returns its faces' boxes in that frame's pixels, with their score and keypoints where it gives
    them; ``name`` is one of ``DETECTORS`` (or the caller's own)."""
    name: str

    def detect(self, frame_bgr: np.ndarray) -> list[FaceBox]: ...


DETECTORS = ("blazeface", "mediapipe", "mediapipe-full", "caffe-ssd")
DEFAULT_DETECTOR = "blazeface"


def create_detector(name: str = DEFAULT_DETECTOR, model: str | Path | None = None,
                    min_score: float = 0.5) -> FaceDetector:
    """Build a detector by name.

    - ``blazeface`` (default): BlazeFace short range (faces within ~2 m) on ONNX Runtime, on the
      caller's thread: MediaPipe's network and post-processing, the same boxes as ``mediapipe``
      (``detect/blazeface.py``); one instance serves any number of threads.
    - ``mediapipe``: the same network inside MediaPipe's own graph (its threads), from the wheel.
    - ``mediapipe-full``: BlazeFace full range, for faces far from the camera.
    - ``caffe-ssd``: an OpenCV Caffe SSD face detector; ``model`` is a folder holding one
      ``.prototxt`` and one ``.caffemodel`` (the paper's res10_300x300 ResNet-SSD, or the
      RetinaFace SSD in ../shared/models/caffe-ssd-face).
    """
    if name == "blazeface":
        from .blazeface import BlazeFaceDetector
        return BlazeFaceDetector(min_score=min_score)
    if name in ("mediapipe", "mediapipe-full"):
        from .mediapipe import MediaPipeDetector
        return MediaPipeDetector(full_range=name == "mediapipe-full", min_score=min_score)
    if name == "caffe-ssd":
        from .caffe_ssd import CaffeSSDDetector
        if model is None:
            raise ModelError("caffe-ssd needs --detector-model: a folder with .prototxt and .caffemodel")
        return CaffeSSDDetector.from_folder(model, min_score=min_score)
    raise ModelError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


def nms(boxes: list[FaceBox], iou: float = 0.4) -> list[FaceBox]:
    """Greedy non-maximum suppression, best score first."""
    kept: list[FaceBox] = []
    for b in sorted(boxes, key=lambda b: -b.score):
        if all(b.iou(k) < iou for k in kept):
            kept.append(b)
    return kept


def shrink(frame_bgr: np.ndarray, max_side: int) -> np.ndarray:
    """``frame_bgr`` with its longer side at most ``max_side`` px (area interpolation, sides
    rounded); as it is where it fits. What BlazeFace is handed, both ways it runs."""
    h, w = frame_bgr.shape[:2]
    z = min(1.0, max_side / max(h, w))
    if z == 1.0:
        return frame_bgr
    return cv2.resize(frame_bgr, (max(1, round(w * z)), max(1, round(h * z))), interpolation=cv2.INTER_AREA)


def in_frame(boxes: list[FaceBox], w: float, h: float) -> list[FaceBox]:
    """BlazeFace's faces of a ``w`` x ``h`` frame, best first: boxes wholly outside it (BlazeFace
    can extrapolate) or of 4 px² or less dropped, overlapping ones suppressed (``nms``)."""
    return nms([b for b in boxes if b.x2 > 0 and b.y2 > 0 and b.x1 < w and b.y1 < h and b.area > 4])


def confident_faces(items: list, rel: float = 0.75) -> list:
    """The faces that count where a rule needs "exactly one face": those scoring at least
    ``rel`` x the best detection. BlazeFace sometimes adds a faint second box (score ~0.5)
    beside a clear face (~0.95); a real second person scores close to the first.
    Works on FaceBox or anything with a ``.box`` (FaceResult)."""
    def score(x):
        return (x.box if hasattr(x, "box") else x).score
    if not items:
        return []
    best = max(score(x) for x in items)
    return [x for x in items if score(x) >= rel * best]
