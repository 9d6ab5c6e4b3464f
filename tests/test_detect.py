import numpy as np
import pytest

from conftest import blank, need_shared
from marginlive.detect import create_detector, nms
from marginlive.errors import ModelError
from marginlive.frames import read_image
from marginlive.types import FaceBox


@pytest.fixture(scope="module", params=["blazeface", "mediapipe"])
def mp(request):
    """BlazeFace short range, both ways it runs: on ONNX Runtime (the default) and in MediaPipe's graph."""
    return create_detector(request.param)


def test_blazeface_finds_the_face_with_keypoints(mp, live_frames):
    found = [mp.detect(f.image) for f in live_frames]
    assert sum(len(b) == 1 for b in found) >= len(found) - 1
    b = next(b for b in found if b)[0]
    assert 0.5 <= b.score <= 1 and len(b.keypoints) == 6
    assert 20 < b.w < 640 and 20 < b.h < 480


def test_blazeface_boxes_are_in_the_frames_pixels_whatever_its_size(mp, live_frames):
    """Frames above 320 px are shrunk for the network; boxes and keypoints come back in the
    frame's own pixels, within 2% of the face's width of detecting at full size."""
    import cv2

    from marginlive.detect.mediapipe import MediaPipeDetector
    frame = live_frames[0].image
    full = MediaPipeDetector(max_side=10_000)
    for img in (frame, cv2.resize(frame, None, fx=2, fy=2)):
        a, b = mp.detect(img)[0], full.detect(img)[0]
        tol = 0.02 * b.w
        assert all(abs(p - q) <= tol for p, q in zip((a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2)))
        assert all(abs(p[0] - q[0]) <= tol and abs(p[1] - q[1]) <= tol for p, q in zip(a.keypoints, b.keypoints))
    small = cv2.resize(frame, (320, 240))
    assert mp.detect(small)[0].iou(full.detect(small)[0]) > 0.9999      # small frames are not resized
    full.close()


def test_blazeface_finds_nothing_in_a_blank_frame(mp):
    assert mp.detect(blank()) == []


def test_two_faces_side_by_side(mp, nuaa_real_images):
    import cv2
    subjects = sorted(nuaa_real_images)
    a = read_image(nuaa_real_images[subjects[0]][0])
    b = read_image(nuaa_real_images[subjects[1]][0])
    both = np.hstack([cv2.resize(a, (320, 240)), cv2.resize(b, (320, 240))])
    boxes = mp.detect(both)
    assert len(boxes) == 2
    assert sorted(x.cx < 320 for x in boxes) == [False, True]


def test_caffe_ssd_from_shared_folder(live_frames):
    det = create_detector("caffe-ssd", need_shared("models", "caffe-ssd-face"))
    boxes = det.detect(live_frames[0].image)
    assert len(boxes) >= 1 and boxes[0].score >= 0.5
    m = create_detector("mediapipe").detect(live_frames[0].image)[0]
    assert boxes[0].iou(m) > 0.4  # both detectors agree on where the face is


def test_caffe_ssd_bad_folder(tmp_path):
    with pytest.raises(ModelError, match="prototxt"):
        create_detector("caffe-ssd", tmp_path)
    with pytest.raises(ModelError, match="needs --detector-model"):
        create_detector("caffe-ssd")


def test_unknown_detector():
    with pytest.raises(ModelError, match="unknown detector"):
        create_detector("haar")


def test_nms_keeps_best_of_overlapping():
    a, b, c = FaceBox(0, 0, 10, 10, 0.9), FaceBox(1, 1, 11, 11, 0.8), FaceBox(50, 50, 60, 60, 0.7)
    assert nms([b, c, a]) == [a, c]


def test_confident_faces_drops_faint_second_box():
    from marginlive.detect import confident_faces
    clear, faint, other = FaceBox(0, 0, 10, 10, 0.96), FaceBox(50, 50, 60, 60, 0.53), FaceBox(80, 0, 90, 10, 0.9)
    assert confident_faces([clear, faint]) == [clear]
    assert confident_faces([clear, faint, other]) == [clear, other]
    assert confident_faces([]) == []


def test_a_face_far_from_the_camera_is_missed_by_the_short_range_model_found_by_the_full_range(mp, live_frames):
    """What a session's far look relies on: the live frames shrunk to a quarter in a grey frame
    (the face about 7% of the width)."""
    import cv2
    full = create_detector("mediapipe-full")
    short_found = full_found = 0
    for f in live_frames:
        small = cv2.resize(f.image, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
        canvas = np.full((480, 640, 3), 128, np.uint8)
        y, x = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
        canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
        short_found += bool(mp.detect(canvas))
        full_found += bool(full.detect(canvas))
    assert short_found <= 2 and full_found >= len(live_frames) - 3
