"""Frames delivered sideways are turned upright before scoring (marginlive.orientation)."""
import numpy as np
import pytest

from marginlive.orientation import Upright, correction, face_roll, turn
from marginlive.types import FaceBox


def box_with(eyes_mid, mouth):
    """A FaceBox whose BlazeFace-order keypoints put the eyes around ``eyes_mid`` and the mouth at ``mouth``."""
    (ex, ey), (mx, my) = eyes_mid, mouth
    return FaceBox(0, 0, 100, 100, 0.9, ((ex - 10, ey), (ex + 10, ey), (ex, ey + 10), (mx, my), (0, 0), (0, 0)))


@pytest.mark.parametrize("mouth, roll, fix", [((50, 80), 0, 0), ((80, 50), 90, 1), ((20, 50), -90, 3),
                                              ((62, 75), 26, 0)])
def test_roll_and_correction_from_keypoints(mouth, roll, fix):
    b = box_with((50, 50), mouth)
    assert face_roll(b) == pytest.approx(roll, abs=1)
    assert correction(b) == fix


def test_no_keypoints_no_turn():
    b = FaceBox(0, 0, 10, 10, 0.9)
    assert face_roll(b) is None and correction(b) == 0


def test_turn_is_clockwise_and_composes():
    img = np.arange(6, dtype=np.uint8).reshape(2, 3, 1).repeat(3, axis=2)
    cw = turn(img, 1)
    assert cw.shape == (3, 2, 3) and cw[0, 1, 0] == img[0, 0, 0]   # top-left goes top-right
    assert np.array_equal(turn(turn(img, 1), 3), img) and turn(img, 4) is img


@pytest.mark.parametrize("quarters", [1, 3])
def test_sideways_live_frame_is_turned_back_and_scored_as_upright(quarters, live_frames):
    from marginlive.pipeline import LivenessDetector
    det = LivenessDetector()
    frame = live_frames[0].image
    upright = det.predict(frame)
    sideways = det.predict(turn(frame, quarters))
    assert len(upright) == len(sideways) == 1 and upright[0].turned == 0
    assert sideways[0].turned == 90 * (4 - quarters)
    assert sideways[0].label == upright[0].label == "real"
    assert abs(sideways[0].score - upright[0].score) < 0.05
    # taken as it comes, the sideways face is scored far lower: the turn is what saves it
    raw = LivenessDetector(detector=det.detector, upright=False).predict(turn(frame, quarters))
    assert raw[0].turned == 0 and raw[0].score < upright[0].score - 0.2


def test_a_stream_turned_over_is_put_upright_and_upright_ones_are_never_turned(live_frames, replay_frames):
    """BlazeFace's keypoints do not show a face upside down, its score does: each video of 12 frames
    turned over is scored as it is upright (taken as it comes, the live one fails); upright, no frame
    of either is turned."""
    from marginlive.pipeline import LivenessDetector
    det = LivenessDetector()
    for frames, label in ((live_frames, "real"), (replay_frames, "fake")):
        upright = [r for f in frames for r in det.stream().update(f.image)]
        stream = det.stream()
        over = [r for f in frames for r in stream.update(turn(f.image, 2))]
        assert len(over) == len(upright) == len(frames)
        assert {r.turned for r in upright} == {0} and {r.turned for r in over} == {180}
        assert all(abs(a.frame_score - b.frame_score) < 0.05 for a, b in zip(upright, over))
        assert {r.frame_score >= det.threshold for r in over} == {label == "real"}
    raw = LivenessDetector(detector=det.detector, upright=False)
    scores = [r.score for f in live_frames for r in raw.predict(turn(f.image, 2))]
    assert np.mean(np.array(scores) < det.threshold) > 0.5        # as they come, most live frames fail


def test_stream_keeps_the_turn_through_faceless_frames(live_frames):
    from marginlive.detect import create_detector
    seen = []

    def detect(img):
        seen.append(img.shape[:2])
        return det.detect(img)
    det = create_detector("mediapipe")
    up = Upright(detect)
    sideways = turn(live_frames[0].image, 1)
    img, boxes, q = up.find(sideways)
    assert q == 3 and img.shape == live_frames[0].image.shape and boxes
    img, boxes, q = up.find(np.zeros_like(sideways))   # no face: the turn stands
    assert q == 3 and img.shape == live_frames[0].image.shape and not boxes
    assert seen[-1] == live_frames[0].image.shape[:2]


def _flag_rotation(path, degrees_cw: int):
    """Write a display matrix turning the video by ``degrees_cw`` (90 or 270) into its track
    header, as a phone does for a portrait video stored landscape."""
    import struct
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    assert i > 0 and data[i + 4] == 0                      # a version-0 track header
    off = i + 4 + 4 + 20 + 8 + 8                           # version/flags, times/id/duration, reserved, layer..volume
    one, minus = 0x10000, -0x10000
    a, b, c, d = (0, one, minus, 0) if degrees_cw == 90 else (0, minus, one, 0)
    data[off:off + 36] = struct.pack(">9i", a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("degrees", [90, 270])
def test_a_videos_rotation_flag_is_applied(tmp_path, degrees):
    import cv2

    from marginlive.frames import VideoSource
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:10, :20] = 255                                   # a mark in the top-left corner
    path = tmp_path / "phone.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(3):
        w.write(frame)
    w.release()
    _flag_rotation(path, degrees)
    with VideoSource(path) as src:
        got = next(iter(src)).image
    assert got.shape == (64, 48, 3) and (src.width, src.height) == (48, 64)
    want = turn(frame, degrees // 90)
    assert np.abs(got.astype(int) - want).mean() < 10       # turned as the flag says (after mp4v's losses)
