"""Frames per second of detect -> margin -> model on 640x480 frames with one face, by stage.

Target (issue 2): >= 100 frames/s end to end on this 2-core CPU, and the liveness step
(margin crop + model) under 1 ms a face. Writes docs/speed.md (pipeline section) and
docs/bench_pipeline.json. Run: .venv/bin/python benchmarks/bench_pipeline.py
"""
import sys

from common import DOCS, ROOT, SHARED, live_frames, machine, render_block, save_json, timeit, write_section


def main():
    from marginlive.detect import create_detector
    from marginlive.liveness.runtime import LivenessModel, stack_crops, take
    from marginlive.pipeline import LivenessDetector

    frames = live_frames(200)
    model = LivenessModel()
    det = create_detector("mediapipe")
    boxes = {id(f): det.detect(f) for f in frames}
    frames = [f for f in frames if boxes[id(f)]]
    res = {"machine": machine(), "model": model.name, "frames": len(frames)}
    res["detect_blazeface"] = timeit(det.detect, frames)
    caffe = SHARED / "models" / "caffe-ssd-face"
    if caffe.exists():
        res["detect_caffe_ssd"] = timeit(create_detector("caffe-ssd", caffe).detect, frames)
    res["margin_crop"] = timeit(lambda f: model.crops(f, boxes[id(f)][:1]), frames)
    crops = [model.crops(f, boxes[id(f)][:1]) for f in frames]
    res["model_1_face"] = timeit(model.predict, crops)
    res["liveness_step"] = timeit(lambda f: model.predict(model.crops(f, boxes[id(f)][:1])), frames)
    batch8 = [stack_crops([take(c, 0)] * 8) for c in crops[:50]]
    res["model_8_faces_per_face"] = {k: v / 8 for k, v in timeit(model.predict, batch8).items()}
    ld = LivenessDetector(model=model, detector=det)
    res["end_to_end"] = timeit(ld.predict, frames)
    res["end_to_end"]["fps"] = 1e3 / res["end_to_end"]["mean_ms"]
    stream = ld.stream()
    res["end_to_end_tracked"] = timeit(stream.update, frames)
    res["end_to_end_tracked"]["fps"] = 1e3 / res["end_to_end_tracked"]["mean_ms"]
    save_json("bench_pipeline", res)
    rows = [("detect: BlazeFace (default)", "detect_blazeface"), ("detect: Caffe SSD (paper's family)", "detect_caffe_ssd"),
            ("crops (1 face: every input the model takes)", "margin_crop"), ("model (1 face, batch of 1)", "model_1_face"),
            ("liveness step = crop + model (1 face)", "liveness_step"),
            ("model, per face in a batch of 8", "model_8_faces_per_face"),
            ("end to end, single frame (detect + crop + model)", "end_to_end"),
            ("end to end with tracking and smoothing", "end_to_end_tracked")]
    lines = ["## Pipeline (issue 2)", "", f"Machine: {res['machine']}. Model: {res['model']}. "
             f"{res['frames']} frames of 640x480 with one face (`../shared/data/videos/live-1.webm`), decoded "
             "beforehand; one thread for every stage. `benchmarks/bench_pipeline.py`.", "",
             "| stage | mean ms | p50 ms | p95 ms |", "|---|---|---|---|"]
    for label, key in rows:
        if key in res:
            r = res[key]
            lines.append(f"| {label} | {r['mean_ms']:.3f} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} |")
    lines += ["", f"End to end: **{res['end_to_end']['fps']:.0f} frames/s** (target >= 100); liveness step "
              f"**{res['liveness_step']['mean_ms']:.3f} ms** a face (target < 1 ms).", ""]
    text = "\n".join(lines)
    write_section(DOCS / "speed.md", "## Pipeline (issue 2)", text)
    render_block(ROOT / "README.md", "speed", readme_speed(res))
    print(text)


def readme_speed(res) -> str:
    """The README's speed line, from docs/bench_pipeline.json."""
    return (f"On this 2-core CPU, one thread: the liveness step (crops + model) takes "
            f"**{res['liveness_step']['mean_ms']:.1f} ms** a face, and BlazeFace + crops + model run at "
            f"**{res['end_to_end']['fps']:.0f} frames/s** on 640x480 frames ({res['model']}; "
            "`benchmarks/bench_pipeline.py`, `docs/speed.md`).")


if __name__ == "__main__":
    sys.exit(main())
