import re

import numpy as np
import pytest

from conftest import blank
from marginlive.pipeline import LivenessDetector


@pytest.fixture(scope="module")
def det(tiny_model):
    return LivenessDetector(model=tiny_model)


def test_predict_one_result_per_face(det, live_frames):
    res = det.predict(live_frames[0].image)
    assert len(res) == 1
    r = res[0]
    assert r.label in ("real", "fake") and 0 <= r.score <= 1 and r.decided
    assert r.label == ("real" if r.score >= det.threshold else "fake")


def test_no_face_gives_no_result(det):
    assert det.predict(blank()) == []


def test_video_stream_decides_after_consistent_frames(det, replay_frames):
    out = list(det.process(replay_frames, window=6, min_frames=3))
    labels = [res[0].label for _, res in out if res]
    assert labels[0] == "pending" and labels[-1] in ("real", "fake")
    assert len({res[0].track_id for _, res in out if res}) == 1


def test_a_face_keeps_its_track_when_the_camera_changes_mode(det, live_frames):
    """A camera switching resolution, or a phone turned upright mid-stream (its picture cropped to
    portrait), moves every box: the face stays the same face, as a session needs it to."""
    import cv2
    f = live_frames[0].image
    modes = [f, cv2.resize(f, (f.shape[1] * 2, f.shape[0] * 2)), f[:, 140:500].copy(), f]
    s = det.stream(window=6, min_frames=3)
    ids = [s.update(m)[0].track_id for m in modes]
    assert len(set(ids)) == 1


def test_a_face_keeps_its_track_when_the_picture_jumps(det, live_frames):
    """A phone shifted in the hand, or a frame lost on a slow link, moves the face by most of its
    width from one frame to the next: its boxes barely overlap, and it is still the same face."""
    import cv2
    f = live_frames[0].image
    s = det.stream(window=6, min_frames=3)
    first = s.update(f)[0]
    jump = np.float32([[1, 0, 0.8 * first.box.w], [0, 1, 0]])
    moved = s.update(cv2.warpAffine(f, jump, (f.shape[1], f.shape[0]), borderMode=cv2.BORDER_REPLICATE))[0]
    assert moved.box.iou(first.box) < 0.3 and moved.track_id == first.track_id


def test_margin_and_threshold_override_and_validation(tiny_model):
    from marginlive.errors import InputError
    d = LivenessDetector(model=tiny_model, margin=1.0, threshold=0.4)
    assert d.margin == 1.0 and d.threshold == 0.4
    for bad in ({"margin": 0}, {"threshold": 45}, {"threshold": 0.0}, {"threshold": 1.0}):
        with pytest.raises(InputError):
            LivenessDetector(model=tiny_model, **bad)
    # a fused model's branches read their own crops: another margin is refused when the detector is
    # made, not at its first frame; its own margin is taken
    from marginlive.errors import ModelError
    with pytest.raises(ModelError, match="crops the face at 4x; a fused model's margin cannot be changed"):
        LivenessDetector(model="fast", margin=2.0)
    assert LivenessDetector(model="fast", margin=4.0).margin == 4.0


def _mirror(box, width):
    from marginlive.types import FaceBox
    return FaceBox(width - box.x2, box.y1, width - box.x1, box.y2, box.score)


def test_mirrored_frames_are_scored_as_the_camera_saw_them(tiny_model):
    import numpy as np
    from marginlive.types import FaceBox
    seen = []
    plain, flipped = LivenessDetector(model=tiny_model), LivenessDetector(model=tiny_model, mirrored=True)
    for d in (plain, flipped):
        d.model.predict = lambda crops: seen.append(crops.copy()) or np.full(len(crops), 0.5)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    frame[:, :200] //= 3                                    # a dark left side: not mirror-symmetric
    box = FaceBox(150.0, 120.0, 330.0, 330.0, 0.9)
    plain.score(frame, [box])
    plain.score(frame[:, ::-1], [_mirror(box, 640)])
    flipped.score(frame[:, ::-1], [_mirror(box, 640)])
    asis, mirrored, restored = (s[0].astype(int) for s in seen)
    assert np.abs(mirrored - asis).mean() > 20             # a mirrored frame gives another crop ...
    assert np.abs(restored - asis).mean() < 1              # ... which the mirrored detector flips back


def test_shipped_model_scores_mirrored_live_frames_alike_when_told(live_frames):
    import numpy as np
    plain, flipped = LivenessDetector(), LivenessDetector(mirrored=True)
    for f in live_frames[:4]:
        box = max(plain.detector.detect(f.image), key=lambda b: b.score)
        w = f.image.shape[1]
        a = plain.score(f.image, [box])[0]
        b = flipped.score(np.ascontiguousarray(f.image[:, ::-1]), [_mirror(box, w)])[0]
        assert abs(a - b) < 0.03, (a, b)


def test_each_shipped_model_runs_the_pipeline_on_several_faces_at_once(live_frames):
    """The fast model (two inputs) and the default (two inputs of other kinds) score every face of a
    frame in one batch, each face as it is scored alone."""
    import numpy as np
    frame = live_frames[0].image
    two = np.concatenate([frame, frame[:, ::-1]], axis=1)          # the same person twice, side by side
    for name in ("fast", "default"):
        det = LivenessDetector(model=name)
        both = det.predict(two)
        assert len(both) == 2
        alone = [det.model.predict(det.model.crops(two, [r.box]))[0] for r in both]
        assert [r.score for r in both] == pytest.approx(alone, abs=1e-5)


def test_frames_of_other_layouts_are_taken_or_refused_in_one_line(det, live_frames):
    """A library user's frame: grayscale and BGRA are taken (as the BGR frame they show); any other
    array, or no array, is an InputError that says what a frame is, not an ONNX Runtime error."""
    import cv2
    import numpy as np

    from marginlive.errors import InputError
    bgr = live_frames[0].image
    want = det.predict(bgr)[0].score
    assert det.predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))[0].score == pytest.approx(want, abs=1e-6)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert len(det.predict(grey)) == 1 and len(det.stream().update(grey[..., None])) == 1
    for bad, says in [(bgr.astype(np.float32) / 255, "float32: (x * 255)"), (bgr.astype(np.uint16), "uint16"),
                      (np.zeros((0, 0, 3), np.uint8), "empty"), (np.zeros((8, 8, 5), np.uint8), "(8, 8, 5)"),
                      (bgr.tolist(), "not list"), (None, "not NoneType")]:
        with pytest.raises(InputError, match=re.escape(says)):
            det.predict(bad)
