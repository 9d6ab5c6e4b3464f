"""How much does JPEG compression of the camera frame move a model's scores?

The web page sends JPEG frames; the models are trained on lossless crops. For the live and the
replay video in ../shared/data/videos (neither trained on), every 2nd frame is scored raw and
after a JPEG round trip at each quality, with the face box found on the raw frame (so only
the pixels change). Reports the share of live frames below each model's threshold (genuine
users turned away), of replay frames at or above it (attacks let through), and the mean P(real).
Writes docs/jpeg_sensitivity.md and .json.

Run: .venv/bin/python benchmarks/jpeg_sensitivity.py [MODEL.onnx ...]   (default: the shipped model)
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from common import DOCS, live_frames, machine, save_json

QUALITIES = [None, 95, 90, 80, 70]


def scores_at(model, frames, boxes, quality):
    from marginlive.margin import crop_batch
    out = []
    for f, b in zip(frames, boxes):
        if quality is not None:
            ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])
            f = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        out.append(model.predict(crop_batch(f, [b], model.margin, model.size))[0])
    return np.array(out)


def main():
    from marginlive.detect import create_detector
    from marginlive.liveness.runtime import LivenessModel, default_model_path
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=[str(default_model_path())])
    ap.add_argument("--frames", type=int, default=460, help="frames read from each video (every 2nd is scored)")
    a = ap.parse_args()
    det = create_detector("mediapipe")
    videos = {}
    for kind, name in (("live", "live-1.webm"), ("replay", "replay-1.webm")):
        frames, boxes = [], []
        for f in live_frames(a.frames, name)[::2]:
            faces = det.detect(f)
            if faces:
                frames.append(f)
                boxes.append(max(faces, key=lambda b: b.score))
        videos[kind] = (frames, boxes)
    rows, data = [], {}
    for path in a.models:
        m = LivenessModel(path)
        name = Path(path).name
        data[name] = {"threshold": m.threshold, "qualities": {}}
        for q in QUALITIES:
            live = scores_at(m, *videos["live"], q)
            replay = scores_at(m, *videos["replay"], q)
            r = {"live_below": float(np.mean(live < m.threshold)), "replay_at_or_above": float(np.mean(replay >= m.threshold)),
                 "live_mean": float(live.mean()), "replay_mean": float(replay.mean())}
            data[name]["qualities"]["raw" if q is None else str(q)] = r
            rows.append(f"| {name} | {m.threshold:.2f} | {'raw' if q is None else q} | {100 * r['live_below']:.0f}% | "
                        f"{r['live_mean']:.3f} | {100 * r['replay_at_or_above']:.0f}% | {r['replay_mean']:.3f} |")
            print(rows[-1], flush=True)
    n_live, n_rep = len(videos["live"][0]), len(videos["replay"][0])
    save_json("jpeg_sensitivity", {"machine": machine(), "live_frames": n_live, "replay_frames": n_rep, "models": data})
    text = "\n".join([
        "# JPEG sensitivity", "",
        f"`benchmarks/jpeg_sensitivity.py`: {n_live} frames of `videos/live-1.webm` and {n_rep} of `videos/replay-1.webm` "
        "(every 2nd frame with a face; neither video is in any training set), scored raw and after a JPEG round trip "
        "of the whole 640x480 frame at each quality, face boxes from the raw frame. The web page sends JPEG quality 0.95.",
        "", "| model | threshold | JPEG quality | live frames below threshold | live mean P(real) | replay frames at or "
        "above threshold | replay mean P(real) |", "|---|---|---|---|---|---|---|", *rows, ""])
    (DOCS / "jpeg_sensitivity.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
