"""MediaPipe 0.10.21 landmarks (weights from its wheel), run only while a challenge needs them.

Coordinates are normalised to the frame (x right, y down, in [0, 1]); pose points carry a
visibility in [0, 1]. Indices follow MediaPipe: pose 11/12 shoulders, 15/16 wrists (the
*subject's* left/right); face mesh 468 points.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from .._util import quiet_native_stderr


@dataclass
class Observation:
    """What one frame shows of the subject: ``t`` (s), MediaPipe's pose (33 points) and face mesh
    (468 points) in coordinates normalised to the frame (None: not looked for, or not found) and the
    frame's size in pixels. The actions (``actions.py``) read only these."""
    t: float
    pose: np.ndarray | None = None   # (33, 4): x, y, z, visibility
    face: np.ndarray | None = None   # (468, 3): x, y, z
    width: int = 640
    height: int = 480


# MediaPipe's C++ warns once a process, at the first landmarks it projects, that it projects a
# NORM_RECT without IMAGE_DIMENSIONS; no option of its Python API turns that off, and it would be
# the only line `marginlive authenticate` writes to stderr that says nothing to the user.
_projected = threading.Event()


def _process(graph, rgb: np.ndarray):
    """``graph.process(rgb)``, quiet on stderr until the process's first landmarks are found."""
    if _projected.is_set():
        return graph.process(rgb)
    with quiet_native_stderr():
        r = graph.process(rgb)
    if getattr(r, "pose_landmarks", None) or getattr(r, "multi_face_landmarks", None):
        _projected.set()
    return r


class Landmarker:
    """Pose and face mesh, each built on first use. ``static``: detect afresh in every frame
    instead of tracking from the last one (for graphs shared by several streams; default False)."""

    def __init__(self, static: bool = False):
        self.static = static
        self._pose = None
        self._mesh = None

    def pose(self, rgb: np.ndarray) -> np.ndarray | None:
        if self._pose is None:
            from mediapipe.python.solutions import pose
            with quiet_native_stderr():
                # model_complexity=1 is the only pose model shipped in the 0.10.21 wheel
                self._pose = pose.Pose(static_image_mode=self.static, model_complexity=1,
                                       min_detection_confidence=0.5, min_tracking_confidence=0.5)
                self._pose.process(np.zeros((64, 64, 3), np.uint8))
        r = _process(self._pose, rgb)
        if not r.pose_landmarks:
            return None
        return np.array([[p.x, p.y, p.z, p.visibility] for p in r.pose_landmarks.landmark], np.float32)

    def faces(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Face meshes of up to two faces, each (468, 3)."""
        if self._mesh is None:
            from mediapipe.python.solutions import face_mesh
            with quiet_native_stderr():
                self._mesh = face_mesh.FaceMesh(static_image_mode=self.static, max_num_faces=2, refine_landmarks=False,
                                                min_detection_confidence=0.5, min_tracking_confidence=0.5)
                self._mesh.process(np.zeros((64, 64, 3), np.uint8))
        r = _process(self._mesh, rgb)
        return [np.array([[p.x, p.y, p.z] for p in m.landmark], np.float32)
                for m in r.multi_face_landmarks or []]

    def observe(self, frame_bgr: np.ndarray, t: float, need: set[str], box=None) -> Observation:
        """The landmarks ``need`` asks for ("pose", "face"). ``box``: the session's face (a
        FaceBox in this frame's pixels); then only landmarks of that person count: the face mesh
        centred in the box, the pose whose nose lies near it (a bystander's raised hand or blink
        is not the user's)."""
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        h, w = frame_bgr.shape[:2]
        pose = self.pose(rgb) if "pose" in need else None
        meshes = self.faces(rgb) if "face" in need else []
        if box is not None:
            pose = pose if pose is not None and _near(pose[0, :2], box, w, h, grow=1.0) else None
            meshes = [m for m in meshes if _near(m[:, :2].mean(0), box, w, h, grow=0.0)]
        return Observation(t, pose, meshes[0] if meshes else None, w, h)

    def close(self):
        for m in (self._pose, self._mesh):
            if m is not None:
                m.close()


def _near(point, box, w: int, h: int, grow: float) -> bool:
    """Whether a normalised (x, y) point lies in ``box`` widened by ``grow`` x its size on each side."""
    x, y = point[0] * w, point[1] * h
    gx, gy = grow * box.w, grow * box.h
    return box.x1 - gx <= x <= box.x2 + gx and box.y1 - gy <= y <= box.y2 + gy
