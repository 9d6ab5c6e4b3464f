"""Face quality for recognition (identity/quality.py): each limit refuses what it names."""
import cv2
import numpy as np

from marginlive.identity.quality import QualityOptions, best, face_quality, yaw_of
from marginlive.types import FaceBox


def _face_frame(seed=0):
    rng = np.random.default_rng(seed)
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[140:380, 220:420] = np.clip(rng.normal(130, 35, (240, 200, 3)), 0, 255).astype(np.uint8)
    return frame


BOX = FaceBox(220, 140, 420, 380, 0.9, ((280, 220), (360, 220), (320, 270)))


def test_a_good_face_is_usable_and_each_flaw_is_named():
    f = _face_frame()
    q = face_quality(f, BOX)
    assert q.usable and 0 < q.score <= 1 and abs(q.yaw) < 1e-6
    assert "blurred" in face_quality(cv2.GaussianBlur(f, (0, 0), 6), BOX).problems[0]
    assert any("too dark" in p for p in face_quality((f * 0.15).astype(np.uint8), BOX).problems)
    small = FaceBox(220, 140, 260, 180, 0.9)
    assert any("too small" in p for p in face_quality(f, small).problems)
    turned = FaceBox(220, 140, 420, 380, 0.9, ((280, 220), (360, 220), (360, 270)))
    assert yaw_of(turned) == 0.5 and any("turned away" in p for p in face_quality(f, turned).problems)
    assert face_quality(f, FaceBox(700, 500, 800, 600)).problems == ["face outside the frame: move to the middle"]



def test_problem_kinds_drop_the_measurements_and_keep_the_advice():
    f = _face_frame()
    two = [face_quality(cv2.GaussianBlur(f, (0, 0), s), BOX) for s in (5, 7)]
    assert two[0].problems != two[1].problems          # each names its own sharpness
    assert two[0].kinds == two[1].kinds == ["face blurred: hold still"]
    turned = FaceBox(220, 140, 420, 380, 0.9, ((280, 220), (360, 220), (360, 270)))
    assert face_quality(f, turned).kinds == ["face turned away: look at the camera"]
    assert face_quality((f * 0.15).astype(np.uint8), BOX).kinds[-1] == "face too dark: light your face from the front"
    burnt = np.clip(f.astype(int) * 3 + 60, 0, 255).astype(np.uint8)
    assert face_quality(burnt, BOX).kinds[-1] == "face overexposed: move out of the direct light"
    assert face_quality(f, BOX).kinds == []


def test_best_ranks_the_usable_faces_only():
    f = _face_frame()
    frames = [cv2.GaussianBlur(f, (0, 0), 6), (f * 0.6).astype(np.uint8), f]
    qs = [face_quality(x, BOX) for x in frames]
    assert best(["blurred", "dim", "good"], qs, 2) == ["good", "dim"]
    strict = QualityOptions(min_face_px=1000)
    assert best(["a"], [face_quality(f, BOX, strict)], 1) == []
