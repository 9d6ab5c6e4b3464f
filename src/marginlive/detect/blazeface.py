"""BlazeFace (short range) on ONNX Runtime: MediaPipe's network and its post-processing, on the
caller's thread.

The network's weights are MediaPipe's, converted unchanged (``tflite_to_onnx``; the file ships as
``weights/blazeface-short-range.onnx``, Apache-2.0, Google LLC). Around it, the steps of MediaPipe's
face-detection graph: the frame letterboxed into 128x128 (aspect kept, black bars), 896 fixed-size
SSD anchors, boxes and six keypoints decoded from the regressors, sigmoid scores, weighted
non-maximum suppression (overlapping boxes averaged by score), and the letterbox taken off.
``tests/test_blazeface.py`` checks it against the MediaPipe graph on video frames.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..types import FaceBox
from . import in_frame, shrink

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

MODEL = Path(__file__).resolve().parents[1] / "weights" / "blazeface-short-range.onnx"
SIZE = 128                      # the network's input, px
STRIDES = (8, 16, 16, 16)       # MediaPipe's SSD anchor layers for this model
SUPPRESS_IOU = 0.3              # MediaPipe's weighted-NMS overlap
MAX_SIDE = 320                  # frames shrunk to this longer side first, as the mediapipe detector does


def anchors() -> np.ndarray:
    """Anchor centres (896, 2) as (x, y) in [0, 1]: two per cell of the 16x16 grid, six per cell
    of the 8x8 grid (three layers of stride 16 share it), row by row, MediaPipe's order."""
    out = []
    i = 0
    while i < len(STRIDES):
        stride, n = STRIDES[i], 0
        while i < len(STRIDES) and STRIDES[i] == stride:
            n, i = n + 2, i + 1       # two aspect ratios a layer (1.0 and the interpolated scale)
        cells = SIZE // stride
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(grid, n, axis=0))
    return np.concatenate(out).astype(np.float32)


def letterbox(frame_bgr: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The frame as the network's (1, 128, 128, 3) uint8 BGR input, and the image's place in it as
    fractions (left, top, width, height) of the input.

    As the ``mediapipe`` detector hands it over and MediaPipe's graph then cuts it: a frame whose
    longer side exceeds ``max_side`` px is first shrunk to it (area interpolation), then scaled to fit
    128 px (bilinear), centred, the rest black. Followed step for step, the boxes are MediaPipe's within
    0.0002 px on video frames (tests/test_blazeface.py); a single area resize moves them by about 2%."""
    frame_bgr = shrink(frame_bgr, max_side)
    h, w = frame_bgr.shape[:2]
    s = SIZE / max(h, w)
    left, top = (SIZE - w * s) / 2, (SIZE - h * s) / 2
    fit = np.array([[s, 0, left], [0, s, top]], np.float32)
    img = cv2.warpAffine(frame_bgr, fit, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return img[None], (left / SIZE, top / SIZE, w * s / SIZE, h * s / SIZE)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float = SUPPRESS_IOU) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted suppression. ``boxes``: (N, 16) rows of x1, y1, x2, y2 then six (x, y)
    keypoints; best first, each kept box is the score-weighted mean of every box overlapping it by
    more than ``iou`` (itself included), with the best one's score."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    out = []
    while len(boxes):
        b = boxes[0]
        ix = np.clip(np.minimum(b[2], boxes[:, 2]) - np.maximum(b[0], boxes[:, 0]), 0, None)
        iy = np.clip(np.minimum(b[3], boxes[:, 3]) - np.maximum(b[1], boxes[:, 1]), 0, None)
        inter = ix * iy
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        union = (b[2] - b[0]) * (b[3] - b[1]) + area - inter
        near = inter / np.maximum(union, 1e-12) > iou
        near[0] = True
        wts = scores[near]
        out.append(((boxes[near] * wts[:, None]).sum(0) / wts.sum(), float(scores[0])))
        boxes, scores = boxes[~near], scores[~near]
    return out


class BlazeFaceDetector:
    """BlazeFace short range on ONNX Runtime, one thread, on the caller's: the ``mediapipe``
    detector's network and decisions (on video frames the same boxes and keypoints within 0.0002 px;
    frames under 320 px MediaPipe resamples slightly differently: an IoU of 0.98 or more), without
    MediaPipe's graph and its threads. ``detect`` may be called from several threads at once.

    ``min_score``: the lowest face score kept (default 0.5, MediaPipe's)."""

    name = "blazeface"

    def __init__(self, min_score: float = 0.5, model: str | os.PathLike = MODEL):
        import onnxruntime as ort
        from ..liveness.runtime import session_options
        try:
            self._session = ort.InferenceSession(str(model), sess_options=session_options(1),
                                                 providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own Fail/NoSuchFile types
            raise ModelError(f"{model}: BlazeFace model not loadable ({type(e).__name__})") from None
        self.min_score = float(min_score)
        self._anchors = np.tile(anchors(), 7)         # (896, 14): the centre under every point

    def raw(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
        """The anchors scoring at least ``min_score``: their (K, 16) boxes (x1, y1, x2, y2, then six
        (x, y) keypoints) in the letterboxed input's [0, 1] coordinates, their (K,) scores, and the
        letterbox (see ``letterbox``)."""
        img, place = letterbox(frame_bgr)
        reg, cls = self._session.run(None, {"image": img})
        scores = 1 / (1 + np.exp(-np.clip(cls[0, :, 0], -80, 80)))   # MediaPipe clips at 100; exp overflows there
        keep = scores >= self.min_score
        reg, anchor = reg[0, keep] / SIZE, self._anchors[keep]
        cx, cy = reg[:, 0] + anchor[:, 0], reg[:, 1] + anchor[:, 1]
        half_w, half_h = reg[:, 2] / 2, reg[:, 3] / 2
        corners = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1)
        return np.concatenate([corners, reg[:, 4:] + anchor[:, 2:]], 1), scores[keep], place

    def detect(self, frame_bgr: np.ndarray) -> list[FaceBox]:
        h, w = frame_bgr.shape[:2]
        boxes, scores, (left, top, bw, bh) = self.raw(frame_bgr)
        out = []
        for row, score in weighted_nms(boxes, scores):
            xs = (row[0::2] - left) / bw * w                              # letterbox off, to pixels
            ys = (row[1::2] - top) / bh * h
            out.append(FaceBox(float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1]), score,
                               tuple((float(x), float(y)) for x, y in zip(xs[2:], ys[2:]))))
        return in_frame(out, w, h)

    def close(self):
        self._session = None
