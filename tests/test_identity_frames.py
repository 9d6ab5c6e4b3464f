"""Which of a session's frames may name its person (challenge/identity_frames.py)."""
from challenge_fakes import sharp_frame
from marginlive.challenge.identity_frames import IdentityFrames
from marginlive.types import FaceBox

OVEREXPOSED = "face overexposed: move out of the direct light"   # what an overexposed face is told

BOX = FaceBox(220, 140, 420, 380, 0.9)


def test_a_frame_names_the_person_only_amid_live_frames():
    frames, img = IdentityFrames(keep=5, steady=2), sharp_frame(128)
    for live in [True] * 3 + [False] + [True] * 5:
        frames.take(img, BOX, live)
    # frames 2 and 3 had a frame not scored live among the next two: dropped; 5 and 6 follow it too closely
    assert [b[3] for b in frames.best] == [1, 7, 8, 9]
    assert len(frames.faces()) == 4 and frames.faces()[0][0].shape[2] == 3


def test_at_most_keep_crops_the_best_first():
    frames = IdentityFrames(keep=2, steady=0)
    for value in (128, 60, 128, 60):     # a dim face scores lower than a well-lit one
        frames.take(sharp_frame(value), BOX, True)
    assert [b[3] for b in frames.best] == [1, 3]


def test_faces_below_the_quality_rule_are_never_kept_and_what_they_lacked_is_counted():
    frames = IdentityFrames(keep=5, steady=0)
    assert frames.shortfall() == ""
    for _ in range(3):
        frames.take(sharp_frame(235), BOX, True)
    assert frames.best == [] and frames.unclear == OVEREXPOSED
    assert frames.shortfall() == f"most views: {OVEREXPOSED}"
    frames.take(sharp_frame(128), BOX, True)
    assert len(frames.best) == 1 and frames.unclear is None


def test_the_frame_decided_on_counts_once_in_what_the_faces_lacked():
    frames, dark, bright = IdentityFrames(keep=5, steady=0), sharp_frame(20), sharp_frame(235)
    frames.take(dark, BOX, True)
    frames.take(bright, BOX, True)
    assert frames.for_decision(bright, BOX) == []       # taken and counted already: a tie stays a tie
    assert sum(frames.shortfalls.values()) == 2
    frames.take(bright, BOX, False)                     # not scored live: taken, not counted
    assert frames.for_decision(bright, BOX) == []
    assert frames.shortfalls[OVEREXPOSED] == 2 and sum(frames.shortfalls.values()) == 3
