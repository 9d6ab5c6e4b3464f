import numpy as np
import pytest

from challenge_fakes import face, obs, pose
from marginlive.challenge.actions import (ACTION_NAMES, Blink, OpenMouth, RaiseHand, Smile, TurnHead,
                                          make_action)
from marginlive.challenge.landmarks import Observation


def feed(action, seq):
    return [action.update(obs(t=i * 0.1, **o)) for i, o in enumerate(seq)]


def test_raise_right_hand_needs_neutral_then_raised():
    a = RaiseHand("right")
    assert feed(a, [{"pose": pose()}] * 3 + [{"pose": pose(right_up=True)}] * 3)[-1] is True


def test_raise_hand_photo_with_hand_already_up_never_passes():
    a = RaiseHand("right")
    assert not any(feed(a, [{"pose": pose(right_up=True)}] * 30))


def test_raise_wrong_hand_or_both_does_not_pass():
    assert not any(feed(RaiseHand("right"), [{"pose": pose()}] * 3 + [{"pose": pose(left_up=True)}] * 10))
    assert not any(feed(RaiseHand("right"), [{"pose": pose()}] * 3 + [{"pose": pose(True, True)}] * 10))


def test_mirrored_preview_swaps_sides():
    """A selfie-flipped frame shows the subject's right hand on the image's right, where an
    unmirrored frame shows their left: with mirrored=True the action reads it back."""
    seq = [{"pose": pose()}] * 3 + [{"pose": pose(left_up=True)}] * 3  # image-right wrist up
    assert feed(RaiseHand("right", mirrored=True), seq)[-1] is True
    assert not any(feed(RaiseHand("right", mirrored=False), seq))


def test_invisible_pose_makes_no_progress():
    a = RaiseHand("left")
    assert not any(feed(a, [{"pose": None}] * 5 + [{"pose": pose(visible=False)}] * 5))


def _body(width: int, height: int, rise: float) -> list[Observation]:
    """A body in a ``width`` x ``height`` frame, in pixels: shoulders 320 px apart, 0.1 of the frame
    above its bottom; three frames with the hands down, then three with the subject's right wrist
    ``rise`` shoulder widths above its shoulder."""
    def frame(t, up):
        p = np.zeros((33, 4), np.float32)
        p[:, 3] = 0.9
        cx, sy = width / 2, 0.9 * height
        p[11, :2], p[12, :2] = (cx + 160, sy), (cx - 160, sy)
        p[15, :2] = (cx + 180, height)
        p[16, :2] = (cx - 180, sy - rise * 320 if up else height)
        p[:, :2] /= (width, height)
        return Observation(t, p, None, width, height)
    return [frame(i * 0.1, i >= 3) for i in range(6)]


@pytest.mark.parametrize("size", [(640, 480), (544, 960), (1280, 720), (720, 1280)])
def test_a_hand_raised_as_high_passes_in_every_frame_shape(size):
    """The reach is measured in pixels: a portrait camera asks no higher a hand than a landscape one
    (a rule on normalised coordinates asked 2.4 times as high of a 544x960 phone as of a 640x480 webcam)."""
    a, low = RaiseHand("right"), RaiseHand("right")
    assert [a.update(o) for o in _body(*size, rise=0.45)][-1] is True
    assert not any(low.update(o) for o in _body(*size, rise=0.3))


def test_shoulders_out_of_view_are_told_and_counted():
    a = RaiseHand("right")
    a.update(obs(pose=None))
    assert a.out_of_view and a.view_hint == "step back until your shoulders are in view"
    feed(a, [{"pose": pose(visible=False)}] * 3 + [{"pose": pose()}] * 2)
    assert not a.out_of_view and (a.frames, a.seen) == (6, 2) and a.mostly_out_of_view
    feed(a, [{"pose": pose()}] * 2)
    assert not a.mostly_out_of_view
    a.reset()
    assert (a.frames, a.seen, a.mostly_out_of_view) == (0, 0, False)


def test_face_actions_are_never_out_of_view():
    a = TurnHead("left")
    feed(a, [{"face": None}] * 3)
    assert not a.out_of_view and not a.mostly_out_of_view


def test_blink_open_closed_open():
    a = Blink()      # frames 0.1 s apart: eyes closed for 0.6 s
    seq = [{"face": face(eyes=0.3)}] * 5 + [{"face": face(eyes=0.05)}] * 7 + [{"face": face(eyes=0.3)}] * 2
    assert feed(a, seq)[-1] is True


