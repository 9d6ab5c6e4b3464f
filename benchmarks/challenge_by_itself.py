"""What the challenge's actions see when nobody is asked for anything.

Every action of the challenge (`marginlive.challenge.actions`) runs over every frame of videos in
which the person was asked for nothing: by default the four videos of ../shared/data/videos, two of
them replays. Each completion is counted and the action started again. An action a replayed video
completes by itself is one it passes without an attacker's help, within the challenge's timeout if
it comes that often. Also the eye closures (the eye aspect ratio below 0.6 of its median), in seconds:
a blink that comes by itself against the deliberate one the blink action asks for. Each video at
every frame, and at every 2nd (15 frames/s from 30: the most a session reads, `serve --max-fps`).

Run: .venv/bin/python benchmarks/challenge_by_itself.py [VIDEO ...]
Writes docs/challenge_by_itself.json and docs/challenge_by_itself.md.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from common import DOCS, SHARED, machine, save_json

VIDEOS = [SHARED / "data" / "videos" / v for v in ("live-1.webm", "live-2.mp4", "replay-1.webm", "replay-2.mp4")]


def by_itself(path: Path, every: int = 1) -> dict:
    """Completions per action, eye closures (s), seconds and frames with a face, of one video read
    at every ``every``-th frame."""
    from marginlive.challenge.actions import all_actions, eyes_open_ratio
    from marginlive.challenge.landmarks import Landmarker
    from marginlive.detect import create_detector
    from marginlive.frames import read_video_frames
    det, lm, actions = create_detector(), Landmarker(), all_actions()
    done, ears, times = {a.name: 0 for a in actions}, [], []
    frames = read_video_frames(path, every=every)
    for f in frames:
        boxes = det.detect(f.image)
        if not boxes:
            continue
        obs = lm.observe(f.image, f.time, {"face", "pose"}, max(boxes, key=lambda b: b.score))
        for a in actions:
            if a.update(obs):
                done[a.name] += 1
                a.reset()
        if obs.face is not None:
            ears.append(eyes_open_ratio(obs.face, obs))
            times.append(f.time)
    lm.close()
    seconds = frames[-1].time - frames[0].time if frames else 0.0
    return {"video": path.name, "seconds": round(seconds, 2),
            "frames_per_s": round(len(frames) / seconds) if seconds > 0 else 0, "frames_with_a_face": len(times),
            "completions": done, "eye_closures_s": closures(ears, times)}


def closures(ears: list, times: list) -> list[float]:
    """Durations (s) of the runs of frames whose eye aspect ratio is below 0.6 of its median."""
    if not ears:
        return []
    shut = np.asarray(ears) < 0.6 * float(np.median(ears))
    out, start = [], None
    for t, s in zip(times, shut):
        if s and start is None:
            start = t
        elif not s and start is not None:
            out.append(round(t - start, 3))
            start = None
    return out


def markdown(res) -> str:
    names = list(res["rows"][0]["completions"])
    lines = [f"Written by `benchmarks/challenge_by_itself.py` ({res['machine']}). Every action run over every "
             "frame of videos in which nobody was asked for anything, then over every 2nd (15 frames/s, the most a "
             "session reads: `serve --max-fps`), restarted after each completion "
             "(MediaPipe's landmarks of the most confident BlazeFace face); eye closures: the eye aspect "
             "ratio below 0.6 of its median, in seconds.", "",
             "| video | seconds | frames/s | " + " | ".join(names) + " | eye closures (s) |",
             "|---|---|---|" + "---|" * len(names) + "---|"]
    for r in res["rows"]:
        shut = ", ".join(f"{s:g}" for s in r["eye_closures_s"]) or "-"
        lines.append(f"| {r['video']} | {r['seconds']:g} | {r['frames_per_s']} | "
                     + " | ".join(str(r["completions"][n]) for n in names) + f" | {shut} |")
    return "# The challenge's actions, by themselves\n\n" + "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", nargs="*", type=Path, default=VIDEOS)
    a = ap.parse_args()
    missing = [str(v) for v in a.videos if not v.is_file()]
    if missing:
        raise SystemExit(f"no such video: {', '.join(missing)}")
    rows = []
    for v in a.videos:
        for every in (1, 2):
            rows.append(by_itself(v, every))
            print(rows[-1], file=sys.stderr, flush=True)
    res = {"machine": machine(), "rows": rows}
    save_json("challenge_by_itself", res)
    (DOCS / "challenge_by_itself.md").write_text(markdown(res))


if __name__ == "__main__":
    main()
