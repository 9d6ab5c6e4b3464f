import json

import numpy as np
import pytest

from conftest import _constant_model, as_grey, need_shared
from marginlive.cli import main
from marginlive.errors import InputError
from marginlive.evaluation.calibrate import CalibrationOptions, calibrate, choose_threshold


def test_threshold_turns_away_at_most_the_target_share():
    live = np.linspace(0.2, 1.0, 100)                 # 100 live scores, one every ~0.008
    t, at_floor = choose_threshold(live, 0.9, CalibrationOptions(target_bpcer=0.05, floor=0.1))
    assert not at_floor
    assert np.sum(live < t) == 5 and np.sum(live < np.nextafter(t, 2)) == 6   # the highest such threshold


def test_threshold_never_rises_above_the_models_own():
    live = np.full(50, 0.95)
    assert choose_threshold(live, 0.5) == (0.5, False)


def test_threshold_stops_at_the_floor_and_says_so():
    live = np.linspace(0.0, 0.6, 60)
    t, at_floor = choose_threshold(live, 0.5, CalibrationOptions(target_bpcer=0.02, floor=0.35))
    assert (t, at_floor) == (0.35, True)


def test_calibration_reports_the_trade_on_live_and_attack_faces():
    live = np.concatenate([np.full(90, 0.9), np.full(10, 0.42)])
    attacks = np.array([0.1, 0.2, 0.45, 0.6])
    c = calibrate(live, attacks, 0.5, CalibrationOptions(target_bpcer=0.0))
    assert c.threshold == pytest.approx(0.42) and not c.at_floor
    assert (c.bpcer_model, c.bpcer) == (pytest.approx(0.1), 0.0)
    assert (c.apcer_model, c.apcer) == (0.25, 0.5) and c.attacks == 4


@pytest.mark.parametrize("opts, n, message", [
    (CalibrationOptions(), 10, "at least 30"),
    (CalibrationOptions(target_bpcer=1.5), 100, "target BPCER"),
    (CalibrationOptions(floor=0.7), 100, "floor"),
])
def test_bad_calibration_inputs_are_refused(opts, n, message):
    with pytest.raises(InputError, match=message):
        calibrate(np.full(n, 0.9), [], 0.5, opts)


def test_cli_calibrates_on_a_video_of_a_genuine_user(capsys, tmp_path_factory):
    video = need_shared("data", "videos", "live-1.webm")
    # P(real) = sigmoid(-0.2) = 0.45 for every face: below the model's 0.5, above the floor
    model = _constant_model(tmp_path_factory.mktemp("const") / "low.onnx", -0.2)
    code = main(["calibrate", str(video), "--model", str(model), "--every", "6", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    c = json.loads(out)
    assert c["model_threshold"] == 0.5 and c["bpcer_model"] == 1.0
    assert c["threshold"] == pytest.approx(1 / (1 + np.exp(0.2)), abs=1e-6) and c["bpcer"] == 0.0
    assert c["live"] >= 30 and c["attacks"] == 0 and not c["at_floor"]


@pytest.mark.parametrize("option, message", [(["--target-bpcer", "2"], "target BPCER"), (["--floor", "0.9"], "floor")])
def test_cli_refuses_an_option_out_of_range_before_reading_a_frame(capsys, tmp_path, option, message):
    """Told at once, not after minutes of scoring: the path given does not even exist."""
    code = main(["calibrate", str(tmp_path / "not-read.mp4"), *option])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and "live face(s)" not in err and "not-read" not in err


def test_cli_refuses_too_few_faces(capsys, tmp_path_factory):
    video = need_shared("data", "videos", "live-1.webm")
    code = main(["calibrate", str(video), "--every", "100"])
    _, err = capsys.readouterr()
    assert code != 0 and "calibrating needs at least 30" in err and "Traceback" not in err


def test_cli_skips_grayscale_faces_as_a_session_does(capsys, tmp_path, tmp_path_factory, live_frames):
    import cv2
    model = _constant_model(tmp_path_factory.mktemp("const") / "high.onnx", 2.0)
    for i, f in enumerate(live_frames):
        cv2.imwrite(str(tmp_path / f"grey{i}.png"), as_grey(f.image))
    code = main(["calibrate", str(tmp_path), "--model", str(model)])
    _, err = capsys.readouterr()
    assert code != 0 and "0 live face(s)" in err and "grayscale face(s) skipped" in err


def test_cli_tells_the_trade_and_the_threshold_to_use(capsys, tmp_path_factory):
    """Without --json: what the model turns away and lets through at its threshold and at the new one,
    and the option to pass; a camera only a threshold below the floor would fit is told to retrain."""
    live = need_shared("data", "videos", "live-1.webm")
    replay = need_shared("data", "videos", "replay-1.webm")
    folder = tmp_path_factory.mktemp("const")
    model = _constant_model(folder / "low.onnx", -0.2)           # P 0.4502 for every face
    code = main(["calibrate", str(live), "--attacks", str(replay), "--model", str(model), "--every", "6"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "live faces turned away 100.0% at its threshold 0.5, 0.0% at 0.4502" in out
    assert "attacks let through 0.0% -> 100.0% (77 faces)" in out
    assert out.splitlines()[-1].startswith("use: --threshold 0.4502 ")
    hopeless = _constant_model(folder / "lowest.onnx", -6.0)     # P 0.0025: below any floor
    code = main(["calibrate", str(live), "--model", str(hopeless), "--every", "6"])
    out, err = capsys.readouterr()
    assert code == 0 and "the model does not fit this camera" in err and "use: --threshold" in out
