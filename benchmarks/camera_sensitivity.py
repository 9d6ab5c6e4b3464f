"""How do another camera's conditions move a model's scores?

Every training group has its own webcam, distance, light and image processing, and a user of the
system has another. For the live and the replay video in ../shared/data/videos (neither trained
on), every 2nd frame is changed as another camera or setting would change it, the face found again
by BlazeFace (as the pipeline would), then scored as a video's stream scores it (in order, averaged
over time where the changed frames are noisy: ``marginlive.denoise``):

- shrink z < 1 (a camera of lower resolution, 320x240 at 0.5): the whole frame shrunk by z
  (area), the same room in fewer pixels. (Shrinking it into a 640x480 frame to mimic a user
  farther away would need a room to fill the rest with; an invented one, the frame's own edge
  repeated or reflected, moved the scores more than the distance did: live frames below the
  threshold 6% with the edge repeated and 56% reflected, at 0.6. So that is not measured.)
- zoom z > 1 (a user closer to the camera): a window of 1/z of the frame around the face,
  resized back to 640x480 (bilinear). This also softens the frame by z, as no closer camera would;
- close-up z (a user close to the camera, without that softening): a window of the frame's
  aspect around the face, its shorter side the face's width over z, cut at the frame's own
  resolution (not resized: the model's crops are resampled to a fixed size anyway). A session
  asks the user to move back above 0.7 (`challenge/session.py`); a video file is scored as it is;
- blur z (the softening alone, the face at its own size): the frame shrunk by 1/z (area) and
  resized back (bilinear), so a zoom's row can be read against the blur at the same factor;
- mirror: left and right swapped (a selfie-mirroring camera or app), scored as it comes and as
  `LivenessDetector(mirrored=True)` scores it (each crop flipped back);
- light and colour: gamma, brightness, contrast, white balance (red and blue gains);
- sensor noise: Gaussian noise of a standard deviation in levels, independent per pixel and
  channel (a small sensor in dim light), also after the web page's JPEG 95;
- grain z: that noise as a camera's demosaicing and noise reduction leave it, spread over a few
  pixels: blurred by a Gaussian of sigma 1.5 px, then scaled to a standard deviation of z levels;
- sharpening: an unsharp mask (many webcams sharpen);
- grayscale: the frame's grey levels in all three channels (an infrared or monochrome camera);
  a session counts no such frame and asks for a colour camera (`SessionConfig.grayscale_level`);
- high resolution z (a camera of z times the pixels, 1920x1440 at 3): the frame upscaled by z
  (bicubic), then sensor noise of 4 or 8 levels per pixel at that scale.

Reports per model, video and setting: faces found, median face width, the share of live frames
below the model's threshold (genuine users turned away) or of replay frames at or above it
(attacks let through), the mean P(real), and what an authentication session's passive step
decides on those frames (passed, asked for more actions, rejected or undecided, and after how many
seconds). Writes docs/camera_sensitivity.md and .json.

Run: .venv/bin/python benchmarks/camera_sensitivity.py [MODEL.onnx ...] (default: the shipped one)
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from common import DOCS, jpeg_round_trip, machine, passive_outcome, save_json, video_faces
from marginlive.challenge.session import SessionConfig

# (kind, amount): see the module's docstring
SETTINGS = [("shrink", 0.5), ("shrink", 0.6), ("shrink", 0.8), ("zoom", 1.0), ("zoom", 1.25), ("zoom", 1.5),
            ("zoom", 1.75), ("zoom", 2.0), ("close-up", 0.6), ("close-up", 0.8), ("close-up", 1.0),
            ("blur", 1.5), ("blur", 2.0), ("mirror", 0), ("mirror, told", 0),
            ("gamma", 0.7), ("gamma", 1.4), ("brightness", -40), ("brightness", 40), ("contrast", 0.7),
            ("contrast", 1.3), ("white balance R/B", 1.15), ("white balance R/B", 0.85), ("noise", 3),
            ("noise", 6), ("noise", 10), ("noise + JPEG 95", 6), ("grain", 4), ("grain", 6), ("grain", 10),
            ("grain", 15), ("sharpen", 0.5), ("sharpen", 1.0),
            ("grayscale", 0), ("high resolution, noise 4", 3), ("high resolution, noise 8", 3)]
VIDEOS = (("live", "live-1.webm"), ("replay", "replay-1.webm"))


def label(kind: str, z: float) -> str:
    if kind.startswith("mirror") or kind == "grayscale":
        return kind
    if kind.startswith("high resolution"):
        return kind.replace("resolution", f"resolution {z:g}x")
    return f"noise {z:g} + JPEG 95" if kind == "noise + JPEG 95" else f"{kind} {z:g}"


def change(frame: np.ndarray, box, kind: str, z: float, rng: np.random.Generator) -> np.ndarray:
    """``frame`` as the setting ``kind`` at ``z`` would show it; see the module's docstring."""
    import cv2
    h, w = frame.shape[:2]
    f32 = frame.astype(np.float32)
    if kind == "shrink" and z <= 1:
        from marginlive.evaluation.shifts import low_resolution
        return low_resolution(frame, box, rng, factor=z)
    if kind == "zoom" and z >= 1:
        cw, ch = w / z, h / z
        x0 = float(np.clip((box.x1 + box.x2) / 2 - cw / 2, 0, w - cw))
        y0 = float(np.clip((box.y1 + box.y2) / 2 - ch / 2, 0, h - ch))
        m = np.float32([[z, 0, -x0 * z], [0, z, -y0 * z]])
        return cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR)
    if kind == "close-up":
        from marginlive.evaluation.shifts import close_up_window
        return close_up_window(frame, box, z)
    if kind == "blur":
        small = cv2.resize(frame, (round(w / z), round(h / z)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if kind.startswith("mirror"):
        return np.ascontiguousarray(frame[:, ::-1])
    if kind == "grayscale":
        return cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if kind == "grain":
        from marginlive.evaluation.processing import grain
        return grain(frame, box, rng, sd=z, sigma=1.5)
    if kind.startswith("high resolution"):
        from marginlive.evaluation.shifts import high_resolution
        return high_resolution(frame, box, rng, factor=z, noise=float(kind.rsplit(" ", 1)[1]))
    if kind == "gamma":
        out = 255.0 * (f32 / 255.0) ** z
    elif kind == "brightness":
        out = f32 + z
    elif kind == "contrast":
        out = (f32 - 128.0) * z + 128.0
    elif kind == "white balance R/B":       # BGR: red gain z, blue gain 1/z
        out = f32 * np.float32([1.0 / z, 1.0, z])
    elif kind in ("noise", "noise + JPEG 95"):
        out = f32 + rng.normal(0.0, z, frame.shape)
    elif kind == "sharpen":
        out = cv2.addWeighted(f32, 1.0 + z, cv2.GaussianBlur(f32, (0, 0), 1.0), -z, 0)
    else:
        raise ValueError(f"unknown setting {kind} {z}")
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return jpeg_round_trip(out, 95) if kind.endswith("JPEG 95") else out


FPS = 15.0   # every 2nd frame of a 30 frames/s video, as a session sees it: about the web page's 10 frames/s


class PassiveStep:
    """An authentication session (``challenge.session.Session``, default settings) fed one frame at a
    time at ``FPS`` until its passive step ends. ``outcome``: {"outcome": "passed" (the challenge
    drawn) | "more actions" (the model unsure: more actions drawn, ``SessionConfig.unsure_floor``) |
    "rejected" | "undecided" (no decision yet), "at_s": seconds into the session or None,
    "reason": why it rejected, or while undecided the rule the last frame broke ("" if none)}."""

    def __init__(self, liveness, landmarker):
        from marginlive.challenge.session import Session
        self.session, self.frames = Session(liveness, landmarker=landmarker), 0
        self.outcome = {"outcome": "undecided", "at_s": None, "reason": ""}

    def feed(self, frame: np.ndarray) -> None:
        if self.outcome["at_s"] is not None:
            return
        t = self.frames / FPS
        self.frames += 1
        st = self.session.update(frame, t)
        self.outcome["reason"] = self.session.problem or ""
        outcome = passive_outcome(st)
        if outcome:
            self.outcome = {"outcome": outcome, "at_s": t, "reason": st.reason}


def video_rows(models: dict, video: str, n: int, settings=SETTINGS) -> dict:
    """{model name: {setting label: row}} for every 2nd of the first ``n`` frames of ``video``
    that has a face: per-frame rates, and what a session's passive step decides on the frames.
    Each frame is scored as a video's stream scores it (``LivenessStream``, in order, averaged over
    time where the changed frames are noisy), on the face BlazeFace finds in it; frames the stream
    does not count (a noisy camera's average settling) are left out of the rates."""
    from marginlive.challenge.landmarks import Landmarker
    from marginlive.detect import create_detector
    from marginlive.pipeline import LivenessDetector
    det, landmarker = create_detector(), Landmarker()
    frames = list(zip(*video_faces(video, n)))
    # each model as the pipeline scores a face, and as it does when told the frames are mirrored
    scorers = {name: {told: LivenessDetector(m, det, mirrored=told) for told in (False, True)}
               for name, m in models.items()}
    out = {name: {} for name in models}
    for kind, z in settings:
        rng = np.random.default_rng(0)
        scores, widths = {name: [] for name in models}, []
        told = kind == "mirror, told"
        sessions = {name: PassiveStep(scorers[name][told], landmarker) for name in models}
        streams = {name: scorers[name][told].stream() for name in models}
        for f, box in frames:
            g = change(f, box, kind, z, rng)
            for run in sessions.values():
                run.feed(g)
            faces = det.detect(g)
            if not faces:
                continue
            b = max(faces, key=lambda q: q.score)
            widths.append(b.x2 - b.x1)
            for name, stream in streams.items():
                r = stream.update(g, [b])[0]
                if r.counted:
                    scores[name].append(r.frame_score)
        for name, m in models.items():
            s = np.array(scores[name])
            out[name][label(kind, z)] = {
                "frames": len(frames), "faces": len(widths), "counted": int(len(s)),
                "face_width_px": float(np.median(widths)) if widths else None,
                "below": float(np.mean(s < m.threshold)) if len(s) else None,
                "at_or_above": float(np.mean(s >= m.threshold)) if len(s) else None,
                "mean": float(s.mean()) if len(s) else None,
                "session": sessions[name].outcome}
    return out


def main():
    from marginlive.liveness.runtime import LivenessModel, default_model_path
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=[str(default_model_path())])
    ap.add_argument("--frames", type=int, default=460, help="frames read from each video (every 2nd is scored)")
    a = ap.parse_args()
    models = {Path(p).name: LivenessModel(p) for p in a.models}
    res = {"machine": machine(), "settings": [label(k, z) for k, z in SETTINGS],
           "thresholds": {n: m.threshold for n, m in models.items()},
           "videos": {kind: video_rows(models, name, a.frames) for kind, name in VIDEOS}}
    save_json("camera_sensitivity", res)
    (DOCS / "camera_sensitivity.md").write_text(page(res))


def _pct(r, k):
    return "-" if r[k] is None else f"{100 * r[k]:.0f}%"


def _num(r, k, f="{:.3f}"):
    return "-" if r[k] is None else f.format(r[k])


def _session(r):
    o = r["session"]
    if o["at_s"] is None:
        return f"{o['outcome']} ({o['reason']})" if o.get("reason") else o["outcome"]
    return f"{o['outcome']} at {o['at_s']:.1f} s"


def table_rows(res) -> list[str]:
    """One row per model and setting: the live and the replay video side by side."""
    data, rows = res["videos"], []
    for name in res["thresholds"]:
        for key in res["settings"]:
            live, rep = data["live"][name][key], data["replay"][name][key]
            rows.append(f"| {name} | {key} | {live['faces']}/{live['frames']} | {_num(live, 'face_width_px', '{:.0f}')} | "
                        f"{_pct(live, 'below')} | {_num(live, 'mean')} | {_session(live)} | {rep['faces']}/{rep['frames']} | "
                        f"{_num(rep, 'face_width_px', '{:.0f}')} | {_pct(rep, 'at_or_above')} | {_num(rep, 'mean')} | "
                        f"{_session(rep)} |")
    return rows


def session_summary(res) -> str:
    """Per model: under how many settings a session passed the live video and rejected the replay."""
    out = []
    for name in res["thresholds"]:
        count = {v: {} for v in ("live", "replay")}
        for v in count:
            for key in res["settings"]:
                o = res["videos"][v][name][key]["session"]["outcome"]
                count[v][o] = count[v].get(o, 0) + 1
        n = len(res["settings"])
        live, rep = count["live"], count["replay"]
        out.append(f"{name}: the live video's session passed under {live.get('passed', 0)} of {n} settings "
                   f"(asked for more actions under {live.get('more actions', 0)}, rejected under "
                   f"{live.get('rejected', 0)}, undecided under {live.get('undecided', 0)}: the video ended first), "
                   f"the replay's was rejected under {rep.get('rejected', 0)} (asked for more actions under "
                   f"{rep.get('more actions', 0)}, passed on to the challenge under {rep.get('passed', 0)}, "
                   f"undecided under {rep.get('undecided', 0)}).")
    return "Sessions: " + " ".join(out)


def page(res) -> str:
    """docs/camera_sensitivity.md from the results: what each setting is, the table, the sessions."""
    return "\n".join([
        "# Camera conditions", "",
        "`benchmarks/camera_sensitivity.py`: every 2nd frame of `videos/live-1.webm` and `videos/replay-1.webm` "
        "(neither in any training set) changed as another camera or setting would change it, the face found again by "
        "BlazeFace, then scored as a video's stream scores it (`LivenessStream`: in order, averaged over time where "
        "the camera is noisy, `marginlive.denoise`; the rates leave out the 7 frames of a noisy video "
        "it does not count while that average settles). shrink z: the whole frame shrunk by z, as a camera of lower resolution would show the "
        "same room (at 0.5, 320x240); zoom z: a window of 1/z of the frame around the face resized back to 640x480 (a "
        "user closer to the camera, but also z times softer than a real close-up); close-up z: a window of the frame's "
        "aspect around the face, its shorter side the face's width over z, at the frame's own resolution (the user "
        "close to the camera without that softening); blur z: the softening of that zoom "
        "alone, the face at its own size; mirror: left and right swapped, scored as it comes and as "
        "`LivenessDetector(mirrored=True)` (`authenticate --mirrored`) scores it, each crop flipped back; gamma, "
        "brightness (levels added), contrast (about level 128), white balance (red gain R/B, blue gain its inverse); "
        "noise: Gaussian, standard deviation in levels, independent per pixel and channel, also followed by the web "
        "page's JPEG 95; grain: that noise blurred by a Gaussian of sigma 1.5 px, then scaled to z levels "
        "(spread over a few pixels, as a camera's demosaicing and noise reduction leave it); sharpen: unsharp mask of amount z (radius 1 px); grayscale: the frame's grey levels in all three "
        "channels (an infrared or monochrome camera); high resolution: the frame enlarged z times (bicubic), then sensor noise per pixel at that size. Faces: frames where BlazeFace found a face "
        "after the change / frames with a face before it. Other models, where given: earlier defaults (previous-*), "
        "named for what they added (docs/generalisation.md). A live session (`challenge/session.py`) counts no frame whose face "
        "box is larger than 0.7 of the frame's shorter side (and asks the user to move back), nor one "
        "without colour (and asks for a colour camera). Session: an "
        "authentication session (`challenge/session.py`, default settings) fed the changed frames at "
        f"{FPS:g} frames/s: its passive step passed (the challenge drawn: 5 usable frames in a row at or "
        "above the threshold), asked for more actions (the model unsure: 10 in a row below it but their mean at "
        f"or above the session's floor of {SessionConfig.unsure_floor:g}, or undecided for {SessionConfig.unsure_after_s:g} s), rejected (10 in a row below the threshold and "
        "their mean below the floor, or a frame rule broken too long) or undecided "
        "when the video ended (with the rule its last frame broke), and when.", "",
        "| model | setting | live faces | live face width px | live frames below threshold | live mean P(real) | "
        "live session | replay faces | replay face width px | replay frames at or above threshold | "
        "replay mean P(real) | replay session |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|", *table_rows(res), "", session_summary(res), ""])


if __name__ == "__main__":
    sys.exit(main())
