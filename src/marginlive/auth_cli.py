"""`marginlive authenticate`: the paper's Figure 8 flow on a webcam or a video file.

Exit status: 0 accepted, 1 rejected (like grep: a verdict, not an error), >1 errors.
"""
from __future__ import annotations

from pathlib import Path

import cv2

from .challenge.session import ACCEPTED, CHALLENGE, REJECTED, Session, SessionConfig
from ._util import emit_json
from .detect_cli import _VideoWriter, output_path
from .errors import InputError
from .frames import VideoSource
from .identity.gallery import check_name
from .render import GREEN, RED, banner, draw_results


def overlay(frame, session: Session, status):
    """Banner lines as in Figure 8: progress so far, then the current instruction or result."""
    img = draw_results(frame, [status.face] if status.face else [])
    lines = []
    events = {e["event"] for e in session.log}
    if "step 1 passed" in events:
        lines.append("step 1 passed (liveness)")
    elif session.more_actions:
        lines.append("liveness unsure: more actions")
    if "step 2 passed" in events:
        lines.append("step 2 passed (action)")
    if status.state == CHALLENGE:
        lines.append(f"{status.step}/{status.steps}: {status.instruction}")
    else:
        lines.append(status.instruction)
    colour = GREEN if status.state == ACCEPTED else RED if status.state == REJECTED else (60, 60, 60)
    return banner(img, lines, colour)


def run_authenticate(a) -> int:
    """``authenticate VIDEO | --camera N``: one session over the frames; exit 0 accepted, 1 rejected."""
    if (a.camera is None) == (a.video is None):
        raise InputError("give a video file or --camera N")
    if a.challenges < 1:
        raise InputError("--challenges must be >= 1")
    if a.enroll is not None:
        check_name(a.enroll)
    name = f"camera-{a.camera}" if a.camera is not None else a.video
    out = output_path(a.save, name, "video")   # checked before the models load and frames are read
    session = _session(a)
    src = VideoSource(camera=a.camera) if a.camera is not None else VideoSource(a.video)
    status = None
    try:
        status = _run(session, src, a, out)
    except InputError:
        if session.t0 is None:      # no frame was read: the source itself is bad
            raise
        status = session.finish(0.0, _ended(a))
    enrolled = a.enroll if a.enroll is not None and status.state == ACCEPTED else None
    if a.json:
        emit_json({"verdict": status.state, "reason": status.reason, "identity": status.identity,
                   "log": session.log, **({"enrolled": enrolled} if a.enroll is not None else {})})
    else:
        for e in session.log:
            print(f"{e['t']:7.2f}s  {e['event']}" + "".join(f"  {k}={v}" for k, v in e.items()
                                                         if k not in ("t", "event", "state")))
        print(f"enrolled {enrolled}: {session.decision.probes} faces" if enrolled else status.instruction)
    return 0 if status.state == ACCEPTED else 1


def _session(a) -> Session:
    """The session the options describe: the detector, the challenge and, with --gallery, who it is;
    with --enroll, its best faces enrol once it passes (``recognise.session_enrolment``)."""
    from .pipeline import LivenessDetector
    det = LivenessDetector(model=a.model, detector=a.detector, detector_model=a.detector_model,
                           margin=a.margin, threshold=a.threshold, mirrored=a.mirrored)
    from .identity.gallery import open_gallery
    from .identity.recognise import Recognizer, session_enrolment
    identify = None
    if a.enroll is not None:
        identify = session_enrolment(Recognizer(open_gallery(a.gallery)), a.enroll)
    elif a.gallery:
        # who it is needs someone enrolled: a mistyped gallery path is named, not made empty
        identify = Recognizer(open_gallery(a.gallery, existing=True)).identify_faces
    cfg = SessionConfig(n_challenges=a.challenges, challenge_timeout_s=a.challenge_timeout,
                        unsure_floor=a.unsure_floor, mirrored=a.mirrored,
                        actions=tuple(a.actions) if a.actions else None, require_identity=identify is not None)
    return Session(det, cfg, identify=identify)


def _run(session: Session, src: VideoSource, a, out: Path | None):
    """Feeds the source's frames to the session until it decides (a camera) or the frames end (a
    video, the session then finished); each state change as a JSON line with --json, the overlay
    shown and/or saved to ``out`` where asked. Returns the last status."""
    status, last_state, t = None, None, 0.0
    with src, _VideoWriter(out, src.fps) as writer:
        for frame in src:
            status, t = session.update(frame.image, frame.time), frame.time
            if a.json and status.state != last_state:
                emit_json({"frame": frame.index, "time": round(frame.time, 3), **status.to_dict()})
            last_state = status.state
            if writer.active or a.show:
                vis = overlay(session.stream.frame, session, status)
                writer.write(vis)
                if a.show:
                    cv2.imshow("marginlive authenticate", vis)
                    if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                        break
            if session.done and a.camera is not None:
                break
        if not session.done:
            status = session.finish(t, _ended(a))
    return status


def _ended(a) -> str:
    """Why a session that ran out of frames was rejected."""
    return "camera stopped before a decision" if a.camera is not None else "the video ended before a decision"
