"""What an authentication session decides, per video and camera shift, with and without the unsure floor.

The per-frame tables (docs/collections.md) say how many live frames a model turns away; a user meets a
session (`challenge/session.py`), which passes its passive step on 5 frames in a row at or above the
threshold, rejects on 10 in a row below it, and, with the unsure floor (`SessionConfig.unsure_floor`),
asks for more actions instead of rejecting where those 10 frames' mean P(real) is at or above the floor
(or where the model stays undecided). Every 2nd frame of the four shared videos (no model here saw
them) at 15 frames/s, as filmed and under the camera and room shifts of `marginlive.evaluation.shifts`
(a room, a tilt, a side, a lower resolution drawn once per video, sensor noise, motion and a screen's
light per frame; the room, a second person, the light from one side, a screen's light in a dark room and
a bright window behind the user to the live videos only), and under a camera's own processing
(`marginlive.evaluation.processing`: the background blurred as a video call blurs it, sharpening, tone
mapping, a wide lens, dark corners, a beauty filter, overexposure, a warm and a cool cast drawn once per
video; sensor grain and flicker bands per frame), and under a new room, light and camera at once (eight seeded
draws of `marginlive.evaluation.compound`, to the live videos only), is fed to a session of default settings,
the floor off and at its default. No action is ever seen (the landmarks are left empty): the outcome is
what the passive model decides, at the video's end: rejected, passed (the usual challenge drawn), more
actions (the model unsure), or undecided.

Writes docs/session_outcomes.json and docs/session_outcomes.md.

Run: .venv/bin/python benchmarks/session_outcomes.py [--model default] [--model fast]
"""
import argparse
import functools
import os
import sys

import numpy as np
from common import DOCS, SHARED, machine, passive_outcome, save_json

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from marginlive.challenge.landmarks import Observation  # noqa: E402
from marginlive.challenge.session import REJECTED, Session, SessionConfig  # noqa: E402

FPS = 15.0
VIDEOS = {"live-1.webm": "live", "live-2.mp4": "live", "replay-1.webm": "replay", "replay-2.mp4": "replay"}
FLOORS = {"off": None, "default": SessionConfig.unsure_floor}
COMPOUND_SESSIONS = 8   # live conditions of a new room, light and camera at once


class NoLandmarks:
    """The session's landmarker when no action is to be seen: every observation empty."""

    def observe(self, frame, t, need, box=None):
        return Observation(t, None, None, frame.shape[1], frame.shape[0])


def conditions():
    """{name: (shift function (frame, box, rng, other) or None, applies to replays too, one draw for the
    whole video)}: a room, a tilt, a side, a camera's processing are the same in every frame of a
    session; sensor noise, a moving head and the drifting bands of a flickering light are drawn afresh
    for each frame. ``other``: a frame of the other live video (the second person)."""
    from marginlive.evaluation import processing, shifts
    cutout = shifts.PersonCutout()

    def plain(fn):   # a shift that takes no second frame
        return lambda f, b, r, o: fn(f, b, r)

    return {
        "as filmed": (None, True, True),
        "another room (plain wall)": (lambda f, b, r, o: shifts.new_room(f, b, r, None, cutout), False, True),
        "a phone in the hand": (plain(shifts.phone_in_hand), False, True),
        "two people in the frame": (lambda f, b, r, o: shifts.second_person(f, b, r, o, cutout), False, True),
        "lit from one side": (plain(shifts.side_lit), False, True),
        # the screen's light moves with what it shows; the sensor's noise is new each frame
        "lit only by a screen in a dark room": (plain(shifts.screen_lit), False, False),
        "a bright window behind the user": (lambda f, b, r, o: shifts.backlit(f, b, r, None, cutout), False, True),
        "portrait phone": (plain(shifts.portrait_phone), True, True),
        "dim room, noisy sensor": (plain(shifts.dim_room), True, False),
        "off-centre": (plain(shifts.off_centre), True, True),
        "motion blur": (plain(shifts.motion_blur), True, False),
        "tilted 15-25 degrees": (plain(shifts.tilted), True, True),
        "a camera of 3x the resolution": (plain(shifts.high_resolution), True, False),
        "a camera of a third to half the resolution": (plain(shifts.low_resolution), True, True),
        # a camera's own processing, the same strength all session long
        "background blurred by the camera": (lambda f, b, r, o: processing.background_blurred(f, b, r, None, cutout),
                                             True, True),
        "sharpened by the camera": (plain(processing.sharpened), True, True),
        "tone-mapped (HDR)": (plain(processing.tone_mapped), True, True),
        "a wide-angle lens": (plain(processing.wide_angle), True, True),
        "dark corners (vignetting)": (plain(processing.vignetted), True, True),
        "skin smoothed by a beauty filter": (plain(processing.smoothed), True, True),
        "overexposed (highlights burnt out)": (plain(processing.overexposed), True, True),
        "a warm cast (white balance missed)": (lambda f, b, r, o: processing.white_balanced(f, b, r, warm=True),
                                               True, True),
        "a cool cast (white balance missed)": (lambda f, b, r, o: processing.white_balanced(f, b, r, warm=False),
                                               True, True),
        "sensor grain (noise over 2-4 px)": (plain(processing.grain), True, False),
        "flicker bands (mains light, rolling shutter)": (plain(processing.banded), True, False),
        **compound_conditions(cutout),
    }


