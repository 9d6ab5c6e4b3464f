"""MediaPipe BlazeFace (0.10.21, legacy solutions API); the .tflite weights ship in the wheel."""
from __future__ import annotations

import cv2
import numpy as np

from .._util import quiet_native_stderr
from ..types import FaceBox
from . import in_frame, shrink


class MediaPipeDetector:
    """BlazeFace. Frames whose longer side exceeds ``max_side`` px (default: 2.5x the network's
    input, 320 px for the short-range model, 480 for the full-range one) are shrunk to it (area
    interpolation) before detection, boxes and keypoints scaled back: the network sees a 128 or
    192 px image either way, and handing MediaPipe a 640x480 frame to convert and resize is slower
    (docs/speed.md times both; boxes move by about 1% of the face's width)."""

    def __init__(self, full_range: bool = False, min_score: float = 0.5, max_side: int | None = None):
        from mediapipe.python.solutions import face_detection   # the challenge extra (the CLI says so)
        self.name = "mediapipe-full" if full_range else "mediapipe"
        self.max_side = int(max_side or (480 if full_range else 320))
        with quiet_native_stderr():  # TFLite prints delegate chatter on first use
            self._fd = face_detection.FaceDetection(model_selection=1 if full_range else 0,
                                                    min_detection_confidence=min_score)
            self._fd.process(np.zeros((64, 64, 3), np.uint8))

    def detect(self, frame_bgr: np.ndarray) -> list[FaceBox]:
        h, w = frame_bgr.shape[:2]
        # relative coordinates: the same in the shrunk frame and in the original
        res = self._fd.process(cv2.cvtColor(shrink(frame_bgr, self.max_side), cv2.COLOR_BGR2RGB))
        boxes = []
        for d in res.detections or []:
            rb = d.location_data.relative_bounding_box
            x1, y1 = rb.xmin * w, rb.ymin * h
            kps = tuple((k.x * w, k.y * h) for k in d.location_data.relative_keypoints)
            boxes.append(FaceBox(x1, y1, x1 + rb.width * w, y1 + rb.height * h,
                                 float(d.score[0]), kps))
        return in_frame(boxes, w, h)

    def close(self):
        self._fd.close()