def test_blinks_that_come_by_themselves_do_not_pass():
    """A replayed video blinks now and then (0.1-0.3 s a blink): open, closed for 0.2 s, open,
    again and again, never a deliberate closure."""
    natural = ([{"face": face(eyes=0.3)}] * 8 + [{"face": face(eyes=0.05)}] * 3) * 5 + [{"face": face(eyes=0.3)}] * 3
    assert not any(feed(Blink(), natural))


def test_blink_still_photo_open_or_closed_never_passes():
    assert not any(feed(Blink(), [{"face": face(eyes=0.3)}] * 30))
    assert not any(feed(Blink(), [{"face": face(eyes=0.05)}] * 30))


@pytest.mark.parametrize("side,yaw", [("left", 0.85), ("right", 0.15)])
def test_turn_head(side, yaw):
    # unmirrored: the subject turning to their left moves the nose toward the image's right
    seq = [{"face": face(yaw=0.5)}] * 3 + [{"face": face(yaw=yaw)}] * 3
    assert feed(TurnHead(side), seq)[-1] is True
    assert not any(feed(TurnHead("right" if side == "left" else "left"), seq))


@pytest.mark.parametrize("side,yaw", [("left", 0.85), ("right", 0.4)])
def test_a_head_that_rests_turned_toward_the_screen_turns_from_there(side, yaw):
    """A camera beside the screen sees the user at rest turned (yaw ratio 0.64): each turn counts
    from there (a rule from facing the camera asked this user to face it first)."""
    seq = [{"face": face(yaw=0.64)}] * 3 + [{"face": face(yaw=yaw)}] * 3
    assert feed(TurnHead(side), seq)[-1] is True
    assert not any(feed(TurnHead(side), [{"face": face(yaw=0.64)}] * 3 + [{"face": face(yaw=0.7)}] * 10))


def test_a_head_that_never_holds_still_is_not_armed():
    swings = [{"face": face(yaw=y)} for y in (0.3, 0.5, 0.7, 0.9) * 5]
    assert not any(feed(TurnHead("left"), swings)) and not any(feed(TurnHead("right"), swings))


def test_turned_head_photo_never_passes():
    assert not any(feed(TurnHead("left"), [{"face": face(yaw=0.9)}] * 30))


def test_open_mouth():
    seq = [{"face": face(mouth=0.05)}] * 3 + [{"face": face(mouth=1.0)}] * 3
    assert feed(OpenMouth(), seq)[-1] is True
    assert not any(feed(OpenMouth(), [{"face": face(mouth=1.0)}] * 30))


def test_a_mouth_that_rests_parted_opens_from_there():
    """A grin or lips apart at rest (ratio 0.28; ``face(mouth=m)`` gives 0.75 m at 640x480) arms the
    action; it then passes once the mouth opens by 0.25 more, not before."""
    grin = [{"face": face(mouth=0.37)}] * 3
    assert feed(OpenMouth(), grin + [{"face": face(mouth=0.8)}] * 3)[-1] is True
    assert not any(feed(OpenMouth(), grin + [{"face": face(mouth=0.6)}] * 10))


def test_a_mouth_held_wide_open_or_never_still_does_not_arm():
    assert not any(feed(OpenMouth(), [{"face": face(mouth=0.6)}] * 3 + [{"face": face(mouth=1.2)}] * 10))
    talking = [{"face": face(mouth=m)} for m in (0.05, 0.3, 0.6, 0.9) * 5]
    assert not any(feed(OpenMouth(), talking))


def test_smile_needs_widening_from_own_neutral():
    seq = [{"face": face(smile=0.40)}] * 4 + [{"face": face(smile=0.50)}] * 3
    assert feed(Smile(), seq)[-1] is True
    assert not any(feed(Smile(), [{"face": face(smile=0.50)}] * 30))  # a smiling photo


def test_a_user_grinning_when_asked_to_smile_is_told_to_relax_first():
    a = Smile()
    grin = [{"face": face(smile=0.46)}] * 5       # the shared webcam group's user who rests in a grin
    assert not any(feed(a, grin)) and not a.armed and a.advice == "relax your mouth first"
    feed(a, [{"face": face(smile=0.36)}] * 3)     # relaxed: armed, the hint gone
    assert a.armed and a.advice == ""
    assert feed(a, [{"face": face(smile=0.46)}] * 3)[-1] is True


def test_action_registry():
    assert set(ACTION_NAMES) >= {"raise_right_hand", "raise_left_hand", "blink", "turn_head_left",
                                 "turn_head_right", "smile", "open_mouth"}
    assert make_action("blink").name == "blink"
    with pytest.raises(ValueError):
        make_action("dance")
