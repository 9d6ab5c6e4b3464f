"""BlazeFace on ONNX Runtime (detect/blazeface.py): MediaPipe's decisions, its own steps."""
import threading

import numpy as np
import pytest

from marginlive.detect import create_detector
from marginlive.detect.blazeface import MODEL, anchors, letterbox, weighted_nms
from marginlive.errors import ModelError


def test_anchors_follow_mediapipe_layout():
    a = anchors()
    assert a.shape == (896, 2) and (a > 0).all() and (a < 1).all()
    # 16x16 cells with two anchors each, then 8x8 cells with six, row by row
    np.testing.assert_allclose(a[0], [1 / 32, 1 / 32])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [3 / 32, 1 / 32])
    np.testing.assert_allclose(a[512], [1 / 16, 1 / 16])
    np.testing.assert_allclose(a[512:518], np.repeat(a[512:513], 6, axis=0))
    np.testing.assert_allclose(a[-1], [15 / 16, 15 / 16])


def test_letterbox_keeps_the_aspect_between_black_bars():
    frame = np.full((480, 640, 3), 200, np.uint8)
    img, (left, top, w, h) = letterbox(frame)
    assert img.shape == (1, 128, 128, 3) and img.dtype == np.uint8
    assert (left, top, w, h) == (0.0, 0.125, 1.0, 0.75)
    assert (img[0, :15] == 0).all() and (img[0, -15:] == 0).all() and (img[0, 20:108] == 200).all()
    img, (left, top, w, h) = letterbox(np.full((960, 544, 3), 200, np.uint8))   # a phone in portrait
    assert top == 0.0 and h == 1.0 and w == pytest.approx(544 / 960, abs=2e-3) and left == pytest.approx((1 - w) / 2)


def test_weighted_nms_averages_overlapping_boxes_by_score():
    rows = np.zeros((3, 16), np.float32)
    rows[0, :4] = [0.0, 0.0, 1.0, 1.0]
    rows[1, :4] = [0.2, 0.0, 1.2, 1.0]        # overlaps the first (IoU 0.67)
    rows[2, :4] = [3.0, 3.0, 4.0, 4.0]        # apart
    rows[:, 4] = [1.0, 4.0, 9.0]              # a keypoint's x, averaged the same way
    out = weighted_nms(rows, np.array([0.9, 0.6, 0.7], np.float32))
    assert [score for _, score in out] == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(out[0][0][:5], [0.08, 0.0, 1.08, 1.0, 2.2], atol=1e-6)
    np.testing.assert_allclose(out[1][0][:4], rows[2, :4])


def test_same_faces_as_mediapipe_on_video_frames(live_frames):
    """The converted network and the steps around it give MediaPipe's boxes, keypoints and scores."""
    ours, theirs = create_detector("blazeface"), create_detector("mediapipe")
    for f in live_frames:
        a, b = ours.detect(f.image), theirs.detect(f.image)
        assert len(a) == len(b)
        for x, y in zip(a, b):          # float rounding apart (measured: at most 0.0002 px)
            np.testing.assert_allclose([x.x1, x.y1, x.x2, x.y2], [y.x1, y.y1, y.x2, y.y2], atol=0.01)
            np.testing.assert_allclose(x.keypoints, y.keypoints, atol=0.01)
            assert abs(x.score - y.score) < 1e-4


def test_one_detector_serves_many_threads(live_frames):
    det = create_detector("blazeface")
    frames = [f.image for f in live_frames] * 3
    alone = [det.detect(f) for f in frames]
    together = [None] * len(frames)

    def work(k):
        for i in range(k, len(frames), 4):
            together[i] = det.detect(frames[i])
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone


def test_a_broken_model_file_is_a_model_error(tmp_path):
    from marginlive.detect.blazeface import BlazeFaceDetector
    bad = tmp_path / "b.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="not loadable"):
        BlazeFaceDetector(model=bad)


def test_the_recipe_rebuilds_the_shipped_network():
    """``make detector``: the wheel's .tflite converted again answers as the shipped file does."""
    pytest.importorskip("tflite")
    import onnxruntime as ort

    from marginlive.detect.tflite_to_onnx import convert, wheel_model
    rebuilt = ort.InferenceSession(convert(wheel_model()).SerializeToString(), providers=["CPUExecutionProvider"])
    shipped = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    img = np.random.default_rng(0).integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)
    for a, b in zip(rebuilt.run(None, {"image": img}), shipped.run(None, {"image": img})):
        np.testing.assert_array_equal(a, b)
