"""Several shifts at once (``evaluation.compound``): one per stage, in the order light meets them."""
import numpy as np
import pytest
from conftest import need_shared

from marginlive.evaluation.compound import Compound, room_light_and_camera
from marginlive.types import FaceBox

BOX = FaceBox(10, 10, 30, 30)


def _adds(k):
    return lambda f, b, r, o: f + k


def test_one_shift_of_each_stage_in_order():
    doubles = ("double", lambda f, b, r, o: f * 2)
    shift = Compound(([("add 1", _adds(1))], [doubles]))
    out = shift(np.full((4, 4, 3), 3, np.int64), BOX, np.random.default_rng(0))
    assert (out == 8).all()                      # (3 + 1) * 2: the room's stage before the light's
    assert shift.last == ("add 1", "double")


def test_every_choice_of_a_stage_is_drawn_and_other_reaches_the_shifts():
    seen = set()
    shift = Compound(([("a", _adds(1)), ("b", _adds(2)), ("c", lambda f, b, r, o: o)],))
    other = np.full((2, 2, 3), 9)
    rng = np.random.default_rng(1)
    for _ in range(60):
        out = shift(np.zeros((2, 2, 3), np.int64), BOX, rng, other)
        seen.add(shift.last)
        if shift.last == ("c",):
            assert (out == 9).all()
    assert seen == {("a",), ("b",), ("c",)}


def test_a_draw_held_for_a_session_keeps_its_room_and_redraws_its_noise():
    def plus_random(f, b, r, o):
        return f + r.integers(1000)
    shift = Compound(([("room", plus_random)], [("noise", plus_random)]), changing=frozenset({"noise"}))
    choice = shift.draw(np.random.default_rng(0))
    zero, rng = np.zeros((1, 1, 3), np.int64), np.random.default_rng(3)
    room_only = Compound(([("room", plus_random)],))
    firsts = [room_only.apply((0,), zero, BOX, rng, seed=7) for _ in range(3)]
    assert all((f == firsts[0]).all() for f in firsts)           # the same room in every frame
    frames = [shift.apply(choice, zero, BOX, rng, seed=7) for _ in range(5)]
    assert len({int(f[0, 0, 0]) for f in frames}) == 5           # the sensor's noise new in each
    assert shift.last == ("room", "noise")
    assert (room_only.apply((0,), zero, BOX, rng, seed=8) != firsts[0]).all()   # another session


@pytest.mark.parametrize("stages", [(), ([],), ([("a", _adds(1))], [])])
def test_a_stage_without_shifts_is_refused(stages):
    with pytest.raises(ValueError, match="at least one shift"):
        Compound(stages)


def test_changing_must_name_shifts_of_the_stages():
    with pytest.raises(ValueError, match="grian"):
        Compound(([("grain", _adds(1))],), changing=frozenset({"grian"}))


def test_a_new_room_light_and_camera_keep_a_live_face_findable():
    from marginlive.detect import create_detector
    from marginlive.evaluation.shifts import PersonCutout
    from marginlive.frames import read_video_frames
    frame = read_video_frames(need_shared("data", "videos", "live-1.webm"), max_frames=1)[0].image
    det = create_detector("mediapipe")
    box = max(det.detect(frame), key=lambda b: b.score)
    cut = PersonCutout()
    try:
        shift, rng, found, drawn = room_light_and_camera(cut), np.random.default_rng(0), 0, set()
        for _ in range(12):
            out = shift(frame, box, rng)
            assert out.dtype == np.uint8 and out.ndim == 3 and not np.array_equal(out, frame)
            found += bool(det.detect(out))
            drawn.add(shift.last)
    finally:
        cut.close()
    assert found >= 10 and len(drawn) >= 10      # a new draw of the three nearly every frame
