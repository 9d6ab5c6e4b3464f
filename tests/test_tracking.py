import numpy as np
import pytest

from marginlive.tracking import FaceTracker, TrackVerdict
from marginlive.types import FaceBox


def step(tr, boxes, scores):
    return tr.update(boxes, np.array(scores, np.float32))


def test_pending_until_enough_consistent_frames_then_decided():
    tr = FaceTracker(threshold=0.5, window=10, min_frames=5)
    b = FaceBox(100, 100, 200, 200)
    outs = [step(tr, [b], [0.9])[0] for _ in range(5)]
    assert [o[2] for o in outs[:4]] == ["pending"] * 4
    assert outs[4][2] == "real" and outs[4][3] is True
    assert len({o[0] for o in outs}) == 1  # one track throughout


def test_inconsistent_frames_keep_previous_decision():
    tr = FaceTracker(min_frames=3, window=6)
    b = FaceBox(0, 0, 50, 50)
    for s in (0.1, 0.1, 0.1):
        last = step(tr, [b], [s])[0]
    assert last[2] == "fake"
    tid, mean, label, _ = step(tr, [b], [0.9])[0]  # one odd frame does not flip the decision
    assert label == "fake"


def test_two_faces_get_two_tracks_and_moving_face_keeps_its_id():
    tr = FaceTracker(min_frames=2)
    a, b = FaceBox(0, 0, 100, 100), FaceBox(300, 0, 400, 100)
    r1 = step(tr, [a, b], [0.9, 0.1])
    r2 = step(tr, [FaceBox(300, 5, 400, 105), FaceBox(5, 0, 105, 100)], [0.1, 0.9])
    assert r1[0][0] == r2[1][0] and r1[1][0] == r2[0][0]
    assert r2[1][2] == "real" and r2[0][2] == "fake"


def test_across_a_change_of_frame_size_a_lone_face_keeps_its_track_and_two_faces_do_not():
    tr = FaceTracker(min_frames=2)
    first = step(tr, [FaceBox(220, 140, 420, 380)], [0.9])[0][0]
    # the same face in a frame twice as large: no overlap with its box before, same track
    after = tr.update([FaceBox(440, 280, 840, 760)], np.array([0.9], np.float32), resized=True)
    assert after[0][0] == first and after[0][2] == "real"
    assert step(tr, [FaceBox(10, 10, 60, 60)], [0.9])[0][0] != first        # without a resize: a new face
    tr2 = FaceTracker(min_frames=2)
    ids = {t[0] for t in step(tr2, [FaceBox(0, 0, 100, 100), FaceBox(300, 0, 400, 100)], [0.9, 0.9])}
    moved = tr2.update([FaceBox(0, 0, 100, 100), FaceBox(300, 0, 400, 100)], np.array([0.9, 0.9], np.float32),
                       resized=True)
    assert not ids & {t[0] for t in moved}         # which is which cannot be told: both start afresh


def test_a_face_that_moved_fast_between_two_frames_keeps_its_track_another_face_does_not():
    tr = FaceTracker(min_frames=2)
    first = step(tr, [FaceBox(200, 100, 300, 200)], [0.9])[0][0]
    moved = step(tr, [FaceBox(280, 120, 380, 220)], [0.9])[0][0]       # IoU 0.09: 0.8 of a width away
    assert moved == first
    assert step(tr, [FaceBox(500, 120, 600, 220)], [0.9])[0][0] != first   # two widths away: another face
    tr2 = FaceTracker(min_frames=2)
    first = step(tr2, [FaceBox(200, 100, 300, 200)], [0.9])[0][0]
    assert step(tr2, [FaceBox(240, 80, 420, 260)], [0.9])[0][0] != first   # near, but nearly twice as wide


def test_lost_track_is_forgotten():
    tr = FaceTracker(max_missed=2)
    step(tr, [FaceBox(0, 0, 10, 10)], [0.9])
    for _ in range(3):
        step(tr, [], [])
    assert not tr.tracks


def test_a_fake_decision_can_need_a_longer_run_than_a_real_one():
    tr = FaceTracker(threshold=0.5, window=10, min_frames=3, reject_frames=8)
    b = FaceBox(0, 0, 50, 50)
    labels = [step(tr, [b], [0.9])[0][2] for _ in range(3)]
    assert labels[-1] == "real"                                   # 3 live frames decide real
    dip = [step(tr, [b], [0.1])[0] for _ in range(7)]
    assert [o[2] for o in dip] == ["real"] * 7                    # a 7-frame dip does not end it
    assert step(tr, [b], [0.1])[0][2] == "fake"                   # the 8th low frame does
    fresh = FaceTracker(threshold=0.5, window=10, min_frames=3, reject_frames=8)
    out = [step(fresh, [b], [0.05])[0] for _ in range(8)]
    assert [o[2] for o in out] == ["pending"] * 7 + ["fake"]      # a replay is caught within 8 frames


def test_reject_frames_must_fit_the_window():
    with pytest.raises(ValueError, match="reject_frames"):
        FaceTracker(window=5, min_frames=3, reject_frames=6)
    with pytest.raises(ValueError):
        FaceTracker(window=10, min_frames=5, reject_frames=4)


def test_a_recorded_track_is_judged_on_all_its_frames_not_its_last_window():
    live_then_turns_away = [0.9] * 40 + [0.2] * 10        # the last window low, the video live
    v = TrackVerdict.of(live_then_turns_away, 0.5)
    assert (v.label, v.frames) == ("real", 50) and abs(v.mean - 0.76) < 1e-9 and v.share == 0.8
    assert TrackVerdict.of([0.1, 0.6, 0.2], 0.5).label == "fake"
    assert TrackVerdict.of([0.5], 0.5).label == "real"     # at the threshold counts as real, as per frame


def test_a_track_verdict_needs_a_frame():
    with pytest.raises(ValueError):
        TrackVerdict.of([], 0.5)


def test_frames_not_counted_are_followed_without_their_scores():
    tr = FaceTracker(threshold=0.5, window=10, min_frames=3)
    b = FaceBox(100, 100, 200, 200)
    first = tr.update([b], np.array([0.9]), counted=False)[0]
    assert first[1:] == (pytest.approx(0.9), "pending", False)      # no score yet: this frame's
    for _ in range(3):
        tid, mean, label, _ = tr.update([b], np.array([0.1]), counted=False)[0]
    assert tid == first[0] and label == "pending"                   # uncounted frames decide nothing
    outs = [tr.update([b], np.array([0.1]))[0] for _ in range(3)]
    assert outs[-1][2] == "fake" and outs[-1][1] == pytest.approx(0.1)
