"""Scene and camera shifts used to measure a model on rooms and cameras it never saw."""
import numpy as np
from conftest import need_shared

from marginlive.evaluation import shifts
from marginlive.types import FaceBox


def _live_frame():
    """The first frame of a live video and its face box."""
    from marginlive.detect import create_detector
    from marginlive.frames import read_video_frames
    f = read_video_frames(need_shared("data", "videos", "live-1.webm"), max_frames=1)[0].image
    return f, max(create_detector("mediapipe").detect(f), key=lambda b: b.score)


def test_new_room_keeps_the_person_and_replaces_the_room():
    frame, box = _live_frame()
    cut = shifts.PersonCutout()
    try:
        out = shifts.new_room(frame, box, np.random.default_rng(0), None, cut)
        mask = cut(frame)
    finally:
        cut.close()
    face = (slice(int(box.y1), int(box.y2)), slice(int(box.x1), int(box.x2)))
    assert np.abs(out[face].astype(int) - frame[face]).mean() < 6      # the face is the person's
    room = mask < 0.05
    assert room.mean() > 0.2 and np.abs(out[room].astype(int) - frame[room]).mean() > 20


def test_camera_shifts_keep_the_face_findable():
    from marginlive.detect import create_detector
    frame, box = _live_frame()
    rng = np.random.default_rng(0)
    portrait = shifts.portrait_phone(frame, box, rng)
    assert portrait.shape == (960, 540, 3)
    det = create_detector("mediapipe")
    assert det.detect(portrait) and det.detect(shifts.dim_room(frame, box, rng))
    assert shifts.dim_room(frame, box, rng).mean() < frame.mean()
    high = shifts.high_resolution(frame, box, rng)
    assert high.shape == (3 * frame.shape[0], 3 * frame.shape[1], 3) and det.detect(high)
    for _ in range(3):
        low = shifts.low_resolution(frame, box, rng)
        assert 0.3 * frame.shape[1] - 1 <= low.shape[1] <= 0.5 * frame.shape[1] + 1 and det.detect(low)
        assert abs(low.shape[0] / low.shape[1] - frame.shape[0] / frame.shape[1]) < 0.01   # the same picture
        assert abs(float(low.mean()) - float(frame.mean())) < 1.0                            # area-averaged


