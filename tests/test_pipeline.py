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


def test_margin_override_and_validation(tiny_model):
    d = LivenessDetector(model=tiny_model, margin=1.0)
    assert d.margin == 1.0
    with pytest.raises(ValueError):
        LivenessDetector(model=tiny_model, margin=0)
