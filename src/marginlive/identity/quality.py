"""How fit a face is for recognition: size, sharpness, exposure and pose, from the frame and the
detector's box alone (about 1 ms, so every frame of a session can be ranked and only the best few
embedded: the embedder takes about 190 ms a face).

Pose comes from BlazeFace's keypoints: ``yaw`` is the nose tip's offset from the midpoint of the
eyes, in eye distances (0: frontal; about 0.35 at 25 degrees). Boxes without keypoints (another
detector) count as frontal.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..frames import SHARPNESS_SIZE, sharpness
from ..types import FaceBox


TURNED_AWAY = "face turned away"   # a pose, not the camera: the challenge itself asks for head turns
# what a face's problem tells the user to do; a session's frame rules say the same (challenge/session.py)
DARK_ADVICE = "light your face from the front"
OVEREXPOSED_ADVICE = "move out of the direct light"   # the light on the face, or a camera exposing for a dark room
OUTSIDE = "face outside the frame: move to the middle"


@dataclass(frozen=True)
class QualityOptions:
    """Below these a face is refused for enrolment and not used for a decision.

    min_face_px: face box width in pixels (60). min_sharpness: ``frames.sharpness``, the variance
    of the Laplacian of the face resized to 112 px (25). exposure: allowed mean grey level of the
    face (45, 215). max_yaw: nose offset from the eyes' midpoint, in eye distances (0.35)."""
    min_face_px: int = 60
    min_sharpness: float = 25.0
    exposure: tuple[float, float] = (45.0, 215.0)
    max_yaw: float = 0.35


@dataclass
class Quality:
    """``score`` in [0, 1] (higher: better for recognition); ``problems``: why the face falls below
    the options' limits (empty: usable)."""
    score: float
    face_px: float
    sharpness: float
    brightness: float
    yaw: float
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems

    @property
    def kinds(self) -> list[str]:
        """``problems`` without their measurements ("face blurred: hold still"): alike on every face that
        has them, so that a session can say which one most of its faces had."""
        return [re.sub(r" \([^)]*\)", "", p) for p in self.problems]


def yaw_of(box: FaceBox) -> float:
    if len(box.keypoints) < 3:
        return 0.0
    (rx, _), (lx, _), (nx, _) = box.keypoints[:3]
    eyes = abs(lx - rx)
    return 0.0 if eyes < 1e-6 else float((nx - (rx + lx) / 2) / eyes)


def face_quality(frame: np.ndarray, box: FaceBox, opts: QualityOptions = QualityOptions()) -> Quality:
    """The quality of the face ``box`` of a BGR ``frame``."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in (max(0, box.x1), max(0, box.y1), min(w, box.x2), min(h, box.y2)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return Quality(0.0, 0.0, 0.0, 0.0, 0.0, [OUTSIDE])
    # one grey copy at the size sharpness is measured at serves the brightness too
    grey = cv2.cvtColor(cv2.resize(frame[y1:y2, x1:x2], (SHARPNESS_SIZE, SHARPNESS_SIZE),
                                   interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    sharp, bright, yaw, px = sharpness(grey), float(grey.mean()), yaw_of(box), box.w
    problems = []
    if px < opts.min_face_px:
        problems.append(f"face too small ({px:.0f} px wide, {opts.min_face_px} needed): come closer")
    if sharp < opts.min_sharpness:
        problems.append(f"face blurred (sharpness {sharp:.0f}, {opts.min_sharpness:g} needed): hold still")
    lo, hi = opts.exposure
    if not lo <= bright <= hi:
        problems.append(f"face too dark (mean level {bright:.0f}): {DARK_ADVICE}" if bright < lo
                        else f"face overexposed (mean level {bright:.0f}): {OVEREXPOSED_ADVICE}")
    if abs(yaw) > opts.max_yaw:
        problems.append(f"{TURNED_AWAY} ({yaw:+.2f} eye distances): look at the camera")
    score = (min(1.0, px / (2.5 * opts.min_face_px)) * min(1.0, sharp / (4 * opts.min_sharpness))
             * max(0.0, 1 - abs(bright - 128) / 128) * max(0.0, 1 - abs(yaw) / (2 * opts.max_yaw)))
    return Quality(float(score), float(px), sharp, bright, yaw, problems)


def best(items: list, qualities: list[Quality], k: int) -> list:
    """The ``k`` items of highest quality among the usable ones, best first."""
    order = sorted((i for i, q in enumerate(qualities) if q.usable), key=lambda i: -qualities[i].score)
    return [items[i] for i in order[:k]]
