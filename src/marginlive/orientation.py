"""Frames recorded sideways or upside down: turn them so that the face is upright before it is scored.

A phone held in portrait often stores its video landscape with a rotation flag that not every
recorder writes or every decoder applies; a browser on a turned tablet can do the same. BlazeFace
still finds a face turned by 90 degrees (score about 0.8 against 0.95 upright), but every branch
of the liveness model was trained on upright faces. The face's own keypoints say which way is
up: the mouth lies below the eyes in an upright face, to their side in a sideways one.

A face upside down (a camera mounted the wrong way up, a phone's video stored turned over without its
flag) is not recognised this way: BlazeFace places its keypoints as if it were upright (measured: 9-16
degrees of roll on frames turned by 180). Its score tells instead: over the frames of ../shared an
upright face scores 0.93 (median; 0.74 the least), the same face turned over 0.65 (0.92 the most),
and in one frame of about 1,200 (a print at the frame's edge, 0.64) the turned-over one scored 0.1
more (0.76). So a frame whose face scores below ``PROBE_BELOW`` is also tried turned over, and taken
so where that scores ``UPSIDE_MARGIN`` more and at least ``UPRIGHT_SCORE``.
"""
from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

from .types import FaceBox

# cv2.rotate codes for 1, 2 and 3 quarter turns clockwise.
_ROTATE = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}

SIDEWAYS_DEG = 60.0   # roll beyond which a face is taken as sideways; real head tilts stay well below
PROBE_BELOW = 0.85    # a BlazeFace score under which the frame is also tried turned over
UPSIDE_MARGIN = 0.1   # how much better the turned-over frame's face must score to be taken
UPRIGHT_SCORE = 0.8   # and the least it must score: an upright face's, as BlazeFace scores one


def face_roll(box: FaceBox) -> float | None:
    """In-plane turn of a face in degrees, from BlazeFace keypoints (eyes and mouth).

    0 for an upright face; positive when the mouth lies to the right of the eyes (the frame
    was turned counter-clockwise), negative when to the left. None without keypoints (the
    Caffe SSD detector gives none)."""
    kp = box.keypoints
    if len(kp) < 4:
        return None
    ex, ey = (kp[0][0] + kp[1][0]) / 2, (kp[0][1] + kp[1][1]) / 2
    mx, my = kp[3]
    return math.degrees(math.atan2(mx - ex, my - ey))


def turn(frame: np.ndarray, quarters: int) -> np.ndarray:
    """``frame`` turned clockwise by ``quarters`` x 90 degrees (any integer; 0 returns it as is)."""
    q = quarters % 4
    return frame if q == 0 else cv2.rotate(frame, _ROTATE[q])


def correction(box: FaceBox, sideways_deg: float = SIDEWAYS_DEG) -> int:
    """Quarter turns (clockwise, 0, 1 or 3) that make this face upright; 0 if it already is
    or its keypoints cannot tell."""
    roll = face_roll(box)
    if roll is None or abs(roll) < sideways_deg:
        return 0
    return 1 if roll > 0 else 3


class Upright:
    """Keeps the frames of one stream upright.

    ``find(frame)`` detects faces in the frame turned by the stream's current correction; when
    the most confident face is sideways, or scores below ``PROBE_BELOW`` (it may be upside down), the
    frame is detected again turned by the correction, which is kept where the turned frame shows the
    face (for a turn over: scoring ``UPSIDE_MARGIN`` more, and ``UPRIGHT_SCORE``). One extra
    detection, on the frame where the turn changes and on frames of an unsure face. Returns the
    frame the boxes refer to and the turn applied (quarters clockwise), so a caller draws and crops
    on that frame.
    ``sideways_deg``: the roll taken as sideways (default 60); None keeps frames as they come.
    """

    def __init__(self, detect: Callable[[np.ndarray], list[FaceBox]], sideways_deg: float | None = SIDEWAYS_DEG):
        self.detect = detect
        self.sideways_deg = sideways_deg
        self.quarters = 0

    def find(self, frame: np.ndarray) -> tuple[np.ndarray, list[FaceBox], int]:
        img = turn(frame, self.quarters)
        boxes = self.detect(img)
        if boxes and self.sideways_deg is not None:
            best = max(boxes, key=lambda b: b.score)
            fix = correction(best, self.sideways_deg)
            if fix or (best.keypoints and best.score < PROBE_BELOW):
                q = (self.quarters + (fix or 2)) % 4
                img2 = turn(frame, q)
                boxes2 = self.detect(img2)
                need = 0.0 if fix else max(best.score + UPSIDE_MARGIN, UPRIGHT_SCORE)
                if boxes2 and max(b.score for b in boxes2) >= need:
                    self.quarters, img, boxes = q, img2, boxes2
        return img, boxes, self.quarters
