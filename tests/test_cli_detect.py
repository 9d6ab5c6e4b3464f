import json

import cv2
import numpy as np

from conftest import as_grey, blank, need_shared
from marginlive.cli import main


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_video_annotated_and_json(capsys, tmp_path, tiny_model):
    video = need_shared("data", "videos", "replay-1.webm")
    out = tmp_path / "out.mp4"
    code, stdout, err = run(capsys, "detect", video, "--model", tiny_model, "--save", out, "--json",
                            "--max-frames", "40")
    assert code == 0, err
    *lines, verdict = [json.loads(l) for l in stdout.splitlines()]
    assert len(lines) >= 35 and {"frame", "time", "box", "score", "label", "grayscale"} <= set(lines[0])
    assert not any(l["grayscale"] for l in lines)
    assert lines[0]["label"] == "pending" and lines[-1]["label"] in ("real", "fake")
    # the video's decision on its one face: over every frame it was seen in, as the text line gives it
    scores = np.array([l["frame_score"] for l in lines])
    assert verdict == {"source": str(video), "track": 1, "verdict": "real" if scores.mean() >= 0.5 else "fake",
                       "mean": round(float(scores.mean()), 4), "share": round(float((scores >= 0.5).mean()), 4),
                       "frames": len(lines), "threshold": 0.5}
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 40
    ok, frame = cap.read()
    assert ok and frame.shape == (480, 640, 3)
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_image_with_two_faces_two_results_and_drawn_boxes(capsys, tmp_path, tiny_model, nuaa_real_images):
    s = sorted(nuaa_real_images)
    a, b = (cv2.resize(cv2.imread(str(nuaa_real_images[k][0])), (320, 240)) for k in s[:2])
    img = tmp_path / "two.png"
    cv2.imwrite(str(img), np.hstack([a, b]))
    out = tmp_path / "two.out.png"
    code, stdout, _ = run(capsys, "detect", img, "--model", tiny_model, "--json", "--save", out)
    assert code == 0
    faces = [json.loads(l) for l in stdout.splitlines()]
    assert len(faces) == 2
    drawn = cv2.imread(str(out))
    # boxes are drawn blue (real) or red (fake): pure-colour pixels appear in the output
    blue = ((drawn[..., 0] > 200) & (drawn[..., 1] < 50) & (drawn[..., 2] < 50)).sum()
    red = ((drawn[..., 2] > 200) & (drawn[..., 0] < 50) & (drawn[..., 1] < 50)).sum()
    assert blue + red > 200


def test_missing_path(capsys, tiny_model):
    code, _, err = run(capsys, "detect", "/no/such/file.jpg", "--model", tiny_model)
    assert code == 2 and "no such file" in err and "Traceback" not in err


def test_threshold_outside_zero_one_refused(capsys, tmp_path, tiny_model):
    # 45 typed for 0.45 would otherwise label every face fake without a word
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), blank())
    code, out, err = run(capsys, "detect", p, "--model", tiny_model, "--threshold", "45")
    assert code == 2 and "--threshold is a probability in (0, 1), got 45" in err
    assert out == "" and "Traceback" not in err


def test_not_an_image(capsys, tmp_path, tiny_model):
    p = tmp_path / "x.jpg"
    p.write_text("hello")
    code, _, err = run(capsys, "detect", p, "--model", tiny_model)
    assert code == 2 and "not a readable image" in err


def test_a_picture_opencv_cannot_read_is_one_line_without_its_warning(capfd, tmp_path, tiny_model, monkeypatch):
    """OpenCV writes its own warning on a float TIFF straight to the process's stderr (capfd sees it)."""
    from PIL import Image
    monkeypatch.delenv("OPENCV_LOG_LEVEL", raising=False)
    p = tmp_path / "float.tiff"
    Image.fromarray(np.full((64, 64), 0.5, np.float32)).save(p)
    code = main(["detect", str(p), "--model", str(tiny_model)])
    err = capfd.readouterr().err
    assert code == 2 and err.strip().splitlines() == [f"marginlive detect: error: {p} is not a readable image "
                                                      "(JPEG, PNG, WebP, BMP, TIFF, AVIF or GIF expected)"], err