def test_phone_in_hand_draws_a_bezel_beside_the_face():
    frame = np.full((480, 640, 3), 128, np.uint8)
    box = FaceBox(270, 150, 370, 270)
    out = shifts.phone_in_hand(frame, box, np.random.default_rng(0))
    changed = np.any(out != frame, axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.mean() > 0.02 and ys.min() >= box.y2 - 0.1 * box.h - 1
    assert (out[changed] == 15).all(axis=1).any()   # the black bezel
    assert not changed[int(box.y1):int(box.y2) - 20, int(box.x1):int(box.x2)].any()   # the face untouched


def test_second_person_stands_beside_the_user_who_stays_in_front():
    import cv2

    from marginlive.detect import create_detector
    frame, box = _live_frame()
    other = cv2.imread(str(sorted(need_shared("data", "nuaa-print", "real").rglob("*.jpg"))[0]))
    cut, det = shifts.PersonCutout(), create_detector("mediapipe")
    try:
        found = []
        for seed in range(4):
            out = shifts.second_person(frame, box, np.random.default_rng(seed), other, cut)
            assert out.shape == frame.shape and out.dtype == np.uint8
            face = (slice(int(box.y1), int(box.y2)), slice(int(box.x1), int(box.x2)))
            assert np.abs(out[face].astype(int) - frame[face]).mean() < 6   # the user is in front
            found.append(len(det.detect(out)))
    finally:
        cut.close()
    assert max(found) == 2    # BlazeFace sees both people where the second is in view


def test_close_up_fills_the_frame_with_the_face_at_its_own_sharpness():
    import cv2
    from marginlive.detect import create_detector
    frame, box = _live_frame()
    det, rng = create_detector("mediapipe"), np.random.default_rng(0)
    for _ in range(4):
        out = shifts.close_up(frame, box, rng)
        assert out.shape[0] < frame.shape[0]
        assert abs(out.shape[1] / out.shape[0] - frame.shape[1] / frame.shape[0]) < 0.02   # the camera's aspect
        found = max(det.detect(out), key=lambda b: b.score)
        assert 0.6 < found.w / min(out.shape[:2]) < 1.2
        # cut from the frame, not resampled: the window matches a block of it exactly
        assert cv2.minMaxLoc(cv2.matchTemplate(frame, out, cv2.TM_SQDIFF_NORMED))[0] < 1e-6


def test_off_centre_motion_blur_and_tilt_keep_a_findable_face():
    from marginlive.detect import create_detector
    frame, box = _live_frame()
    det, rng = create_detector("mediapipe"), np.random.default_rng(0)
    for fn in (shifts.off_centre, shifts.motion_blur, shifts.tilted):
        out = fn(frame, box, rng)
        assert out.dtype == np.uint8 and out.ndim == 3
        assert det.detect(out), fn.__name__
    edge = shifts.off_centre(frame, box, np.random.default_rng(1))
    found = max(det.detect(edge), key=lambda b: b.score)
    assert min(found.cx, edge.shape[1] - found.cx) < 0.3 * edge.shape[1]   # the face near a side
    moved = shifts.motion_blur(frame, box, rng)
    assert np.abs(moved.astype(int) - frame).mean() > 1
    assert np.abs(moved.astype(float) - frame).mean() < 20


def test_side_lit_darkens_one_side_of_the_face_and_leaves_the_other():
    frame = np.full((240, 320, 3), 200, np.uint8)
    box = FaceBox(120, 80, 200, 160)
    sides = set()
    for seed in range(6):
        out = shifts.side_lit(frame, box, np.random.default_rng(seed)).astype(int)
        left, right = out[120, 100, 0], out[120, 220, 0]           # beyond each edge of the face
        assert min(left, right) <= 0.6 * 200 + 1 and max(left, right) == 200
        assert 0.3 * 200 - 1 <= min(left, right)
        sides.add(left < right)
    assert sides == {True, False}                                   # either side, by the draw


def test_screen_lit_lights_the_face_bluish_and_leaves_the_room_dark():
    frame = np.full((240, 320, 3), 160, np.uint8)
    box = FaceBox(130, 90, 190, 150)
    out = shifts.screen_lit(frame, box, np.random.default_rng(0)).astype(float)
    face, corner = out[110:130, 150:170].mean((0, 1)), out[:30, :30].mean((0, 1))
    assert face.mean() > 1.8 * corner.mean()                        # the light falls off from the face
    assert corner.mean() < 0.45 * 160                               # the room at a fraction of its light
    assert face[0] > face[2] + 10                                   # blue above red: a screen's white
    assert out.shape == frame.shape and out[115:125, 155:165, 1].std() > 1.5   # a dim sensor's noise


def test_person_masks_without_a_cutout_make_one_for_the_call_alone():
    """Given no cutout, the masks are those a cutout of one's own gives, one per frame in order; given
    one, it is used (and left open for the caller)."""
    frame, _ = _live_frame()
    empty = np.zeros_like(frame)
    cut = shifts.PersonCutout()
    try:
        want = [cut(frame), cut(empty)]
        given = shifts.person_masks(cut, frame, empty)
        assert cut(frame).shape == frame.shape[:2]                        # still open after the call
    finally:
        cut.close()
    made = shifts.person_masks(None, frame, empty)
    for a, b, c in zip(made, want, given):
        assert np.allclose(a, b, atol=1e-5) and np.allclose(c, b, atol=1e-5)
    assert made[0].mean() > 0.1 and made[1].mean() < made[0].mean()       # a person in one, none in the other


def test_backlit_burns_out_the_room_and_leaves_the_user_darker_against_it():
    from marginlive.detect import create_detector
    frame, box = _live_frame()
    cut = shifts.PersonCutout()
    try:
        room = cut(frame) < 0.05
        outs = [shifts.backlit(frame, box, np.random.default_rng(seed), None, cut) for seed in range(6)]
    finally:
        cut.close()
    face = (slice(int(box.y1), int(box.y2)), slice(int(box.x1), int(box.x2)))
    contrast = frame[face].mean() / frame[room].mean()
    for out in outs:
        assert out[room].mean() > max(215, frame[room].mean() + 40)          # the window, near white
        assert out[face].mean() / out[room].mean() < 0.95 * contrast         # the user darker against it
        assert create_detector("mediapipe").detect(out)
