"""`marginlive calibrate`: the threshold for one deployment's camera, from its genuine users' frames."""
from __future__ import annotations

import sys

import numpy as np

from .._util import emit_json
from ..errors import InputError
from ..frames import VideoSource, expand_paths, grayscale_faces, kind_of, read_image
from .calibrate import CalibrationOptions, calibrate, check_options
from .report import _pct


def _frames(src, every: int):
    """The image, or every ``every``-th frame of the video, at ``src``: one at a time, so a long
    video is never held in memory whole."""
    if kind_of(src) != "video":
        yield read_image(src)
        return
    with VideoSource(src) as v:
        yield from (f.image for f in v if f.index % every == 0)


def face_scores(detector, paths: list[str], every: int, what: str) -> np.ndarray:
    """P(real) of the largest face of every image and of every ``every``-th frame of every video
    in ``paths`` (files or folders); frames without a face are skipped, and grayscale faces,
    which a session does not count either (``SessionConfig.grayscale_level``)."""
    if every < 1:
        raise InputError(f"--every must be >= 1, got {every}")
    out, grey = [], 0
    for src in expand_paths(paths):
        for frame in _frames(src, every):
            faces = detector.predict(frame)
            if not faces:
                continue
            face = max(faces, key=lambda r: r.box.area)
            if grayscale_faces(frame, [face])[0]:
                grey += 1
            else:
                out.append(face.score)
    skipped = f", {grey} grayscale face(s) skipped (a session does not count them)" if grey else ""
    print(f"marginlive calibrate: {len(out)} {what} face(s) from {len(paths)} path(s){skipped}", file=sys.stderr)
    return np.asarray(out, np.float64)


def run_calibrate(a) -> int:
    """`marginlive calibrate`: the threshold that turns away at most ``--target-bpcer`` of the given live
    users' faces (not below ``--floor``; a warning where it would need to be) and what it lets through of
    ``--attacks``, against the model's own threshold; printed, or one JSON line."""
    from ..pipeline import LivenessDetector
    opts = CalibrationOptions(target_bpcer=a.target_bpcer, floor=a.floor)
    det = LivenessDetector(model=a.model, detector=a.detector, detector_model=a.detector_model)
    check_options(opts, det.model.threshold)
    live = face_scores(det, a.live, a.every, "live")
    attacks = face_scores(det, a.attacks, a.every, "attack") if a.attacks else np.zeros(0)
    c = calibrate(live, attacks, det.model.threshold, opts)
    if a.json:
        emit_json({"model": det.model.name, **c.to_dict()})
        return 0
    print(f"model {det.model.name}: live faces turned away {_pct(c.bpcer_model)} at its threshold "
          f"{c.model_threshold:g}, {_pct(c.bpcer)} at {c.threshold:.4f} ({c.live} faces)")
    if c.attacks:
        print(f"attacks let through {_pct(c.apcer_model)} -> {_pct(c.apcer)} ({c.attacks} faces)")
    if c.at_floor:
        print(f"warning: turning away at most {_pct(c.target_bpcer)} of these live faces needs a threshold "
              f"below the floor {c.threshold:g}; the model does not fit this camera: collect its frames "
              "and retrain (marginlive collect, marginlive train --recipe default)", file=sys.stderr)
    print(f"use: --threshold {c.threshold:.4f} (marginlive detect, authenticate, serve)")
    return 0