def test_empty_and_corrupt_video(capsys, tmp_path, tiny_model):
    e = tmp_path / "empty.mp4"
    e.write_bytes(b"")
    code, _, err = run(capsys, "detect", e, "--model", tiny_model)
    assert code == 2 and "empty" in err
    c = tmp_path / "corrupt.mp4"
    c.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    out = tmp_path / "o.mp4"
    code, _, err = run(capsys, "detect", c, "--model", tiny_model, "--save", out)
    assert code == 2 and ("not a readable video" in err or "no decodable frame" in err)
    assert not out.exists()


def test_an_av1_video_is_refused_in_one_line_that_names_its_codec(capfd, tiny_model):
    """tests/data/av1-64px-2-frames.mp4: two frames of FFmpeg's test pattern, 64x64, SVT-AV1 (1.7 kB).
    OpenCV's FFmpeg reads AV1 only through hardware: without the message a user saw a hundred lines of
    FFmpeg's complaints and 'corrupt video'."""
    from pathlib import Path
    video = Path(__file__).parent / "data" / "av1-64px-2-frames.mp4"
    code = main(["detect", str(video), "--model", str(tiny_model)])
    out, err = capfd.readouterr()
    assert code == 2 and "AV1 video" in err and "libx264" in err
    assert len(err.strip().splitlines()) == 1, err


def test_frame_without_face(capsys, tmp_path, tiny_model):
    p = tmp_path / "blank.png"
    cv2.imwrite(str(p), blank())
    code, _, err = run(capsys, "detect", p, "--model", tiny_model)
    assert code == 3 and "no face" in err and "--detector mediapipe-full" in err


def test_bad_model_files(capsys, tmp_path, live_frames):
    img = tmp_path / "f.png"
    cv2.imwrite(str(img), live_frames[0].image)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk")
    code, _, err = run(capsys, "detect", img, "--model", bad)
    assert code == 5 and "not a loadable ONNX" in err
    code, _, err = run(capsys, "detect", img, "--model", tmp_path / "missing.onnx")
    assert code == 5 and "no such model" in err


def test_camera_that_cannot_open(capfd, tiny_model):
    code = main(["detect", "--camera", "97", "--model", str(tiny_model)])
    err = capfd.readouterr().err
    assert code == 4 and "camera 97" in err
    assert len(err.strip().splitlines()) == 1, err   # OpenCV's own complaints not printed before it


def test_folder_with_mixed_content_continues_and_fails_at_end(capsys, tmp_path, tiny_model, live_frames):
    d = tmp_path / "in"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), live_frames[0].image)
    (d / "b.jpg").write_text("broken")
    outdir = tmp_path / "out"
    code, stdout, err = run(capsys, "detect", d, "--model", tiny_model, "--save", outdir)
    assert code == 2 and "b.jpg" in err
    assert (outdir / "a.marginlive.png").exists()
    assert "a.png" in stdout


def test_no_arguments(capsys, tiny_model):
    code, _, err = run(capsys, "detect", "--model", tiny_model)
    assert code == 2 and "give image/video paths" in err


def test_sideways_video_scored_and_saved_upright(capsys, tmp_path, tiny_model):
    """A video stored sideways (no rotation flag): boxes and the saved video are in the upright frame."""
    from marginlive.frames import read_video_frames
    from marginlive.orientation import turn
    frames = read_video_frames(need_shared("data", "videos", "live-1.webm"), every=10, max_frames=8)
    video = tmp_path / "sideways.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (480, 640))
    for f in frames:
        w.write(turn(f.image, 1))
    w.release()
    out = tmp_path / "out.mp4"
    code, stdout, err = run(capsys, "detect", video, "--model", tiny_model, "--save", out, "--json")
    assert code == 0, err
    *lines, verdict = [json.loads(l) for l in stdout.splitlines()]
    assert len(lines) == 8 and all(l["turned"] == 270 for l in lines) and verdict["frames"] == 8
    ok, frame = cv2.VideoCapture(str(out)).read()
    assert ok and frame.shape == (480, 640, 3)   # landscape again, as filmed


def test_grayscale_image_scored_with_a_warning(capsys, tmp_path, tiny_model, live_frames):
    colour = live_frames[0].image
    grey = as_grey(colour)
    cv2.imwrite(str(tmp_path / "colour.jpg"), colour)
    cv2.imwrite(str(tmp_path / "grey.jpg"), grey)
    code, stdout, err = run(capsys, "detect", tmp_path / "grey.jpg", "--model", tiny_model)
    assert code == 0 and stdout.count("grey.jpg") == 1
    assert "grayscale picture" in err and "not reliable" in err
    code, stdout, err = run(capsys, "detect", tmp_path / "colour.jpg", "--model", tiny_model)
    assert code == 0 and "grayscale" not in err
    for name, grey in (("grey.jpg", True), ("colour.jpg", False)):
        code, stdout, _ = run(capsys, "detect", tmp_path / name, "--model", tiny_model, "--json")
        assert code == 0 and [json.loads(l)["grayscale"] for l in stdout.splitlines()] == [grey]


