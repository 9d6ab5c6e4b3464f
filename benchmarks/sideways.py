"""Videos a phone delivers sideways or turned over: are they scored as well as upright ones?

Each of the four videos of ../shared/data/videos (none trained on) is played as filmed, turned by
90 degrees either way (a phone whose recorder wrote no rotation flag, or a decoder that ignored it)
and turned over (a camera mounted the wrong way up), through a `LivenessDetector` stream that turns
frames upright (`marginlive.orientation`, the default: from the face's keypoints, and from BlazeFace's
score for a turn over) and through one that scores them as they come. Per video,
turn and mode: frames with a face, the share of live frames below the threshold (live users turned
away) or of replay frames at or above it (attacks let through), and the video's verdict: real when
most of its frames are at or above the threshold. Writes docs/sideways.md and .json.

Run: .venv/bin/python benchmarks/sideways.py [--frames 300] [--every 3]
"""
import argparse
import sys

import numpy as np
from common import DOCS, SHARED, machine, save_json

VIDEOS = (("live-1.webm", "live"), ("replay-1.webm", "replay"), ("live-2.mp4", "live"), ("replay-2.mp4", "replay"))
TURNS = ((0, "as filmed"), (1, "turned 90 clockwise"), (3, "turned 90 counter-clockwise"), (2, "turned over"))


def video_scores(det, path, quarters: int, n: int, every: int) -> list[float]:
    """P(real) of the largest face in every ``every``-th of the first ``n`` frames, turned."""
    from marginlive.frames import VideoSource
    from marginlive.orientation import turn
    stream, out = det.stream(), []
    with VideoSource(path, max_frames=n) as src:
        for f in src:
            if f.index % every:
                continue
            results = stream.update(turn(f.image, quarters))
            if results:
                out.append(max(results, key=lambda r: r.box.area).frame_score)
    return out


def main():
    from marginlive.detect import create_detector
    from marginlive.pipeline import LivenessDetector
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300, help="frames read from each video")
    ap.add_argument("--every", type=int, default=3, help="score every n-th frame")
    a = ap.parse_args()
    videos = SHARED / "data" / "videos"
    if not videos.is_dir():
        raise SystemExit(f"needs {videos} (../shared)")
    det = create_detector()
    modes = {"turned upright": LivenessDetector(detector=det), "as they come": LivenessDetector(detector=det, upright=False)}
    rows, data = [], []
    for name, kind in VIDEOS:
        for q, turn_name in TURNS:
            for mode, ld in modes.items():
                s = np.array(video_scores(ld, videos / name, q, a.frames, a.every))
                wrong = float(np.mean(s < ld.threshold) if kind == "live" else np.mean(s >= ld.threshold)) if len(s) else None
                verdict = ("real" if np.mean(s >= ld.threshold) > 0.5 else "fake") if len(s) else "no face"
                right = verdict == ("real" if kind == "live" else "fake")
                data.append({"video": name, "kind": kind, "turn": turn_name, "mode": mode, "faces": int(len(s)),
                             "wrong_frames": wrong, "verdict": verdict, "right": right})
                shown = "-" if wrong is None else f"{100 * wrong:.0f}%"
                rows.append(f"| {name} ({kind}) | {turn_name} | {mode} | {len(s)} | {shown} | "
                            f"{verdict}{'' if right else ' (wrong)'} |")
                print(rows[-1], flush=True)
    save_json("sideways", {"machine": machine(), "frames": a.frames, "every": a.every, "rows": data})
    (DOCS / "sideways.md").write_text("\n".join([
        "# Sideways video", "",
        f"Written by `benchmarks/sideways.py`: every {a.every}-th of the first {a.frames} frames of each video of "
        "`../shared/data/videos` (none trained on), as filmed, turned by 90 degrees (a phone whose recorder wrote no "
        "rotation flag) and turned over (a camera mounted the wrong way up), scored by the shipped model through a "
        "`LivenessDetector` stream that turns frames upright (`marginlive.orientation`, the default: from the face's "
        "keypoints, and from BlazeFace's score for a turn over) and through one that takes them as they come. "
        "Wrong frames: live frames below the threshold, replay frames at or above it. Verdict: real when most "
        "frames are at or above the threshold.", "",
        "| video | turn | frames scored | faces | wrong frames | verdict |", "|---|---|---|---|---|---|", *rows, ""]))


if __name__ == "__main__":
    sys.exit(main())
