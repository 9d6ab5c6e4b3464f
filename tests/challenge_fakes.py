"""Scripted stand-ins for the stages a session drives: landmarks and face results."""
import numpy as np

from marginlive.challenge.actions import (CHEEK_IMG_LEFT, CHEEK_IMG_RIGHT, L_EYE, LIP_BOTTOM, LIP_TOP, MOUTH_L,
                                          MOUTH_R, NOSE, R_EYE, SMILE_L, SMILE_R)
from marginlive.challenge.landmarks import Observation
from marginlive.types import FaceBox, FaceResult


def pose(right_up=False, left_up=False, visible=True):
    p = np.zeros((33, 4), np.float32)
    p[:, 3] = 0.9
    p[11, :2] = (0.60, 0.60)   # subject's left shoulder: image right (unmirrored camera)
    p[12, :2] = (0.40, 0.60)   # subject's right shoulder: image left
    p[15, :2] = (0.62, 0.30 if left_up else 0.90)
    p[16, :2] = (0.38, 0.30 if right_up else 0.90)
    if not visible:
        p[:, 3] = 0.1
    return p


def face(eyes=0.3, yaw=0.5, mouth=0.05, smile=0.40):
    """468 points; only the indices the actions read are placed meaningfully."""
    f = np.zeros((468, 3), np.float32)
    f[:, :2] = 0.5
    f[CHEEK_IMG_LEFT, :2] = (0.40, 0.5)
    f[CHEEK_IMG_RIGHT, :2] = (0.60, 0.5)
    f[NOSE, :2] = (0.40 + 0.2 * yaw, 0.5)
    for idx, cx in ((R_EYE, 0.45), (L_EYE, 0.55)):  # eye width 0.04, height eyes * width
        p1, p2, p3, p4, p5, p6 = idx
        h = eyes * 0.04 / 2
        f[p1, :2], f[p4, :2] = (cx - 0.02, 0.45), (cx + 0.02, 0.45)
        f[p2, :2], f[p3, :2] = (cx - 0.007, 0.45 - h), (cx + 0.007, 0.45 - h)
        f[p6, :2], f[p5, :2] = (cx - 0.007, 0.45 + h), (cx + 0.007, 0.45 + h)
    f[MOUTH_L, :2], f[MOUTH_R, :2] = (0.47, 0.58), (0.53, 0.58)
    f[LIP_TOP, :2], f[LIP_BOTTOM, :2] = (0.5, 0.58 - mouth * 0.03), (0.5, 0.58 + mouth * 0.03)
    f[SMILE_L, :2], f[SMILE_R, :2] = (0.5 - smile * 0.1, 0.58), (0.5 + smile * 0.1, 0.58)   # smile_ratio = smile
    return f


def obs(t=0.0, **kw):
    return Observation(t, kw.get("pose"), kw.get("face"), 640, 480)


class ScriptedLandmarker:
    """Returns the next scripted (pose, face) pair on each call."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0

    def observe(self, frame, t, need, box=None):
        p, f = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return Observation(t, p if "pose" in need else None, f if "face" in need else None, 640, 480)


def raising_right_hand() -> ScriptedLandmarker:
    """A user who raises the right hand when asked, after a few frames of neither hand up (a session
    whose only action is raising the right hand then passes its challenge)."""
    return ScriptedLandmarker([(pose(), face())] * 3 + [(pose(right_up=True), face())])


class ScriptedStream:
    def __init__(self, script):
        self.script = list(script)
        self.i = 0
        self.frame = None

    def update(self, frame, boxes=None):
        self.frame = frame   # scripted frames are upright
        r = self.script[min(self.i, len(self.script) - 1)]
        self.i += 1
        return [r] if isinstance(r, FaceResult) else list(r)


class ScriptedLiveness:
    """A LivenessDetector stand-in whose stream yields scripted per-frame face results."""
    threshold = 0.5

    def __init__(self, script):
        self.script = script

    def stream(self, window, min_frames, reject_frames=None, max_missed=10):
        return ScriptedStream(self.script)


def result(label="real", track=1, decided=True, score=None, box=(220, 140, 420, 380)):
    s = score if score is not None else (0.95 if label == "real" else 0.05)
    return FaceResult(FaceBox(*box, 0.9), s, label, s, track, decided)


def sharp_frame(value=130):
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(value, 40, (480, 640, 3)), 0, 255).astype(np.uint8)