def test_video_summary_judges_each_track_on_all_its_frames(capsys, tiny_model):
    video = need_shared("data", "videos", "replay-1.webm")
    code, stdout, err = run(capsys, "detect", video, "--model", tiny_model, "--max-frames", "30")
    assert code == 0, err
    line = stdout.strip().splitlines()[-1].split("\t")
    assert line[0].endswith("replay-1.webm") and line[1] == "track 1" and line[2] in ("real", "fake")
    assert line[4].endswith("of 30 frames at or above 0.5")


def test_save_names_a_folder_by_its_trailing_slash_and_is_checked_before_any_frame(capsys, tmp_path, tiny_model,
                                                                                  live_frames):
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), live_frames[0].image)
    gif = tmp_path / "b.gif"
    from PIL import Image
    Image.fromarray(live_frames[0].image[..., ::-1]).save(gif)
    code, _, err = run(capsys, "detect", img, gif, "--model", tiny_model, "--save", f"{tmp_path / 'new'}/")
    assert code == 0, err
    # a GIF, which OpenCV does not write, is drawn as PNG
    assert {p.name for p in (tmp_path / "new").iterdir()} == {"a.marginlive.png", "b.marginlive.png"}
    # a video to a file that is no video: refused before a frame is scored (nothing printed, nothing written)
    video = need_shared("data", "videos", "live-1.webm")
    code, stdout, err = run(capsys, "detect", video, "--model", tiny_model, "--save", tmp_path / "o.txt", "--json")
    assert code == 2 and "must end in .mp4" in err and stdout == ""
    code, stdout, err = run(capsys, "detect", img, img, "--model", tiny_model, "--save", img)
    assert code == 2 and "must be a folder" in err and stdout == ""
    for name in ("out", "out.txt"):           # a picture to a file no picture can be: told what to name
        code, stdout, err = run(capsys, "detect", img, "--model", tiny_model, "--save", tmp_path / name)
        assert code == 2 and "name a .jpg or .png file, or a folder (out/)" in err and stdout == ""
        assert not (tmp_path / name).exists()


def test_an_output_where_nothing_can_be_written_is_one_line(capsys, tmp_path, tiny_model, live_frames):
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), live_frames[0].image)
    (tmp_path / "file").write_text("a file where a folder would go")
    code, _, err = run(capsys, "detect", img, "--model", tiny_model, "--save", tmp_path / "file" / "out.png")
    assert code == 2 and "cannot write there" in err and "Traceback" not in err
    (tmp_path / "m.csv").write_text("path,label\na.png,real\n")
    code, _, err = run(capsys, "collect", "--out", tmp_path / "file" / "ds", "--manifest", tmp_path / "m.csv")
    assert code == 2 and "file" in err and "Traceback" not in err


def test_a_noisy_videos_verdict_leaves_out_the_frames_its_average_settles_on(capsys, tmp_path, tiny_model):
    """A noisy camera's first averages are still noisy (marginlive.denoise): the video's verdict, like a
    live stream, does not count them; every frame is still reported."""
    from marginlive.denoise import DenoiseOptions
    from marginlive.frames import read_video_frames
    frames = read_video_frames(need_shared("data", "videos", "live-1.webm"), every=2, max_frames=16)
    rng, video = np.random.default_rng(0), tmp_path / "noisy.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, (640, 480))
    for f in frames:
        w.write(np.clip(f.image + rng.normal(0, 12, f.image.shape), 0, 255).astype(np.uint8))
    w.release()
    code, stdout, err = run(capsys, "detect", video, "--model", tiny_model, "--json")
    assert code == 0, err
    *lines, verdict = [json.loads(l) for l in stdout.splitlines()]
    settling = DenoiseOptions().settle - 1         # the 2nd frame on: averages of 1 .. settle - 1 frames
    counted = [l["frame_score"] for i, l in enumerate(lines) if not 1 <= i <= settling]
    assert len(lines) == 16 and verdict["frames"] == len(counted) == 16 - settling
    assert abs(verdict["mean"] - np.mean(counted)) < 1e-4      # the lines' scores are rounded to 4 places
