"""Frames per second with a challenge running: pose + face mesh + liveness on each frame.

Target (issue 5): >= 25 frames/s on this CPU. Writes the challenge section of docs/speed.md.
Run: .venv/bin/python benchmarks/bench_challenge.py
"""
import sys

from common import DOCS, live_frames, machine, save_json, timeit, write_section


def main():
    from marginlive.challenge.landmarks import Landmarker
    from marginlive.pipeline import LivenessDetector
    frames = live_frames(150)
    ld = LivenessDetector()
    stream = ld.stream()
    lm = Landmarker()
    res = {"machine": machine(), "frames": len(frames)}
    res["liveness_tracked"] = timeit(stream.update, frames)
    res["pose"] = timeit(lambda f: lm.observe(f, 0.0, {"pose"}), frames)
    res["face_mesh"] = timeit(lambda f: lm.observe(f, 0.0, {"face"}), frames)
    res["pose_and_mesh_and_liveness"] = timeit(lambda f: (stream.update(f), lm.observe(f, 0.0, {"pose", "face"})), frames)
    res["hand_challenge"] = timeit(lambda f: (stream.update(f), lm.observe(f, 0.0, {"pose"})), frames)
    res["face_challenge"] = timeit(lambda f: (stream.update(f), lm.observe(f, 0.0, {"face"})), frames)
    for k in ("pose_and_mesh_and_liveness", "hand_challenge", "face_challenge"):
        res[k]["fps"] = 1e3 / res[k]["mean_ms"]
    save_json("bench_challenge", res)
    lines = ["## Challenge running (issue 5)", "", f"Machine: {res['machine']}; {res['frames']} frames of "
             "640x480 (`live-1.webm`); MediaPipe pose (model_complexity=1) and face mesh (468 points). "
             "`benchmarks/bench_challenge.py`.", "", "| per frame | mean ms | p95 ms | frames/s |", "|---|---|---|---|"]
    for label, key in (("liveness (detect + crop + model + tracking)", "liveness_tracked"), ("pose", "pose"),
                       ("face mesh", "face_mesh"), ("hand challenge: pose + liveness", "hand_challenge"),
                       ("face challenge: face mesh + liveness", "face_challenge"),
                       ("both landmark models + liveness (worst case)", "pose_and_mesh_and_liveness")):
        r = res[key]
        fps = f"{r['fps']:.0f}" if "fps" in r else ""
        lines.append(f"| {label} | {r['mean_ms']:.1f} | {r['p95_ms']:.1f} | {fps} |")
    lines += ["", "A session runs only the landmark model its current action needs (pose for the hands, face "
              "mesh for blink, head turns, smile and mouth).", ""]
    text = "\n".join(lines)
    write_section(DOCS / "speed.md", "## Challenge running (issue 5)", text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
