"""OpenCV Caffe SSD face detectors: the paper's res10_300x300 ResNet-SSD and its kin."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..types import FaceBox
from . import nms


class CaffeSSDDetector:
    """Runs an SSD whose output layer is ``detection_out`` ([1, 1, N, 7] normalised boxes).

    ``input_size`` None keeps the frame's aspect ratio at about 192x192 pixels of area (the
    RetinaFace SSD's convention); res10 models are run at a fixed 300x300 with their own mean.
    """

    def __init__(self, prototxt: str | Path, caffemodel: str | Path, min_score: float = 0.5,
                 input_size: tuple[int, int] | None = None,
                 mean: tuple[float, float, float] = (104.0, 117.0, 123.0)):
        self.name = "caffe-ssd"
        for p in (prototxt, caffemodel):
            if not Path(p).is_file():
                raise ModelError(f"{p}: no such detector file")
        try:
            self.net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
        except cv2.error:
            raise ModelError(f"{caffemodel}: not a loadable Caffe model for {prototxt}") from None
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.min_score = min_score
        self.input_size = input_size
        self.mean = mean

    @classmethod
    def from_folder(cls, folder: str | Path, min_score: float = 0.5) -> "CaffeSSDDetector":
        folder = Path(folder)
        protos = sorted(folder.glob("*.prototxt"))
        models = sorted(folder.glob("*.caffemodel"))
        if not folder.is_dir() or len(protos) != 1 or len(models) != 1:
            raise ModelError(f"{folder}: expected a folder with exactly one .prototxt and one .caffemodel")
        if "res10" in models[0].name:
            return cls(protos[0], models[0], min_score, input_size=(300, 300), mean=(104.0, 177.0, 123.0))
        return cls(protos[0], models[0], min_score)

    def detect(self, frame_bgr: np.ndarray) -> list[FaceBox]:
        h, w = frame_bgr.shape[:2]
        if self.input_size is not None:
            img = cv2.resize(frame_bgr, self.input_size)
        elif w * h > 192 * 192:
            ar = w / h
            img = cv2.resize(frame_bgr, (int(192 * math.sqrt(ar)), int(192 / math.sqrt(ar))))
        else:
            img = frame_bgr
        self.net.setInput(cv2.dnn.blobFromImage(img, 1.0, mean=self.mean), "data")
        out = self.net.forward("detection_out").reshape(-1, 7)
        boxes = []
        for _, _, conf, x1, y1, x2, y2 in out:
            if conf < self.min_score:
                continue
            b = FaceBox(float(np.clip(x1, 0, 1) * w), float(np.clip(y1, 0, 1) * h),
                        float(np.clip(x2, 0, 1) * w), float(np.clip(y2, 0, 1) * h), float(conf))
            if b.w > 2 and b.h > 2:
                boxes.append(b)
        return nms(boxes)