def compound_conditions(cutout, n: int = COMPOUND_SESSIONS) -> dict:
    """``n`` live conditions of a new room, light and camera at once (``evaluation.compound``), each a
    seeded draw held for the whole video (a sensor's noise still new in every frame), named by its three."""
    from marginlive.evaluation.compound import room_light_and_camera
    from marginlive.evaluation.shifts import empty_room
    shift, rng, out, rooms = room_light_and_camera(cutout), np.random.default_rng(2026), {}, {}

    def room(o):   # 'another room': the other live video's, its person taken out
        if id(o) not in rooms:
            rooms[id(o)] = empty_room(o, cutout)
        return rooms[id(o)]
    for k in range(n):
        choice = shift.draw(rng)
        out["at once: " + ", ".join(shift.names(choice))] = (
            lambda f, b, r, o, c=choice, k=k: shift.apply(c, f, b, r, seed=k, other=room(o)), False, False)
    return out


@functools.cache   # decoded once per video, not once per condition (the frame is only read)
def other_person(video: str) -> np.ndarray | None:
    """The middle frame of the other live video: the second person beside the user of ``video``."""
    from marginlive.frames import read_video_frames
    others = [v for v, kind in VIDEOS.items() if kind == "live" and v != video]
    if not others:
        return None
    frames = read_video_frames(SHARED / "data" / "videos" / others[0], every=10)
    return frames[len(frames) // 2].image


def shifted_frames(video: str, shift, detector, once: bool) -> list[np.ndarray]:
    """Every 2nd frame of ``video``, shifted (``shift``: None, as filmed) about its best face; with
    ``once`` every frame with the same random draw."""
    from marginlive.frames import read_video_frames
    rng, out = np.random.default_rng(0), []
    other = other_person(video) if shift else None
    for f in read_video_frames(SHARED / "data" / "videos" / video, every=2):
        faces = detector.detect(f.image) if shift else None
        if once:
            rng = np.random.default_rng(0)
        out.append(shift(f.image, max(faces, key=lambda b: b.score), rng, other) if faces else f.image)
    return out


def run_session(liveness, frames, floor) -> dict:
    """One session over ``frames``: {"outcome", "at_s" (its first decision), "rejected_at_s",
    "reason"}."""
    s = Session(liveness, SessionConfig(unsure_floor=floor), landmarker=NoLandmarks())
    first, t = None, 0.0
    for i, frame in enumerate(frames):
        t = i / FPS
        st = s.update(frame, t)
        ended = passive_outcome(st)
        if first is None and ended:
            first = (ended, t)
        if s.done:
            break
    outcome, at = first or ("undecided", None)
    return {"outcome": outcome, "at_s": at, "rejected_at_s": t if s.state == REJECTED else None,
            "reason": s.reason or (s.problem or "")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="default, fast or a .onnx file (repeatable; default: both)")
    a = ap.parse_args()
    from marginlive.detect import create_detector
    from marginlive.pipeline import LivenessDetector
    names = a.model or ["default", "fast"]
    models = {n: LivenessDetector(model=n) for n in names}
    det = create_detector()
    res = {"machine": machine(), "fps": FPS, "floors": FLOORS, "models": names, "sessions": []}
    for cond, (shift, replays, once) in conditions().items():
        for video, kind in VIDEOS.items():
            if kind == "replay" and not replays:
                continue
            frames = shifted_frames(video, shift, det, once)
            for name, model in models.items():
                for floor_name, floor in FLOORS.items():
                    r = run_session(model, frames, floor)
                    res["sessions"].append({"condition": cond, "video": video, "kind": kind, "model": name,
                                            "floor": floor_name, **r})
                    print(cond, video, name, floor_name, r, file=sys.stderr, flush=True)
    res["summary"] = summary(res["sessions"])
    save_json("session_outcomes", res)
    (DOCS / "session_outcomes.md").write_text(page(res))


def summary(sessions) -> list[dict]:
    """Per model, floor and kind (live, replay): how many sessions ended each way."""
    out = {}
    for s in sessions:
        key = (s["model"], s["floor"], s["kind"])
        ended = "rejected" if s["rejected_at_s"] is not None else s["outcome"]
        out.setdefault(key, {}).setdefault(ended, 0)
        out[key][ended] += 1
    return [{"model": m, "floor": f, "kind": k, "sessions": sum(c.values()), **c} for (m, f, k), c in out.items()]


def _cell(s) -> str:
    if s["rejected_at_s"] is not None and s["outcome"] != "rejected":
        return f"{s['outcome']} at {s['at_s']:.1f} s, then rejected at {s['rejected_at_s']:.1f} s: {s['reason']}"
    if s["at_s"] is None:
        return f"undecided ({s['reason']})" if s["reason"] else "undecided"
    return f"{s['outcome']} at {s['at_s']:.1f} s"


def page(res) -> str:
    floors = ", ".join(f"{k} ({'-' if v is None else f'{v:g}'})" for k, v in res["floors"].items())
    lines = ["# Sessions: what a user and a replay meet", "",
             f"Written by `benchmarks/session_outcomes.py` ({res['machine']}): "
             + __doc__.split("\n\n")[1].replace("\n", " ") + f" Floors: {floors}.", "",
             "| model | floor | videos | sessions | rejected | passed | more actions | undecided |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["summary"]:
        lines.append(f"| {r['model']} | {r['floor']} | {r['kind']} | {r['sessions']} | {r.get('rejected', 0)} | "
                     f"{r.get('passed', 0)} | {r.get('more actions', 0)} | {r.get('undecided', 0)} |")
    lines += ["", "| condition | video | model | " + " | ".join(f"floor {k}" for k in res["floors"]) + " |",
              "|---|---|---|" + "---|" * len(res["floors"])]
    by = {}
    for s in res["sessions"]:
        by.setdefault((s["condition"], s["video"], s["model"]), {})[s["floor"]] = s
    for (cond, video, model), row in by.items():
        lines.append(f"| {cond} | {video} | {model} | " + " | ".join(_cell(row[k]) for k in res["floors"]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
